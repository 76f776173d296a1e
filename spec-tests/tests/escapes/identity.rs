//! What the container's process holds: its capabilities and its terminal.
//!
//! - CVE-2022-29162: `exec --cap` (and a config without `inheritable`) must not give the process
//!   inheritable capabilities, which a file with inheritable file capabilities would turn into
//!   permitted ones across `execve` of a non-root user's program.
//! - CVE-2025-52565: `/dev/console` is the container's pty, bound by fd onto a file the runtime
//!   created; an image whose `/dev/console` is a symlink to a procfs file never gets the pty (or
//!   anything else) bound there.

use std::fs;
use std::os::unix::fs::symlink;

use serde_json::json;
use spec_tests::console::{self, ConsoleSocket};
use spec_tests::{assert_nothing_left, harness, secs};

/// The `CapInh` line of a process's status, as printed by `grep`.
fn cap_inh(out: &str) -> &str {
    out.lines()
        .find_map(|l| l.strip_prefix("CapInh:"))
        .map_or("missing", str::trim)
}

#[test]
fn cve_2022_29162_no_inheritable_capabilities_unless_configured() {
    let h = harness!();
    let mut b = h.bundle();
    b.remove("/process/capabilities/inheritable");
    b.remove("/process/capabilities/ambient");
    b.args(&["grep", "CapInh", "/proc/self/status"]);
    let out = h.run(&b);
    out.ok();
    assert_eq!(cap_inh(&out.stdout), "0000000000000000", "create:\n{out}");

    b.args(&["sleep", "1000"]);
    let c = h.create_and_start(&b);
    for args in [
        vec!["exec", &c.id, "grep", "CapInh", "/proc/self/status"],
        vec![
            "exec",
            "--cap",
            "CAP_SYS_ADMIN",
            "--cap",
            "CAP_DAC_OVERRIDE",
            &c.id,
            "grep",
            "CapInh",
            "/proc/self/status",
        ],
    ] {
        let out = h.cmd(&args);
        out.ok();
        assert_eq!(cap_inh(&out.stdout), "0000000000000000", "{args:?}:\n{out}");
    }
    h.cmd(&["delete", "--force", &c.id]).ok();

    // An inheritable set the config asks for is granted, as runtime-spec says.
    let mut b = h.bundle();
    // (In the bounding set of runc spec's config, as the kernel requires.)
    b.set("/process/capabilities/inheritable", json!(["CAP_KILL"]));
    b.args(&["grep", "CapInh", "/proc/self/status"]);
    let out = h.run(&b);
    out.ok();
    assert_eq!(cap_inh(&out.stdout), "0000000000000020", "{out}");
}

#[test]
fn cve_2025_52565_dev_console_symlink_in_the_image_is_not_followed() {
    let h = harness!();
    let mut b = h.bundle_private();
    let root = b.rootfs().to_path_buf();
    // The image's own /dev (no tmpfs there), with /dev/console a symlink to a procfs file.
    super::images_own_dev(&mut b, |dest| dest == "/dev");
    fs::create_dir_all(root.join("dev/pts")).unwrap();
    let _ = fs::remove_file(root.join("dev/console"));
    symlink("/proc/sys/kernel/core_pattern", root.join("dev/console")).unwrap();
    b.set("/process/terminal", json!(true));
    b.args(&["sh"]);
    let sock = ConsoleSocket::bind(&h.tempdir("console").join("sock"));
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &["--console-socket", sock.path_str()]);
    // Refused, naming the field and the path (as runc 1.3.3 refuses a symlinked /dev/console).
    out.assert_error("process.terminal: /dev/console in the container is not a regular file");
    assert_nothing_left(&h, &id, &b);
    assert_eq!(
        fs::read_link(root.join("dev/console")).ok(),
        Some("/proc/sys/kernel/core_pattern".into()),
        "the image is untouched"
    );

    // The image's /dev/console a plain file: the pty is bound there, and nowhere else.
    fs::remove_file(root.join("dev/console")).unwrap();
    fs::write(root.join("dev/console"), "").unwrap();
    let sock = ConsoleSocket::bind(&h.tempdir("console").join("sock"));
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &["--console-socket", sock.path_str()]);
    out.ok();
    let mut got = sock.receive(secs(10));
    h.cmd(&["start", &id]).ok();
    let text = console::converse(
        &mut got.master,
        "stat -c 'console %F %t:%T' /dev/console; \
         stat -c 'core_pattern %F %t:%T' /proc/sys/kernel/core_pattern; exit 0\n",
        secs(20),
    );
    let lines = console::tty_lines(&text);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("console character special file 88:")),
        "/dev/console is not the container's pty: {text:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "core_pattern regular empty file 0:0"),
        "something was bound onto core_pattern: {text:?}"
    );
    h.wait_status(&id, "stopped", secs(10));
    h.cmd(&["delete", &id]).ok();
}
