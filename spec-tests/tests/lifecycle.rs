//! Lifecycle and CLI contract: create → start → kill → delete, state JSON, run, list, spec, pid files,
//! refusals, derived status, id conflicts, root paths, --no-pivot.

use std::fs;
use std::sync::Barrier;

use serde_json::Value;
use spec_tests::{assert_nothing_left, harness, host, leftovers::leftovers, secs, CmdOpts};

/// A shell that reports SIGTERM on stdout and exits 0 on it; "ready" once the trap is installed.
const TERM_REPORTER: &str = "trap 'echo got-TERM; exit 0' TERM; echo ready; sleep 30 & wait";

fn assert_rfc3339(s: &str) {
    let b = s.as_bytes();
    assert!(
        b.len() >= 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && (s.ends_with('Z') || s[19..].contains('+') || s[19..].contains('-')),
        "`created` is not RFC 3339: {s:?}"
    );
}

#[test]
fn create_start_kill_delete_walks_the_states() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sh", "-c", TERM_REPORTER]);
    let c = h.create(&b);

    let st = h.state(&c.id);
    for key in [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
    ] {
        assert!(st.get(key).is_some(), "state lacks {key:?}: {st}");
    }
    assert_eq!(st["id"], c.id.as_str());
    assert_eq!(st["status"], "created");
    let pid = st["pid"].as_i64().expect("pid is a number");
    assert!(pid > 0, "created container has pid {pid}");
    assert!(
        host::pid_alive(pid),
        "init {pid} of a created container is not alive"
    );
    assert_eq!(st["bundle"], b.dir_str(), "state.bundle");
    assert_eq!(
        st["rootfs"],
        b.rootfs().to_str().expect("UTF-8"),
        "state.rootfs"
    );
    assert!(st["owner"].is_string(), "owner is a string: {st}");
    assert!(
        st["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "ociVersion: {st}"
    );
    assert_rfc3339(st["created"].as_str().expect("created is a string"));
    assert!(
        !c.output().contains("ready"),
        "the container ran user code before start: {:?}",
        c.output()
    );

    h.cmd(&["start", &c.id]).ok();
    assert_eq!(h.status(&c.id), "running");
    assert_eq!(h.pid(&c.id), pid, "pid changed across start");
    assert!(
        host::wait_until(secs(10), || c.output().contains("ready")),
        "container did not run after start: {:?}",
        c.output()
    );

    h.cmd(&["kill", &c.id]).ok();
    h.wait_status(&c.id, "stopped", secs(10));
    assert!(
        c.output().contains("got-TERM"),
        "default signal of kill is not SIGTERM: container printed {:?}",
        c.output()
    );

    h.cmd(&["delete", &c.id]).ok();
    h.cmd(&["state", &c.id])
        .assert_stderr_contains("container does not exist");
    assert_nothing_left(&h, &c.id, &b);
}

#[test]
fn kill_accepts_names_sig_names_and_numbers() {
    let h = harness!();
    let mut b = h.bundle();
    // pid 1 ignores SIGTERM without a handler, so only a real SIGKILL stops `sleep`.
    b.args(&["sleep", "30"]);
    for sig in ["KILL", "SIGKILL", "9"] {
        let c = h.create_and_start(&b);
        let pid = h.pid(&c.id);
        h.cmd(&["kill", &c.id, sig]).ok();
        h.wait_status(&c.id, "stopped", secs(10));
        assert!(
            host::wait_until(secs(5), || !host::pid_alive(pid)),
            "kill {sig}: init {pid} still alive"
        );
        h.cmd(&["delete", &c.id]).ok();
    }
    // TERM by name reaches a shell that traps it.
    b.args(&["sh", "-c", TERM_REPORTER]);
    let c = h.create_and_start(&b);
    assert!(host::wait_until(secs(10), || c.output().contains("ready")));
    h.cmd(&["kill", &c.id, "TERM"]).ok();
    h.wait_status(&c.id, "stopped", secs(10));
    assert!(c.output().contains("got-TERM"), "{:?}", c.output());
}

#[test]
fn kill_of_a_stopped_container_says_not_running() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sleep", "30"]);
    let c = h.create_and_start(&b);
    h.cmd(&["kill", &c.id, "KILL"]).ok();
    h.wait_status(&c.id, "stopped", secs(10));
    h.cmd(&["kill", &c.id, "KILL"])
        .assert_error("container not running");
    // With --all there is nothing left to signal, which runc 1.1 counts as success.
    h.cmd(&["kill", "--all", &c.id, "KILL"]).ok();
}

#[test]
fn run_exits_with_the_container_status() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sh", "-c", "echo out; echo err >&2; exit 3"]);
    let out = h.run(&b);
    assert_eq!(
        out.code, 3,
        "run must exit with the container's code:\n{out}"
    );
    assert_eq!(out.stdout, "out\n", "container stdout:\n{out}");
    assert!(out.stderr.contains("err"), "container stderr:\n{out}");

    b.args(&["true"]);
    assert_eq!(h.run(&b).code, 0);
    b.args(&["false"]);
    assert_eq!(h.run(&b).code, 1);
    // `run` deletes the container when it exits.
    let out = h.cmd(&["list", "-q"]);
    out.ok();
    assert_eq!(out.stdout.trim(), "", "run left containers: {out}");
}

#[test]
fn run_detach_leaves_it_running() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sleep", "30"]);
    b.write();
    let id = h.id();
    let pid_file = h.base().join("run.pid");
    let pf = pid_file.to_str().expect("UTF-8");
    h.cmd(&[
        "run",
        "--detach",
        "--pid-file",
        pf,
        "--bundle",
        b.dir_str(),
        &id,
    ])
    .ok();
    // It returned while the container (sleep 30) still runs.
    assert_eq!(h.status(&id), "running");
    let pid = h.pid(&id);
    let written = fs::read_to_string(&pid_file).expect("pid file written");
    assert_eq!(
        written.trim().parse::<i64>().ok(),
        Some(pid),
        "pid file {written:?}"
    );
    h.cmd(&["kill", &id, "KILL"]).ok();
    h.wait_status(&id, "stopped", secs(10));
    h.cmd(&["delete", &id]).ok();
    assert_nothing_left(&h, &id, &b);
}

#[test]
fn pid_file_holds_the_state_pid() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sleep", "30"]);
    let id = h.id();
    let pid_file = h.base().join("create.pid");
    let (out, _) = h.try_create(&b, &id, &["--pid-file", pid_file.to_str().expect("UTF-8")]);
    out.ok();
    let text = fs::read_to_string(&pid_file).expect("pid file written");
    assert_eq!(
        text.trim().parse::<i64>().ok(),
        Some(h.pid(&id)),
        "pid file content {text:?}"
    );
    assert!(
        !text.contains('\n'),
        "runc writes the pid without a newline: {text:?}"
    );
}

#[test]
fn list_table_json_and_quiet() {
    let h = harness!();
    // Empty: header only, no ids; runc prints `null` for an empty JSON list, `[]` is fine too.
    let empty = h.cmd(&["list"]);
    empty.ok();
    assert_eq!(empty.stdout.lines().count(), 1, "{empty}");
    assert_eq!(h.cmd(&["list", "-q"]).stdout, "");
    let json = h.cmd(&["list", "--format", "json"]);
    json.ok();
    assert!(matches!(json.stdout.trim(), "null" | "[]"), "{json}");

    let mut b = h.bundle();
    b.args(&["sleep", "30"]);
    let created = h.create(&b);
    let running = h.create_and_start(&b);

    let table = h.cmd(&["list"]);
    table.ok();
    let mut lines = table.stdout.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{table}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{table}");
    for (c, status) in [(&created, "created"), (&running, "running")] {
        let row = rows
            .iter()
            .find(|r| r[0] == c.id)
            .unwrap_or_else(|| panic!("{} missing from list:\n{table}", c.id));
        assert_eq!(row[1], h.pid(&c.id).to_string(), "{table}");
        assert_eq!(row[2], status, "{table}");
        assert_eq!(row[3], b.dir_str(), "{table}");
    }

    let json = h.cmd(&["list", "--format", "json"]);
    json.ok();
    let v: Value = serde_json::from_str(&json.stdout).expect("list --format json is JSON");
    let arr = v.as_array().expect("a JSON array");
    assert_eq!(arr.len(), 2, "{json}");
    for (c, status) in [(&created, "created"), (&running, "running")] {
        let e = arr
            .iter()
            .find(|e| e["id"] == c.id.as_str())
            .unwrap_or_else(|| panic!("{} missing:\n{json}", c.id));
        assert_eq!(e["status"], status);
        assert_eq!(e["pid"].as_i64(), Some(h.pid(&c.id)));
        assert_eq!(e["bundle"], b.dir_str());
        for key in ["ociVersion", "rootfs", "created", "owner"] {
            assert!(e.get(key).is_some(), "list entry lacks {key}: {e}");
        }
    }

    let q = h.cmd(&["list", "-q"]);
    q.ok();
    let mut ids: Vec<&str> = q.stdout.lines().collect();
    ids.sort_unstable();
    let mut want = vec![created.id.as_str(), running.id.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want, "{q}");
}

#[test]
fn spec_writes_a_runnable_config() {
    let h = harness!();
    let dir = h.tempdir("spec");
    let out = h.cmd_opts(
        &["spec"],
        &CmdOpts {
            cwd: Some(&dir),
            ..CmdOpts::default()
        },
    );
    out.ok();
    let text = fs::read_to_string(dir.join("config.json")).expect("spec wrote config.json");
    let v: Value = serde_json::from_str(&text).expect("config.json is JSON");
    assert!(v["ociVersion"]
        .as_str()
        .is_some_and(|s| s.starts_with("1.")));
    assert_eq!(v["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(v["root"]["path"], "rootfs");
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    for want in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(
            ns.contains(&want),
            "spec lacks the {want} namespace: {ns:?}"
        );
    }

    // Refuses to overwrite, like runc.
    h.cmd_opts(
        &["spec"],
        &CmdOpts {
            cwd: Some(&dir),
            ..CmdOpts::default()
        },
    )
    .failed();

    // `spec --bundle DIR` writes there.
    let dir2 = h.tempdir("spec");
    h.cmd(&["spec", "--bundle", dir2.to_str().expect("UTF-8")])
        .ok();
    assert!(dir2.join("config.json").exists());

    // The generated config runs unchanged apart from rootfs, terminal and args.
    let mut b = h.bundle();
    b.config = v;
    b.set(
        "/root/path",
        Value::from(b.rootfs().to_str().expect("UTF-8")),
    );
    b.set("/process/terminal", Value::Bool(false));
    assert_eq!(h.sh(&mut b, "echo spec-ok").trim(), "spec-ok");
}

#[test]
fn delete_refuses_a_running_container_without_force() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sleep", "30"]);
    let c = h.create_and_start(&b);
    let pid = h.pid(&c.id);
    let out = h.cmd(&["delete", &c.id]);
    out.failed();
    assert_eq!(out.error_lines().len(), 1, "one-line error:\n{out}");
    assert!(
        out.stderr.contains("running"),
        "error names the status:\n{out}"
    );
    assert_eq!(
        h.status(&c.id),
        "running",
        "the refused delete hurt the container"
    );
    assert!(host::pid_alive(pid));

    h.cmd(&["delete", "--force", &c.id]).ok();
    h.cmd(&["state", &c.id])
        .assert_stderr_contains("container does not exist");
    assert!(
        host::wait_until(secs(5), || !host::pid_alive(pid)),
        "delete --force left init {pid} alive"
    );
    assert_nothing_left(&h, &c.id, &b);
}

#[test]
fn delete_force_removes_a_created_container() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sleep", "30"]);
    let c = h.create(&b);
    let pid = h.pid(&c.id);
    h.cmd(&["delete", "--force", &c.id]).ok();
    assert!(host::wait_until(secs(5), || !host::pid_alive(pid)));
    assert_nothing_left(&h, &c.id, &b);
}

#[test]
fn status_is_derived_from_the_live_process() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sleep", "30"]);
    let c = h.create_and_start(&b);
    let pid = h.pid(&c.id);
    host::send_signal(pid, libc::SIGKILL);
    h.wait_status(&c.id, "stopped", secs(10));
    // A stopped container deletes without --force.
    h.cmd(&["delete", &c.id]).ok();
    assert_nothing_left(&h, &c.id, &b);
}

#[test]
fn created_container_whose_init_died_is_stopped() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sleep", "30"]);
    let c = h.create(&b);
    host::send_signal(h.pid(&c.id), libc::SIGKILL);
    h.wait_status(&c.id, "stopped", secs(10));
    h.cmd(&["start", &c.id]).failed();
    h.cmd(&["delete", &c.id]).ok();
}

#[test]
fn create_of_an_existing_id_fails() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sleep", "30"]);
    let c = h.create(&b);
    let pid = h.pid(&c.id);
    let (out, _) = h.try_create(&b, &c.id, &[]);
    out.assert_error("container with given ID already exists");
    let st = h.state(&c.id);
    assert_eq!(
        st["status"], "created",
        "the failed create hurt the first: {st}"
    );
    assert_eq!(st["pid"].as_i64(), Some(pid));
}

#[test]
fn racing_creates_of_one_id_exactly_one_wins() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sleep", "30"]);
    b.write();
    for round in 0..10 {
        let id = h.id();
        let barrier = Barrier::new(2);
        let outs: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        // Not try_create: it rewrites config.json and shares output files per id.
                        h.cmd(&["create", "--bundle", b.dir_str(), &id])
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|t| t.join().expect("create thread"))
                .collect()
        });
        let winners = outs.iter().filter(|o| o.success()).count();
        assert_eq!(
            winners, 1,
            "round {round}: {winners} creates of {id} succeeded:\n{}\n{}",
            outs[0], outs[1]
        );
        let loser = outs.iter().find(|o| !o.success()).expect("a loser");
        loser.assert_error("container with given ID already exists");
        assert_eq!(h.status(&id), "created");
        h.cmd(&["delete", "--force", &id]).ok();
        assert_nothing_left(&h, &id, &b);
    }
}

#[test]
fn relative_and_absolute_root_path() {
    let h = harness!();
    let mut b = h.bundle_private();
    let marker = format!("marker-{}", std::process::id());
    fs::write(b.rootfs().join("marker"), &marker).expect("write marker");
    b.args(&["cat", "/marker"]);

    // Relative root.path resolves against the bundle, not the caller's cwd.
    assert_eq!(b.config["root"]["path"], "rootfs");
    b.write();
    let id = h.id();
    let out = h.cmd_opts(
        &["run", "--bundle", b.dir_str(), &id],
        &CmdOpts {
            cwd: Some(std::path::Path::new("/")),
            ..CmdOpts::default()
        },
    );
    out.ok();
    assert_eq!(out.stdout, marker, "relative root.path:\n{out}");

    let abs = b.rootfs().to_str().expect("UTF-8").to_string();
    b.set("/root/path", Value::from(abs));
    assert_eq!(
        h.probe(&mut b, &["cat", "/marker"]),
        marker,
        "absolute root.path"
    );
}

#[test]
fn no_pivot_runs_in_the_rootfs() {
    let h = harness!();
    let mut b = h.bundle_private();
    let marker = format!("no-pivot-{}", std::process::id());
    fs::write(b.rootfs().join("marker"), &marker).expect("write marker");
    b.args(&["sh", "-c", "cat /marker; echo; ls -a /"]);
    let out = h.run_with(&b, &["--no-pivot"]);
    out.ok();
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some(marker.as_str()), "{out}");
    let mut seen: Vec<&str> = lines.filter(|l| *l != "." && *l != "..").collect();
    seen.sort_unstable();
    let mut want: Vec<String> = fs::read_dir(b.rootfs())
        .expect("read rootfs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    want.sort_unstable();
    assert_eq!(seen, want, "`ls /` inside vs the rootfs");
}

/// Guards the bad-input tests against passing vacuously: the checker must see a live container's state dir,
/// cgroup and process.
#[test]
fn leftover_checker_sees_a_live_container() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.args(&["sleep", "30"]);
    let c = h.create(&b);
    let found = leftovers(&h, &c.id, &b);
    let text = found.join("\n");
    for kind in ["state dir ", "cgroup ", "process "] {
        assert!(
            found.iter().any(|l| l.starts_with(kind)),
            "checker missed the {kind}of a live container:\n{text}"
        );
    }
    h.cmd(&["delete", "--force", &c.id]).ok();
    assert_nothing_left(&h, &c.id, &b);
}

/// `--trace FILE` appends one JSON line per create and start with monotonic per-phase timings;
/// without it nothing is written.
#[test]
fn trace_lines_show_where_the_time_goes() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["true"]);
    b.write();
    let trace = h.tempdir("trace").join("trace.jsonl");
    let id = h.id();
    h.track(&id);
    let t = trace.to_str().expect("UTF-8");
    h.cmd(&["--trace", t, "create", "--bundle", b.dir_str(), &id])
        .ok();
    h.cmd(&["--trace", t, "start", &id]).ok();
    let text = std::fs::read_to_string(&trace).expect("trace file");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each trace line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let phases = |v: &serde_json::Value| -> Vec<String> {
        v["phases"]
            .as_array()
            .expect("phases")
            .iter()
            .map(|p| p["phase"].as_str().expect("phase").to_string())
            .collect()
    };
    assert_eq!(lines[0]["command"], "create");
    assert_eq!(lines[0]["id"], id.as_str());
    let create = phases(&lines[0]);
    for want in [
        "parse",
        "cgroup",
        "init:clone+mounts",
        "init:pivot_root",
        "parent:cgroup-join",
        "state",
    ] {
        assert!(
            create.iter().any(|p| p == want),
            "create phases {create:?} lack {want}"
        );
    }
    // No startContainer/poststart hooks: `start` returns once the init is released.
    assert_eq!(phases(&lines[1]), ["fifo"]);
    let total = lines[0]["total_us"].as_f64().expect("total_us");
    let sum: f64 = lines[0]["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .map(|p| p["us"].as_f64().unwrap_or(-1.0))
        .sum();
    assert!(
        total > 0.0 && (total - sum).abs() < 1.0,
        "phases add up to the total: {total} vs {sum}"
    );
    // Off by default: a command without --trace writes nothing.
    let id2 = h.id();
    h.track(&id2);
    h.cmd(&["create", "--bundle", b.dir_str(), &id2]).ok();
    assert_eq!(
        std::fs::read_to_string(&trace)
            .expect("trace file")
            .lines()
            .count(),
        2
    );
}
