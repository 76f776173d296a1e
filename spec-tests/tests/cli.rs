//! runc's command-line contract, as clients rely on it: `--log`/`--log-format`, `--version`,
//! `--systemd-cgroup`, console-socket and terminal rules, options after the container id, `kill --all`,
//! frozen cgroups, `delete` of a created container, bad signal forms, and the library example.

use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use spec_tests::leftovers::leftovers;
use spec_tests::{assert_nothing_left, harness, host, secs, Harness};

/// runc's wording (libcontainer/utils), matched by clients.
const NEEDS_CONSOLE_SOCKET: &str =
    "cannot allocate tty if runc will detach without setting console socket";
const CANNOT_USE_CONSOLE_SOCKET: &str =
    "cannot use console socket if runc will not detach or allocate tty";

// ---------------------------------------------------------------------------------------------------------
// Helpers

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an RFC 3339 date-time (`2024-05-01T12:34:56.789Z`, `...+02:00`) into Unix seconds; `None` if it
/// is not one.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |acc, c| acc * 10 + i64::from(c - b'0')))
    };
    let sep = |at: usize, c: &[u8]| b.get(at).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        i += 1 + digits;
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b":") => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset)
}

#[track_caller]
fn assert_recent_rfc3339(s: &str) {
    let t = parse_rfc3339(s).unwrap_or_else(|| panic!("not an RFC 3339 date-time: {s:?}"));
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs(),
    )
    .expect("seconds fit i64");
    assert!(
        (now - t).abs() <= 120,
        "log time {s:?} is {} s away from now",
        now - t
    );
}

#[test]
fn rfc3339_parser() {
    assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(
        parse_rfc3339("2024-02-29T12:00:00.123456789Z"),
        Some(1_709_208_000)
    );
    assert_eq!(
        parse_rfc3339("2024-02-29T14:00:00+02:00"),
        Some(1_709_208_000)
    );
    for bad in [
        "",
        "2024-02-29",
        "2024-02-29 12:00:00Z",
        "2024-02-29T12:00:00",
        "2024-02-29T12:00:00.Z",
        "2024-13-01T00:00:00Z",
        "2024-02-29T12:00:00+0200",
        "2024-02-29T12:00:00Zjunk",
    ] {
        assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
    }
}

/// Non-empty lines of a file.
fn file_lines(p: &Path) -> Vec<String> {
    fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

/// Checks one `--log-format json` line: exactly the keys `level`, `msg`, `time` in that order, level
/// `error`, time RFC 3339 and recent. Returns the message.
#[track_caller]
fn check_json_error_line(line: &str) -> String {
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line:?}"));
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("log line is not an object: {line:?}"));
    assert_eq!(obj.len(), 3, "keys are exactly level, msg, time: {line:?}");
    // serde_json's map is sorted, so check the order on the text: re-serialising the three fields in
    // order must give the line back.
    let level = obj.get("level").and_then(Value::as_str).expect("level");
    let msg = obj.get("msg").and_then(Value::as_str).expect("msg");
    let time = obj.get("time").and_then(Value::as_str).expect("time");
    let rebuilt = format!(
        "{{\"level\":{},\"msg\":{},\"time\":{}}}",
        Value::from(level),
        Value::from(msg),
        Value::from(time)
    );
    assert_eq!(line, rebuilt, "keys in the order level, msg, time");
    assert_eq!(level, "error", "{line:?}");
    assert_recent_rfc3339(time);
    msg.to_string()
}

/// Checks one text-format log line `time="..." level=error msg="..."`; returns the (still quoted) message.
#[track_caller]
fn check_text_error_line(line: &str) -> String {
    let rest = line
        .strip_prefix("time=\"")
        .unwrap_or_else(|| panic!("text log line does not start with time=\": {line:?}"));
    let (time, rest) = rest
        .split_once('"')
        .unwrap_or_else(|| panic!("unterminated time: {line:?}"));
    assert_recent_rfc3339(time);
    let msg = rest
        .strip_prefix(" level=error msg=\"")
        .and_then(|m| m.strip_suffix('"'))
        .unwrap_or_else(|| {
            panic!("text log line is not `time=\"...\" level=error msg=\"...\"`: {line:?}")
        });
    msg.to_string()
}

/// The start time (field 22 of `/proc/<pid>/stat`) of a live, non-zombie process.
fn start_time(pid: i64) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is the state (field 3); starttime is field 22.
    if matches!(fields.first(), Some(&"Z" | &"X")) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Whether the process `pid` that started at `started` (per [`start_time`]) is still alive (a reused
/// pid does not count).
fn same_process_alive(pid: i64, started: u64) -> bool {
    start_time(pid) == Some(started)
}

/// The pids in the container's v1 pids cgroup (`<pids>/sangja/<id>/cgroup.procs`).
fn cgroup_procs(id: &str) -> Vec<i64> {
    let root = host::v1_hierarchy("pids").unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup/pids"));
    let p = root.join("sangja").join(id).join("cgroup.procs");
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// A running container (`sleep 100`) from a private-rootfs bundle.
fn running_sleeper(h: &Harness) -> (spec_tests::Bundle, spec_tests::Container) {
    let mut b = h.bundle_private();
    b.args(&["sleep", "100"]);
    let c = h.create_and_start(&b);
    (b, c)
}

// ---------------------------------------------------------------------------------------------------------
// 1. --log / --log-format

#[test]
fn log_json_lines_are_appended() {
    let h = harness!();
    let log = h.base().join("log.json");
    fs::write(&log, "pre-existing line\n").expect("write log");
    let log_s = log.to_str().expect("UTF-8");

    let out = h.cmd(&["--log", log_s, "--log-format", "json", "state", "nosuch"]);
    // With the log in a file, stderr still gets the bare message (as runc).
    out.assert_error("container does not exist");
    assert_eq!(out.stderr, "container does not exist\n", "{out}");
    let lines = file_lines(&log);
    assert_eq!(
        lines[0], "pre-existing line",
        "the file is opened for append"
    );
    assert_eq!(lines.len(), 2, "one line per error: {lines:#?}");
    let msg = check_json_error_line(&lines[1]);
    assert!(msg.contains("container does not exist"), "msg: {msg:?}");

    let out = h.cmd(&["--log", log_s, "--log-format", "json", "delete", "nosuch2"]);
    out.assert_error("container does not exist");
    let lines = file_lines(&log);
    assert_eq!(lines.len(), 3, "a second failure adds a line: {lines:#?}");
    assert_eq!(lines[0], "pre-existing line");
    check_json_error_line(&lines[1]);
    let msg = check_json_error_line(&lines[2]);
    assert!(msg.contains("container does not exist"), "msg: {msg:?}");
}

#[test]
fn log_text_format() {
    let h = harness!();
    let log = h.base().join("log.txt");
    fs::write(&log, "pre-existing line\n").expect("write log");
    let log_s = log.to_str().expect("UTF-8");

    // The default format is text, and `--log-format text` says so explicitly.
    h.cmd(&["--log", log_s, "state", "nosuch"])
        .assert_error("container does not exist");
    h.cmd(&["--log", log_s, "--log-format", "text", "state", "nosuch"])
        .assert_error("container does not exist");
    let lines = file_lines(&log);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(
        lines[0], "pre-existing line",
        "the file is opened for append"
    );
    for line in &lines[1..] {
        assert_eq!(check_text_error_line(line), "container does not exist");
    }

    // Without --log the same line goes to stderr.
    let out = h.cmd(&["state", "nosuch"]);
    out.assert_error("container does not exist");
    assert_eq!(
        check_text_error_line(out.error_lines()[0]),
        "container does not exist"
    );
}

#[test]
fn log_format_json_on_stderr() {
    let h = harness!();
    let out = h.cmd(&["--log-format", "json", "state", "nosuch"]);
    out.assert_error("container does not exist");
    let msg = check_json_error_line(out.error_lines()[0]);
    assert_eq!(msg, "container does not exist");
}

#[test]
fn bad_log_format_is_refused() {
    let h = harness!();
    // runc: `invalid log-format: xml`, in the text format on stderr.
    let out = h.cmd(&["--log-format", "xml", "list"]);
    out.assert_error("invalid log-format: xml");
}

// ---------------------------------------------------------------------------------------------------------
// 2. --version

#[test]
fn version_lines() {
    let h = harness!();
    for flag in ["--version", "-v"] {
        let out = h.cmd(&[flag]);
        out.ok();
        assert_eq!(out.stderr, "", "{out}");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            lines.first().copied(),
            Some(format!("sangja version {}", env!("CARGO_PKG_VERSION")).as_str()),
            "{out}"
        );
        assert!(
            lines.iter().any(|l| l
                .strip_prefix("commit: ")
                .is_some_and(|c| !c.trim().is_empty())),
            "a `commit: ` line: {out}"
        );
        let spec = lines
            .iter()
            .find_map(|l| l.strip_prefix("spec: "))
            .unwrap_or_else(|| panic!("a `spec: ` line: {out}"));
        let parts: Vec<&str> = spec.split('.').collect();
        assert!(
            parts.len() == 3
                && parts[0] == "1"
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit())),
            "spec version is 1.x.y: {spec:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// 3. --systemd-cgroup

#[test]
fn systemd_cgroup_paths_and_annotations_are_checked_first() {
    let h = harness!();
    for (path, annotation, want) in [
        (
            "/sangja/x",
            None,
            "linux.cgroupsPath: expected cgroupsPath to be of format",
        ),
        (
            "system:p:n",
            None,
            "linux.cgroupsPath: invalid slice name: system",
        ),
        (
            "a--b.slice:p:n",
            None,
            "linux.cgroupsPath: invalid slice name: a--b.slice",
        ),
        ("system.slice:p:../n", None, "linux.cgroupsPath"),
        (
            "system.slice:p:n",
            Some(("org.systemd.property.Ab", "1")),
            "annotations.org.systemd.property.Ab: name incorrect: too short",
        ),
        (
            "system.slice:p:n",
            Some(("org.systemd.property.TimeoutStopSec", "'x'")),
            "not a number",
        ),
    ] {
        let mut b = h.bundle_private();
        b.args(&["sleep", "100"]);
        b.set("/linux/cgroupsPath", json!(path));
        if let Some((k, v)) = annotation {
            b.set(&format!("/annotations/{k}"), json!(v));
        }
        b.write();
        for verb in ["create", "run"] {
            let id = h.id();
            let out = h.cmd(&["--systemd-cgroup", verb, "--bundle", b.dir_str(), &id]);
            out.assert_error(want);
            assert_nothing_left(&h, &id, &b);
        }
    }
}

/// On a host that is not cgroup v2 (this one is hybrid) or has no systemd, a valid systemd path
/// fails with one line that says so, and leaves nothing. (The driver itself is shown in the
/// stock-distro guest: tests/stock_distro.rs.)
#[test]
fn systemd_cgroup_without_a_v2_systemd_host_fails_cleanly() {
    let h = harness!();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let systemd = std::path::Path::new("/run/systemd/system").exists();
    if v2 && systemd {
        spec_tests::skip!(
            "the systemd driver's refusal on a host without it",
            "this host is cgroup v2 with systemd: the driver works here"
        );
    }
    let mut b = h.bundle_private();
    b.args(&["sleep", "100"]);
    b.set("/linux/cgroupsPath", json!("system.slice:sangja-test:x"));
    b.write();
    for verb in ["create", "run"] {
        let id = h.id();
        let out = h.cmd(&["--systemd-cgroup", verb, "--bundle", b.dir_str(), &id]);
        out.assert_error(if v2 {
            "systemd"
        } else {
            "the systemd cgroup driver needs a cgroup v2 host"
        });
        assert_nothing_left(&h, &id, &b);
    }
}

// ---------------------------------------------------------------------------------------------------------
// 4. Console socket and terminal rules

#[test]
fn console_socket_without_terminal_is_refused() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.args(&["sleep", "100"]);
    let sock = h.base().join("console.sock");
    let id = h.id();
    let (out, _) = h.try_create(
        &b,
        &id,
        &["--console-socket", sock.to_str().expect("UTF-8")],
    );
    out.assert_error(CANNOT_USE_CONSOLE_SOCKET);
    assert_nothing_left(&h, &id, &b);
    assert!(!sock.exists(), "nothing was created at the socket path");
}

#[test]
fn terminal_without_console_socket_is_refused() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.args(&["sleep", "100"]);
    b.set("/process/terminal", json!(true));
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &[]);
    out.assert_error(NEEDS_CONSOLE_SOCKET);
    assert_nothing_left(&h, &id, &b);
}

// ---------------------------------------------------------------------------------------------------------
// 5. Options after the container id

#[test]
fn options_after_the_container_id() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.args(&["sleep", "100"]);
    b.write();
    let pid_file = h.base().join("init.pid");
    let id = h.id();
    h.cmd(&[
        "create",
        &id,
        "--bundle",
        b.dir_str(),
        "--pid-file",
        pid_file.to_str().expect("UTF-8"),
    ])
    .ok();
    let st = h.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["bundle"], b.dir_str(), "--bundle after the id was used");
    let pid = st["pid"].as_i64().expect("pid");
    assert_eq!(
        fs::read_to_string(&pid_file).expect("pid file written"),
        pid.to_string(),
        "--pid-file after the id was used (runc writes the bare pid)"
    );
    h.cmd(&["start", &id]).ok();
    assert_eq!(h.status(&id), "running");

    h.cmd(&["kill", &id, "KILL", "--all"]).ok();
    h.wait_status(&id, "stopped", secs(10));
    h.cmd(&["delete", &id, "--force"]).ok();
    h.cmd(&["state", &id])
        .assert_error("container does not exist");
    assert_nothing_left(&h, &id, &b);

    // `delete ID --force` really is forced: it removes a running container.
    let id = h.id();
    h.cmd(&["run", &id, "-b", b.dir_str(), "--detach"]).ok();
    assert_eq!(h.status(&id), "running");
    let out = h.cmd(&["delete", &id]);
    out.assert_error("running");
    h.cmd(&["delete", &id, "-f"]).ok();
    h.cmd(&["state", &id])
        .assert_error("container does not exist");
    assert_nothing_left(&h, &id, &b);
}

// ---------------------------------------------------------------------------------------------------------
// 6. kill --all

/// A running `sh` that forked two `sleep`s, with or without its own pid namespace; returns the pids (and
/// start times) read from its pids cgroup, init first.
fn forking_container(
    h: &Harness,
    pid_ns: bool,
) -> (spec_tests::Bundle, spec_tests::Container, Vec<(i64, u64)>) {
    let mut b = h.bundle_private();
    b.args(&["sh", "-c", "sleep 100 & sleep 100 & wait"]);
    if !pid_ns {
        b.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .retain(|n| n["type"] != "pid");
    }
    let c = h.create_and_start(&b);
    let init = h.pid(&c.id);
    let mut procs = Vec::new();
    assert!(
        host::wait_until(secs(10), || {
            procs = cgroup_procs(&c.id);
            procs.len() >= 3
        }),
        "expected sh and two sleeps in the cgroup, found {procs:?}"
    );
    assert_eq!(procs.len(), 3, "sh and two sleeps: {procs:?}");
    assert!(
        procs.contains(&init),
        "init {init} is in its cgroup: {procs:?}"
    );
    procs.sort_by_key(|p| *p != init);
    let started: Vec<(i64, u64)> = procs
        .iter()
        .filter_map(|&p| start_time(p).map(|t| (p, t)))
        .collect();
    assert_eq!(started.len(), procs.len(), "all of {procs:?} are alive");
    (b, c, started)
}

/// Waits until none of `procs` is alive; panics naming the survivors.
#[track_caller]
fn assert_all_gone(procs: &[(i64, u64)], what: &str) {
    let mut alive = Vec::new();
    assert!(
        host::wait_until(secs(5), || {
            alive = procs
                .iter()
                .filter(|(p, t)| same_process_alive(*p, *t))
                .map(|(p, _)| *p)
                .collect();
            alive.is_empty()
        }),
        "processes of the container survived {what}: {alive:?}"
    );
}

#[test]
fn kill_all_reaches_forked_children() {
    let h = harness!();
    // Without a pid namespace only `--all` can reach the children: killing init alone leaves them.
    for pid_ns in [true, false] {
        let (b, c, procs) = forking_container(&h, pid_ns);
        h.cmd(&["kill", "--all", &c.id, "KILL"]).ok();
        h.wait_status(&c.id, "stopped", secs(10));
        assert_all_gone(&procs, &format!("kill --all (pid namespace: {pid_ns})"));
        assert_eq!(h.status(&c.id), "stopped");
        assert!(
            cgroup_procs(&c.id).is_empty(),
            "the cgroup is empty (pid namespace: {pid_ns})"
        );
        h.cmd(&["delete", &c.id]).ok();
        assert_nothing_left(&h, &c.id, &b);
    }
}

#[test]
fn kill_all_after_init_exit_reaches_the_rest_of_the_cgroup() {
    // containerd's shim runs `kill --all ID KILL` after the init of a container without its own pid
    // namespace exits, to reap what it left. runc signals the cgroup although the container is stopped.
    let h = harness!();
    let (b, c, procs) = forking_container(&h, false);
    h.cmd(&["kill", &c.id, "KILL"]).ok();
    h.wait_status(&c.id, "stopped", secs(10));
    let (init, init_start) = procs[0];
    assert!(
        host::wait_until(secs(5), || !same_process_alive(init, init_start)),
        "init {init} survived SIGKILL"
    );
    assert!(
        procs[1..].iter().all(|(p, t)| same_process_alive(*p, *t)),
        "without a pid namespace the children outlive init: {procs:?}"
    );
    h.cmd(&["kill", "--all", &c.id, "KILL"]).ok();
    assert_all_gone(&procs, "kill --all of a stopped container");
    h.cmd(&["delete", &c.id]).ok();
    assert_nothing_left(&h, &c.id, &b);
}

// ---------------------------------------------------------------------------------------------------------
// 7. Frozen cgroups are refused

/// Makes `<freezer>/<path>` and freezes it; thaws and removes it when the harness is dropped.
fn frozen_cgroup(h: &Harness, path: &str) -> PathBuf {
    let freezer =
        host::v1_hierarchy("freezer").unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup/freezer"));
    let dir = freezer.join(path.trim_start_matches('/'));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    let cleanup = dir.clone();
    h.defer(move || {
        let _ = fs::write(cleanup.join("freezer.state"), "THAWED");
        let _ = fs::remove_dir(&cleanup);
    });
    fs::write(dir.join("freezer.state"), "FROZEN").expect("freeze");
    assert!(
        host::wait_until(secs(5), || freezer_state(&dir).as_deref() == Some("FROZEN")),
        "{} did not freeze",
        dir.display()
    );
    dir
}

fn freezer_state(dir: &Path) -> Option<String> {
    fs::read_to_string(dir.join("freezer.state"))
        .ok()
        .map(|s| s.trim().to_string())
}

#[test]
fn frozen_cgroup_is_refused_at_create() {
    let h = harness!();
    let path = format!("/sangja-test-frozen-{}", h.id());
    let dir = frozen_cgroup(&h, &path);
    let mut b = h.bundle_private();
    b.args(&["sleep", "100"]);
    b.set("/linux/cgroupsPath", json!(path));
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &[]);
    out.assert_error(&path);
    assert!(out.stderr.contains("frozen"), "error says frozen:\n{out}");
    assert!(
        !h.root().join(&id).exists(),
        "state dir left after a refused create"
    );
    // Nothing else is left (the frozen cgroup itself was there before and is not ours).
    let mut left = Vec::new();
    let clean = host::wait_until(secs(2), || {
        left = leftovers(&h, &id, &b)
            .into_iter()
            .filter(|f| *f != format!("cgroup {} exists", dir.display()))
            .collect();
        left.is_empty()
    });
    assert!(clean, "left behind:\n  {}", left.join("\n  "));
}

#[test]
fn frozen_cgroup_is_left_as_found() {
    // A refused create must not touch a cgroup it did not make (runc >= 1.2 checks before creating
    // anything): the cgroup is still there, still frozen.
    let h = harness!();
    let path = format!("/sangja-test-frozen-{}", h.id());
    let dir = frozen_cgroup(&h, &path);
    let mut b = h.bundle_private();
    b.args(&["sleep", "100"]);
    b.set("/linux/cgroupsPath", json!(path));
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &[]);
    out.failed();
    assert!(
        dir.is_dir(),
        "the refused create removed the pre-existing cgroup {}:\n{out}",
        dir.display()
    );
    assert_eq!(freezer_state(&dir).as_deref(), Some("FROZEN"));
}

// ---------------------------------------------------------------------------------------------------------
// 8. delete of a created container

#[test]
fn delete_of_a_created_container_kills_its_init() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.args(&["sleep", "100"]);
    let c = h.create(&b);
    let pid = h.pid(&c.id);
    let started = start_time(pid).expect("init of a created container is alive");
    h.cmd(&["delete", &c.id]).ok();
    assert!(
        host::wait_until(secs(5), || !same_process_alive(pid, started)),
        "init {pid} survived delete of its created container"
    );
    h.cmd(&["state", &c.id])
        .assert_error("container does not exist");
    assert_nothing_left(&h, &c.id, &b);
}

// ---------------------------------------------------------------------------------------------------------
// 9. The library example

/// `target/<profile>/examples/lifecycle`, which `cargo test --workspace` builds with the tests.
fn lifecycle_example() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_sangja"))
        .parent()
        .expect("binary dir")
        .join("examples")
        .join("lifecycle");
    assert!(
        exe.is_file(),
        "{} is missing: it is built by `cargo test --workspace` (or `cargo build -p sangja --example \
         lifecycle`); running only this test target with -p sangja-shim does not build it",
        exe.display()
    );
    exe
}

#[test]
fn library_example_runs_a_container() {
    let h = harness!();
    let exe = lifecycle_example();
    let mut b = h.bundle_private();
    b.args(&["sh", "-c", "echo embedded; exit 3"]);
    b.write();
    let id = h.id();
    let stdout_path = h.base().join("example.stdout");
    let stderr_path = h.base().join("example.stderr");
    let mut child = Command::new(&exe)
        .arg(&b.dir)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", exe.display()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait example") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} did not finish in 60 s", exe.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stdout = String::new();
    fs::File::open(&stdout_path)
        .and_then(|mut f| f.read_to_string(&mut stdout))
        .expect("read stdout");
    let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
    let report = format!(
        "{} {} {id}: status {status:?}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}",
        exe.display(),
        b.dir_str()
    );
    for needle in ["embedded", "created", "container exited with 3"] {
        assert!(
            stdout.contains(needle),
            "stdout lacks {needle:?}:\n{report}"
        );
    }
    assert_eq!(status.signal(), None, "{report}");
    assert_eq!(status.code(), Some(3), "exit code:\n{report}");

    let state_root = std::env::temp_dir().join("sangja-example");
    assert!(
        !state_root.join(&id).exists(),
        "the example left its state dir {}",
        state_root.join(&id).display()
    );
    // Cgroups, mounts and processes (the harness's own root was never used).
    assert_nothing_left(&h, &id, &b);
}

// ---------------------------------------------------------------------------------------------------------
// 10. Bad signal forms

#[test]
fn bad_signal_forms_are_refused() {
    let h = harness!();
    let (_b, c) = running_sleeper(&h);
    let pid = h.pid(&c.id);
    let started = start_time(pid).expect("init alive");
    // runc refuses 0x9 and SIGFOO with `unknown signal "X"` (quotes escaped in the text log line); 99 is
    // out of range (runc 1.1 passes it to kill(2) and reports EINVAL; we refuse it up front).
    for sig in ["0x9", "SIGFOO", "99"] {
        h.cmd(&["kill", &c.id, sig])
            .assert_error(&format!(r#"msg="unknown signal \"{sig}\"""#));
        assert_eq!(
            h.status(&c.id),
            "running",
            "a refused `kill {sig}` must not hurt the container"
        );
    }
    assert!(same_process_alive(pid, started), "init {pid} is unaffected");
}
