//! podman drives sangja (issue 7): podman 4.3 with conmon, `--runtime <sangja>`, a busybox image
//! built offline from `/bin/busybox` and loaded with `podman import`.
//!
//! Needs root and Debian's `podman` (4.3, with `conmon`), `busybox-static`, `util-linux` (`unshare`,
//! `script` for a pty) and, for the comparisons, `runc`. `SANGJA_BIN=/usr/sbin/runc` runs the same steps
//! against runc.
//!
//! Every test gets a private podman ([`spec_tests::podman::Podman`]: nothing global is read for
//! configuration or written; see there for the setup and this host's quirks) and stops everything it
//! started on drop, even after a failure.
//!
//! How sangja's errors reach the user: podman passes `--log-format=json --log <rundir>/oci-log` only to
//! runtimes named in `runtime_supports_json` (crun, runc, ...; matched against the `--runtime` name or the
//! base name of its path), and then shows the `msg` of that file.
//! For any other runtime (`--runtime /path/to/sangja`) conmon reads what the runtime wrote to its stderr
//! (a pipe conmon gives it, also the container's stderr when there is no tty; with `-t` the container's
//! output goes to the pty but the runtime's stderr is still that pipe) and sends it to podman over the
//! sync pipe; podman shows it after `Error: <runtime>: ` and classifies it (`no such file or directory` → 127,
//! `permission denied` → 126). sangja, like runc without `--log`, writes a logrus-style line
//! (`time="…" level=error msg="…"`) on stderr, so the real message reaches the user either way; with
//! `sangja` added to `runtime_supports_json` it arrives as cleanly as runc's. Both paths are tested; sangja
//! needed no change for either.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use spec_tests::host;
use spec_tests::podman::{base_name, hard_limit, text, Podman};

fn sangja() -> PathBuf {
    spec_tests::harness::sangja_bin(env!("CARGO_BIN_EXE_sangja"))
}

/// A private podman whose `run` uses sangja.
fn start() -> Podman {
    Podman::start(&sangja())
}

#[test]
fn podman_run_propagates_output_and_exit_code() {
    let p = start();
    let o = p.run(&["--rm"], &["sh", "-c", "echo hi; exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "hi\n");
    let o = p.run(&["--rm"], &["sh", "-c", "echo out; echo err >&2"]);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "out\n");
    assert!(text(&o.stderr).contains("err\n"), "{}", text(&o.stderr));
    // The ulimits of the private containers.conf, and podman's own settings, reached the container.
    let o = p.run(
        &["--rm"],
        &["sh", "-c", "ulimit -n; hostname; echo $container"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], hard_limit("Max open files").to_string());
    assert_eq!(lines[2], "podman");
    assert!(p.containers().is_empty(), "run --rm left containers");
    p.assert_nothing_left();
}

#[test]
fn podman_detached_exec_pause_stop_rm() {
    let p = start();
    // pid 1 exits 7 on SIGTERM, so `stop` needs no SIGKILL and the exit code tells us who stopped it.
    let o = p.run(
        &["-d", "--name", "det"],
        &[
            "sh",
            "-c",
            "trap 'exit 7' TERM; echo up; while :; do sleep 0.1; done",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    p.wait_status("det", "running");

    let o = p.podman(&["exec", "det", "echo", "from exec"]);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "from exec\n");
    let o = p.podman(&["exec", "det", "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    let o = p.podman(&["exec", "det", "ps", "-o", "pid,args"]);
    let ps = text(&o.stdout);
    assert!(
        ps.lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains("trap")),
        "{ps}"
    );
    let o = p.podman(&["logs", "det"]);
    assert_eq!(text(&o.stdout), "up\n");

    assert!(p.podman(&["pause", "det"]).status.success());
    p.wait_status("det", "paused");
    // The v1 freezer where the host has one, else cgroup2's cgroup.freeze.
    let (parent, file, frozen) = match host::v1_hierarchy("freezer") {
        Some(h) => (h.join(p.cgroup()), "freezer.state", "FROZEN\n"),
        None => (
            std::path::Path::new("/sys/fs/cgroup").join(p.cgroup()),
            "cgroup.freeze",
            "1\n",
        ),
    };
    let states: Vec<String> = fs::read_dir(&parent)
        .unwrap_or_else(|e| panic!("{}: {e}", parent.display()))
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("libpod-"))
        .map(|e| fs::read_to_string(e.path().join(file)).unwrap_or_default())
        .collect();
    assert_eq!(states, vec![frozen.to_string()]);
    assert!(p.podman(&["unpause", "det"]).status.success());
    p.wait_status("det", "running");
    let o = p.podman(&["exec", "det", "echo", "resumed"]);
    assert_eq!(text(&o.stdout), "resumed\n");

    let o = p.podman(&["stop", "--time", "10", "det"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    p.wait_status("det", "exited");
    let o = p.podman_quiet(&["inspect", "--format", "{{.State.ExitCode}}", "det"]);
    assert_eq!(
        text(&o.stdout).trim(),
        "7",
        "stopped by SIGTERM, not killed"
    );

    // Started again, killed, removed.
    assert!(p.podman(&["start", "det"]).status.success());
    p.wait_status("det", "running");
    assert!(p.podman(&["kill", "det"]).status.success());
    p.wait_status("det", "exited");
    assert!(p.podman(&["rm", "det"]).status.success());
    assert!(p.containers().is_empty());
    p.assert_nothing_left();
}

#[test]
fn podman_run_it_gets_a_tty() {
    let p = start();
    let bin = sangja();
    // The short sleep lets podman attach before the output: podman 4.3 can lose the first bytes of a
    // very short-lived `-it` container (with runc too).
    let a = p.run_args(
        bin.to_str().unwrap(),
        &["--rm", "-it"],
        &["sh", "-c", "sleep 0.3; tty; exit 4"],
    );
    let (code, out) = p.under_pty(&a);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("/dev/pts/0"), "{out}");

    let o = p.run(&["--rm"], &["tty"]);
    assert_eq!(text(&o.stdout), "not a tty\n");

    let o = p.run(&["-d", "--name", "ttyd"], &["sleep", "1000"]);
    assert!(o.status.success());
    p.wait_status("ttyd", "running");
    let a: Vec<String> = ["exec", "-it", "ttyd", "sh", "-c", "tty; exit 6"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (code, out) = p.under_pty(&a);
    assert_eq!(code, Some(6), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(p
        .podman(&["rm", "--force", "--time", "0", "ttyd"])
        .status
        .success());
    p.assert_nothing_left();
}

/// The message podman shows for a missing `args[0]`, whatever the runtime (runc's words).
const NOT_FOUND: &str = r#"exec: "/nonexistent": stat /nonexistent: no such file or directory"#;

/// stderr with the logrus quoting of `msg="…"` undone (runc, when podman knows it, sends JSON instead).
fn unescape(b: &[u8]) -> String {
    text(b).replace(r#"\""#, "\"")
}

#[test]
fn podman_shows_sangjas_error_from_stderr() {
    let p = start();
    let o = p.run(&["--rm"], &["/nonexistent"]);
    let err = unescape(&o.stderr);
    assert_eq!(o.status.code(), Some(127), "{err}");
    assert!(
        err.contains("create failed: unable to start container process"),
        "{err}"
    );
    assert!(err.contains(NOT_FOUND), "{err}");
    assert!(
        err.contains("OCI runtime attempted to invoke a command that was not found"),
        "{err}"
    );

    let o = p.run(&["--rm"], &["/etc/passwd"]);
    let err = unescape(&o.stderr);
    assert_eq!(o.status.code(), Some(126), "{err}");
    assert!(
        err.contains(r#"exec: "/etc/passwd""#) && err.contains("permission denied"),
        "{err}"
    );

    // Under a tty too (the container's stdio is the pty, the runtime's stderr is still conmon's pipe).
    let bin = sangja();
    let a = p.run_args(bin.to_str().unwrap(), &["--rm", "-it"], &["/nonexistent"]);
    let (code, out) = p.under_pty(&a);
    assert_eq!(code, Some(127), "{out}");
    assert!(
        out.contains("stat /nonexistent: no such file or directory"),
        "{out}"
    );

    // exec: same path through conmon.
    let o = p.run(&["-d", "--name", "e"], &["sleep", "1000"]);
    assert!(o.status.success());
    p.wait_status("e", "running");
    let o = p.podman(&["exec", "e", "/nope"]);
    let err = unescape(&o.stderr);
    assert_eq!(o.status.code(), Some(127), "{err}");
    assert!(
        err.contains(r#"exec: "/nope": stat /nope: no such file or directory"#),
        "{err}"
    );
    assert!(p
        .podman(&["rm", "--force", "--time", "0", "e"])
        .status
        .success());
    assert!(p.containers().is_empty());
    p.assert_nothing_left();
}

/// A config the runtime refuses (here a hard `nofile` limit above the runtime's own, which needs
/// CAP_SYS_RESOURCE: this machine's bounding set lacks it) shows the user sangja's message, naming
/// the limit, and leaves nothing behind.
#[test]
fn podman_shows_sangjas_error_for_a_refused_config() {
    let p = start();
    let hard: u64 = std::fs::read_to_string("/proc/self/limits")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4).map(|v| v.parse().unwrap()))
        .unwrap();
    let ulimit = format!("nofile={}:{}", hard + 1, hard + 1);
    let o = p.run(&["--rm", "--ulimit", &ulimit], &["true"]);
    let err = unescape(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("setrlimit RLIMIT_NOFILE: operation not permitted"),
        "{err}"
    );
    assert!(p.containers().is_empty());
    p.assert_nothing_left();
}

#[test]
fn podman_shows_sangjas_error_from_the_json_log() {
    let bin = sangja();
    let p = Podman::start_with(&bin, &[("sangja", &bin)]);
    let o = p.run_with(Path::new("sangja"), &["--rm"], &["/nonexistent"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(127), "{err}");
    // The whole `msg`, unescaped, between podman's prefix and its classification.
    assert!(
        err.contains(&format!(
            "Error: sangja: {} create failed: unable to start container process: {NOT_FOUND}: \
             OCI runtime attempted to invoke a command that was not found",
            base_name(&bin)
        )),
        "{err}"
    );
    assert!(!err.contains("level=error"), "{err}");
    // By path too: podman matches the base name of the binary.
    let o = p.run(&["--rm"], &["/nonexistent"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(127), "{err}");
    assert!(
        err.contains(NOT_FOUND) && !err.contains("level=error"),
        "{err}"
    );

    let o = p.run_with(
        Path::new("sangja"),
        &["-d", "--name", "j"],
        &["sleep", "1000"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = p.podman(&["exec", "j", "/nope"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(127), "{err}");
    assert!(
        err.contains(r#"unable to start container process: exec: "/nope": stat /nope: no such file or directory"#),
        "{err}"
    );
    assert!(p
        .podman(&["rm", "--force", "--time", "0", "j"])
        .status
        .success());
    p.assert_nothing_left();
}

#[test]
fn podman_with_a_missing_runtime_binary_fails_cleanly() {
    let p = start();
    let o = p.run_with(Path::new("/nonexistent/sangja"), &["--rm"], &["true"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.contains("/nonexistent/sangja"), "{err}");
    assert!(p.containers().is_empty());
    p.assert_nothing_left();
}

/// The same `podman run --rm` steps with runc and sangja give the same exit codes and output (ids,
/// hostnames and the runtime's name aside).
#[test]
fn podman_runs_like_runc() {
    let runc = spec_tests::runc_bin();
    // The reference runtime is part of the test: without it the test fails (as the differential tests).
    assert!(
        runc.exists(),
        "{} not installed (Debian's runc; .ci/run installs it)",
        runc.display()
    );
    let mut p = start();
    p.add_runtime(&runc);
    let cases: &[&[&str]] = &[
        &["sh", "-c", "echo hi; exit 3"],
        &[
            "sh",
            "-c",
            "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status; ulimit -n; ulimit -u; id; umask",
        ],
        &["sh", "-c", "env | grep -v HOSTNAME | sort; ls /dev; cat /proc/self/oom_score_adj"],
        &["sh", "-c", "grep -E '^[0-9]+:(pids|memory|freezer):' /proc/self/cgroup | sed 's/libpod-.*/libpod-ID/'"],
        &["sh", "-c", "cat /proc/self/mountinfo | cut -d' ' -f5 | grep -v '^/sys/fs/cgroup' | sort"],
        &["/nonexistent"],
        &["/etc/passwd"],
        &["/tmp"],
    ];
    let bin = sangja();
    let name = base_name(&bin);
    for args in cases {
        let a = p.run(&["--rm"], args);
        let b = p.run_with(&runc, &["--rm"], args);
        assert_eq!(a.status.code(), b.status.code(), "{args:?}");
        assert_eq!(text(&a.stdout), text(&b.stdout), "{args:?}");
        // The error line names the runtime; compare the rest where runc and sangja agree on wording.
        if b.status.code() == Some(127) {
            let strip = |s: String, n: &str| {
                s.replace(&format!("{n} create failed"), "RT create failed")
                    .replace('\\', "")
            };
            let ea = strip(text(&a.stderr), &name);
            let eb = strip(text(&b.stderr), "runc");
            let core = "RT create failed: unable to start container process: exec";
            assert!(ea.contains(core) && eb.contains(core), "{ea}\n{eb}");
        }
    }
    assert!(p.containers().is_empty());
    p.assert_nothing_left();
}
