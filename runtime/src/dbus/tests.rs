//! The client against a real bus: a private `dbus-daemon` (Debian's `dbus`), so that
//! authentication, `Hello`, calls, errors and signals are checked against the reference
//! implementation of the protocol, not only against our own encoder.
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

struct Daemon {
    child: Child,
    dir: PathBuf,
    sock: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A session bus of our own, or `None` without `dbus-daemon`.
fn daemon() -> Option<Daemon> {
    let dir = std::env::temp_dir().join(format!("sangja-dbus-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let sock = dir.join("bus");
    let child = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile"])
        .arg(format!("--address=unix:path={}", sock.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let d = Daemon { child, dir, sock };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    Some(d)
}

const DBUS: Call<'static> = Call {
    destination: "org.freedesktop.DBus",
    path: "/org/freedesktop/DBus",
    interface: "org.freedesktop.DBus",
    member: "",
};

fn bus_call(member: &'static str) -> Call<'static> {
    Call { member, ..DBUS }
}

#[test]
fn calls_errors_and_signals_on_a_real_bus() {
    let Some(d) = daemon() else {
        spec_tests::skip!(
            "the D-Bus client against dbus-daemon",
            "no dbus-daemon (apt-get install dbus)"
        );
    };
    let t = Duration::from_secs(10);
    let uid = nix::unistd::geteuid().as_raw();
    let mut bus = Bus::connect(&d.sock, true, uid, t).unwrap_or_else(|e| panic!("connect: {e}"));
    // A call with a string argument and a string answer.
    let s = bus
        .send(bus_call("GetNameOwner"), "s", |e| {
            e.str("org.freedesktop.DBus")
        })
        .unwrap_or_else(|e| panic!("send: {e}"));
    let m = bus
        .reply(s, t)
        .unwrap_or_else(|e| panic!("GetNameOwner: {e}"));
    assert_eq!(m.signature, "s");
    assert_eq!(
        Dec::new(&m.body).str().as_deref(),
        Some("org.freedesktop.DBus")
    );
    // A property through org.freedesktop.DBus.Properties.Get: a variant.
    let get = Call {
        interface: "org.freedesktop.DBus.Properties",
        member: "Get",
        ..DBUS
    };
    let s = bus
        .send(get, "ss", |e| {
            e.str("org.freedesktop.DBus");
            e.str("Features");
        })
        .unwrap_or_else(|e| panic!("send: {e}"));
    let m = bus.reply(s, t).unwrap_or_else(|e| panic!("Get: {e}"));
    assert_eq!(Dec::new(&m.body).sig().as_deref(), Some("as"));
    // An error answer names the error.
    let s = bus
        .send(bus_call("GetNameOwner"), "s", |e| {
            e.str("org.example.Nobody")
        })
        .unwrap_or_else(|e| panic!("send: {e}"));
    match bus.reply(s, t) {
        Err(BusError::Remote { name, .. }) => {
            assert_eq!(name, "org.freedesktop.DBus.Error.NameHasNoOwner")
        }
        other => panic!("want NameHasNoOwner, got {other:?}"),
    }
    // Properties as a(sv) reach the peer intact: a match rule built from them is accepted,
    // and a signal it matches arrives.
    let rule = "type='signal',interface='org.freedesktop.DBus',member='NameOwnerChanged'";
    let s = bus
        .add_match(rule)
        .unwrap_or_else(|e| panic!("AddMatch: {e}"));
    if let Some(s) = s {
        bus.reply(s, t).unwrap_or_else(|e| panic!("AddMatch: {e}"));
    }
    let other = Bus::connect(&d.sock, true, uid, t).unwrap_or_else(|e| panic!("connect: {e}"));
    let sig = bus
        .signal(t, |m| m.member == "NameOwnerChanged")
        .unwrap_or_else(|e| panic!("signal: {e}"));
    assert_eq!(sig.signature, "sss");
    drop(other);
}
