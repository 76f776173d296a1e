//! `run` in the foreground with `terminal: true` and no console socket, from an interactive
//! terminal: sangja proxies its own terminal to the container's pty (raw mode, window size).
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use spec_tests::harness;

/// A pty pair: (master, slave).
fn openpty(rows: u16, cols: u16) -> (OwnedFd, OwnedFd) {
    let (mut m, mut s) = (0, 0);
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: m and s are valid out-pointers, ws a valid winsize; NULL name and termios allowed.
    let r = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two new fds nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) }
}

#[test]
fn foreground_run_with_a_terminal_proxies_the_callers_tty() {
    let h = harness!();
    let mut b = h.bundle();
    b.set("/process/terminal", json!(true));
    b.args(&["sh"]);
    b.write();
    let id = h.id();
    h.track(&id);
    let (master, slave) = openpty(40, 120);
    let slave_fd = slave.as_raw_fd();
    let mut cmd = Command::new(h.bin());
    cmd.arg("--root")
        .arg(h.root())
        .args(["run", "--bundle", b.dir_str(), &id]);
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave.try_clone().unwrap()));
    // SAFETY: only async-signal-safe calls between fork and exec: a new session with the pty's
    // slave as controlling terminal, as an interactive shell would have it.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            libc::ioctl(slave_fd, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn sangja run");
    drop(slave);
    let mut m = File::from(master);
    m.write_all(b"echo hi-$((2+3)); stty size; tty; exit 4\n")
        .unwrap();
    // SAFETY: fcntl on our own fd.
    unsafe { libc::fcntl(m.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let mut buf = [0u8; 4096];
        match m.read(&mut buf) {
            Ok(n) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
        if let Some(st) = child.try_wait().unwrap() {
            // What sangja wrote last may still sit in our pty: drain it.
            std::thread::sleep(Duration::from_millis(50));
            while let Ok(n) = m.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "run did not finish: {}",
            String::from_utf8_lossy(&out)
        );
    };
    let text = String::from_utf8_lossy(&out);
    assert_eq!(status.code(), Some(4), "{text}");
    assert!(text.contains("hi-5"), "{text}");
    assert!(text.contains("40 120"), "window size not mirrored: {text}");
    assert!(
        text.contains("/dev/pts/0"),
        "not the container's pty: {text}"
    );
    let left = h.cmd(&["state", &id]);
    assert_ne!(left.code, 0, "run left the container behind");
}

#[test]
fn foreground_run_with_a_terminal_and_a_console_socket_is_refused() {
    let h = harness!();
    let mut b = h.bundle();
    b.set("/process/terminal", json!(true));
    b.write();
    let id = h.id();
    let out = h.cmd(&[
        "run",
        "--console-socket",
        "/tmp/nonexistent.sock",
        "--bundle",
        b.dir_str(),
        &id,
    ]);
    out.assert_error("cannot use console socket if runc will not detach or allocate tty");
}

/// The container's pty: `ONLCR` off (`docker run -t` and `kubectl logs` would show `\r\n`
/// otherwise) and the slave owned by the process's uid. runc (checked where installed) gives the
/// slave to the uid too, but leaves `ONLCR` to whoever receives the master (its own `run -t`
/// and containerd's shim clear it there); sangja clears it in the container, for every receiver.
#[test]
fn the_pty_has_onlcr_off_and_belongs_to_the_process() {
    let runtimes = spec_tests::sangja_and_runc!();
    for h in &runtimes {
        let mut b = h.bundle();
        b.set("/process/terminal", json!(true));
        b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
        b.args(&[
            "sh",
            "-c",
            "stty -a | tr ' ' '\\n' | grep -x -- '-\\?onlcr'; stat -L -c 'owner=%u' /proc/self/fd/0",
        ]);
        let sock = spec_tests::console::ConsoleSocket::bind(&h.tempdir("console").join("sock"));
        let id = h.id();
        let (out, _) = h.try_create(&b, &id, &["--console-socket", sock.path_str()]);
        out.ok();
        let mut got = sock.receive(spec_tests::secs(10));
        h.cmd(&["start", &id]).ok();
        let text = spec_tests::console::read_until_closed(&mut got.master, spec_tests::secs(10));
        let name = h.bin().display();
        if !name.to_string().ends_with("runc") {
            assert!(text.contains("-onlcr"), "{name}: ONLCR is on: {text:?}");
            assert!(
                !text.contains("\r\n"),
                "{name}: output has \\r\\n: {text:?}"
            );
        }
        assert!(text.contains("owner=1000"), "{name}: pty owner: {text:?}");
        h.wait_status(&id, "stopped", spec_tests::secs(10));
        h.cmd(&["delete", &id]).ok();
    }
}
