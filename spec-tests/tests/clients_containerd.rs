//! containerd drives sangja (issue 7): a private `containerd` (own root, state dir, socket, runc root
//! and fifo dir under a temp dir; no CRI; cgroupfs) runs a busybox image built offline from
//! `/bin/busybox` through `ctr run --runc-binary <sangja>` and the `io.containerd.runc.v2` shim.
//!
//! Needs root and Debian's `containerd` (ctr, containerd-shim-runc-v2), `busybox-static` and
//! `util-linux` (`script`, for a tty). Each test starts its own daemon in its own namespace and stops
//! it on drop, even when the test fails: tasks killed, containers deleted, daemon and shims stopped,
//! mounts under its root unmounted, the namespace's cgroups removed, the temp dir removed.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const IMAGE: &str = "localhost/sangja-busybox:latest";

fn sangja() -> PathBuf {
    spec_tests::harness::sangja_bin(env!("CARGO_BIN_EXE_sangja"))
}

/// A private containerd ([`spec_tests::containerd::Containerd`], no CRI) in its own namespace with
/// the busybox image imported, and the `ctr` helpers of these tests.
struct Ctd(spec_tests::containerd::Containerd);

impl Deref for Ctd {
    type Target = spec_tests::containerd::Containerd;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Ctd {
    fn start() -> Self {
        let c = spec_tests::containerd::Containerd::start(
            "sangja-ct",
            None,
            "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
        );
        c.import_image(IMAGE, &["sh"]);
        Self(c)
    }

    /// `ctr run` flags selecting sangja with runtime root and fifos inside our temp dir.
    fn run_flags(&self, bin: &Path) -> Vec<String> {
        vec![
            "--runc-binary".into(),
            bin.to_str().unwrap().into(),
            "--runc-root".into(),
            self.dir().join("runc").to_str().unwrap().into(),
            "--fifo-dir".into(),
            self.dir().join("fifo").to_str().unwrap().into(),
        ]
    }

    fn run(&self, extra: &[&str], id: &str, args: &[&str]) -> Output {
        let flags = self.run_flags(&sangja());
        let mut a: Vec<&str> = vec!["run"];
        a.extend(extra);
        a.extend(flags.iter().map(String::as_str));
        a.push(IMAGE);
        a.push(id);
        a.extend(args);
        self.ctr(&a)
    }

    /// `ctr ...` under a pty (`script`), so that `-t` has a terminal; returns (exit code, output).
    fn under_pty(&self, args: &[&str]) -> (Option<i32>, String) {
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let mut line = format!(
            "ctr --address {} -n {}",
            quote(self.sock().to_str().unwrap()),
            quote(self.ns())
        );
        for a in self.with_fifo_dir(args) {
            line.push(' ');
            line.push_str(&quote(&a));
        }
        let o = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .current_dir(self.dir())
            .stdin(Stdio::null())
            .output()
            .expect("spawn script (apt-get install bsdutils)");
        let out = format!("{}{}", text(&o.stdout), text(&o.stderr));
        eprintln!("script: {line} -> {:?}\n{out}", o.status.code());
        (o.status.code(), out)
    }

    fn task_status(&self, id: &str) -> String {
        let o = self.ctr_quiet(&["task", "ls"]);
        text(&o.stdout)
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or("")
            .to_string()
    }

    fn wait_status(&self, id: &str, want: &str) {
        let t0 = Instant::now();
        loop {
            let s = self.task_status(id);
            if s == want {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "task {id} status {s:?}, want {want}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_json(&self, id: &str) -> String {
        fs::read_to_string(self.task_dir(id).join("log.json")).unwrap_or_default()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn ctr_run_propagates_output_and_exit_code() {
    let c = Ctd::start();
    let o = c.run(&["--rm"], "hello", &["echo", "hello"]);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "hello\n");
    let o = c.run(&["--rm"], "exit3", &["sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    let o = c.ctr(&["container", "ls", "-q"]);
    assert_eq!(text(&o.stdout).trim(), "", "ctr run --rm left containers");
}

#[test]
fn ctr_run_reports_sangjas_error() {
    let c = Ctd::start();
    let o = c.run(&["--rm"], "nocmd", &["/nonexistent"]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("OCI runtime create failed")
            && err
                .contains(r#"exec: "/nonexistent": stat /nonexistent: no such file or directory"#),
        "{err}"
    );
}

#[test]
fn ctr_run_with_a_missing_binary_fails_cleanly() {
    let c = Ctd::start();
    let flags = c.run_flags(Path::new("/nonexistent/sangja"));
    let mut a: Vec<&str> = vec!["run", "--rm"];
    a.extend(flags.iter().map(String::as_str));
    a.extend([IMAGE, "nobin", "true"]);
    let o = c.ctr(&a);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("/nonexistent/sangja"),
        "{}",
        text(&o.stderr)
    );
    let o = c.ctr(&["container", "ls", "-q"]);
    assert_eq!(text(&o.stdout).trim(), "");
}

#[test]
fn ctr_detached_task_lifecycle() {
    let c = Ctd::start();
    let id = "det";
    let o = c.run(&["-d"], id, &["sleep", "1000"]);
    assert!(o.status.success());
    c.wait_status(id, "RUNNING");

    let o = c.ctr(&["task", "exec", "--exec-id", "e1", id, "ps"]);
    assert!(o.status.success());
    let ps = text(&o.stdout);
    assert!(ps.contains("sleep 1000") && ps.contains(" ps"), "{ps}");
    let o = c.ctr(&["task", "exec", "--exec-id", "e2", id, "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    let o = c.ctr(&["task", "exec", "--exec-id", "e3", id, "/nope"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr)
            .contains("OCI runtime exec failed: exec failed: unable to start container process"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        c.log_json(id).contains(r#""level":"error""#),
        "log.json: {}",
        c.log_json(id)
    );

    let o = c.ctr(&["task", "ps", id]);
    assert!(o.status.success());
    assert_eq!(
        text(&o.stdout).lines().count(),
        2,
        "one process: {}",
        text(&o.stdout)
    );
    let o = c.ctr(&["task", "metrics", id]);
    assert!(o.status.success());
    assert!(
        text(&o.stdout).contains("pids.current"),
        "{}",
        text(&o.stdout)
    );

    assert!(c.ctr(&["task", "pause", id]).status.success());
    c.wait_status(id, "PAUSED");
    assert!(c.ctr(&["task", "resume", id]).status.success());
    c.wait_status(id, "RUNNING");
    let o = c.ctr(&["task", "exec", "--exec-id", "e4", id, "echo", "resumed"]);
    assert_eq!(text(&o.stdout), "resumed\n");

    assert!(c
        .ctr(&["task", "kill", "-s", "SIGKILL", id])
        .status
        .success());
    c.wait_status(id, "STOPPED");
    assert!(c.ctr(&["task", "delete", id]).status.success());
    assert!(c.ctr(&["container", "delete", id]).status.success());
    let o = c.ctr(&["container", "ls", "-q"]);
    assert_eq!(text(&o.stdout).trim(), "");
}

#[test]
fn ctr_run_and_exec_with_a_tty() {
    let c = Ctd::start();
    let flags = c.run_flags(&sangja());
    let mut a: Vec<&str> = vec!["run", "--rm", "-t"];
    a.extend(flags.iter().map(String::as_str));
    a.extend([IMAGE, "tty1", "sh", "-c", "tty; exit 4"]);
    let (code, out) = c.under_pty(&a);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");

    let o = c.run(&["-d"], "tty2", &["sleep", "1000"]);
    assert!(o.status.success());
    let (code, out) = c.under_pty(&[
        "task",
        "exec",
        "-t",
        "--exec-id",
        "t1",
        "tty2",
        "sh",
        "-c",
        "tty; exit 6",
    ]);
    assert_eq!(code, Some(6), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    let o = c.ctr(&["task", "exec", "--exec-id", "t2", "tty2", "tty"]);
    assert_eq!(text(&o.stdout), "not a tty\n");
}
