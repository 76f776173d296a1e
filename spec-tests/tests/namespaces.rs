//! Namespaces: new ones differ from the host's, ones with a `path` are joined.

use std::fs;
use std::process::Command;

use serde_json::{json, Value};
use spec_tests::host::{ns_holder, ns_id};
use spec_tests::{harness, Bundle, Harness};

const KINDS: [&str; 8] = ["pid", "net", "ipc", "uts", "mnt", "cgroup", "user", "time"];

/// `kind -> ns id` as seen by a container.
fn container_ns(h: &Harness, b: &mut Bundle) -> Vec<(String, String)> {
    let script = KINDS
        .iter()
        .map(|k| format!("echo {k} $(readlink /proc/self/ns/{k})"))
        .collect::<Vec<_>>()
        .join("; ");
    h.sh(b, &script)
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("kind and id");
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Replaces (or adds) the namespace entry of `kind` (runtime-spec name) with `entry`.
fn set_namespace(b: &mut Bundle, entry: Value) {
    let kind = entry["type"].as_str().expect("type").to_string();
    let list = b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces array");
    list.retain(|n| n["type"] != kind.as_str());
    list.push(entry);
}

#[test]
fn new_namespaces_differ_from_the_hosts() {
    let h = harness!();
    let mut b = h.bundle();
    set_namespace(&mut b, json!({"type": "cgroup"}));
    let seen = container_ns(&h, &mut b);
    assert_eq!(seen.len(), KINDS.len(), "{seen:?}");
    for (kind, id) in &seen {
        let host = ns_id("self", kind);
        let want_new = !matches!(kind.as_str(), "user" | "time");
        assert_eq!(
            id != &host,
            want_new,
            "{kind}: container {id}, host {host} (new namespace expected: {want_new})"
        );
    }
}

#[test]
fn namespaces_not_in_the_config_are_shared() {
    let h = harness!();
    let mut b = h.bundle();
    // runc spec has no cgroup namespace; drop ipc too.
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces")
        .retain(|n| n["type"] != "ipc");
    for (kind, id) in container_ns(&h, &mut b) {
        let shared = matches!(kind.as_str(), "ipc" | "cgroup" | "user" | "time");
        assert_eq!(id == ns_id("self", &kind), shared, "{kind}: {id}");
    }
}

#[test]
fn join_a_net_namespace_by_path() {
    let h = harness!();
    let holder = ns_holder(&h);
    let want = ns_id(&holder.to_string(), "net");
    let mut b = h.bundle();

    // By /proc/<pid>/ns/net.
    set_namespace(
        &mut b,
        json!({"type": "network", "path": format!("/proc/{holder}/ns/net")}),
    );
    assert_eq!(
        h.probe(&mut b, &["readlink", "/proc/self/ns/net"]).trim(),
        want
    );

    // By a bind-mounted namespace file, as `ip netns add` and CNI create them.
    let file = h.base().join("netns");
    fs::write(&file, "").expect("create netns file");
    let st = Command::new("mount")
        .arg("--bind")
        .arg(format!("/proc/{holder}/ns/net"))
        .arg(&file)
        .status()
        .expect("mount");
    assert!(st.success(), "bind-mount the net namespace");
    let f = file.clone();
    h.defer(move || {
        let _ = Command::new("umount").arg("-l").arg(&f).status();
    });
    set_namespace(
        &mut b,
        json!({"type": "network", "path": file.to_str().expect("UTF-8")}),
    );
    assert_eq!(
        h.probe(&mut b, &["readlink", "/proc/self/ns/net"]).trim(),
        want
    );
}

#[test]
fn join_another_containers_uts_ipc_and_pid_namespaces() {
    let h = harness!();
    let mut a = h.bundle();
    a.set("/hostname", json!("alpha"));
    a.args(&["sleep", "30"]);
    let ca = h.create_and_start(&a);
    let apid = h.pid(&ca.id).to_string();

    let mut b = h.bundle();
    b.remove("/hostname");
    for (kind, file) in [("uts", "uts"), ("ipc", "ipc"), ("pid", "pid")] {
        set_namespace(
            &mut b,
            json!({"type": kind, "path": format!("/proc/{apid}/ns/{file}")}),
        );
    }
    let out = h.sh(
        &mut b,
        "hostname; for n in uts ipc pid; do readlink /proc/self/ns/$n; done; echo $$; \
         tr '\\0' ' ' < /proc/1/cmdline",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert_eq!(lines[0], "alpha", "hostname of the joined uts namespace");
    assert_eq!(lines[1], ns_id(&apid, "uts"));
    assert_eq!(lines[2], ns_id(&apid, "ipc"));
    assert_eq!(lines[3], ns_id(&apid, "pid"));
    assert_ne!(
        lines[4], "1",
        "a process joining a pid namespace is not its init"
    );
    assert_eq!(
        lines[5].trim(),
        "sleep 30",
        "pid 1 of the joined namespace is container A's init"
    );
    assert_eq!(h.status(&ca.id), "running");
}

/// runc brings up `lo` in a new network namespace (its spec conversion adds a loopback network), so
/// containers can reach 127.0.0.1.
#[test]
fn loopback_is_up_in_a_new_net_namespace() {
    let h = harness!();
    let mut b = h.bundle();
    let out = h.sh(&mut b, "ip -o link show lo; ip -o -4 addr show lo");
    assert!(
        out.contains("<LOOPBACK,UP,LOWER_UP>"),
        "lo is not up:\n{out}"
    );
    assert!(
        out.contains("inet 127.0.0.1/8"),
        "lo has no 127.0.0.1:\n{out}"
    );
}

/// A new time namespace with `linux.timeOffsets`: the process and an `exec` see the offsets
/// (boottime shows in `/proc/uptime`), the host's clocks are untouched, and the container's time
/// namespace is not the host's.
#[test]
fn a_time_namespace_offsets_boottime_for_the_process_and_exec() {
    let h = harness!();
    let mut b = h.bundle_private();
    const YEAR: u64 = 31_536_000;
    b.push("/linux/namespaces", json!({"type": "time"}));
    b.set(
        "/linux/timeOffsets",
        json!({"boottime": {"secs": YEAR}, "monotonic": {"secs": 1000, "nanosecs": 5}}),
    );
    b.args(&["sleep", "1000"]);
    let c = h.create_and_start(&b);
    let host_uptime = || -> f64 {
        let t = fs::read_to_string("/proc/uptime").expect("host /proc/uptime");
        t.split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0)
    };
    let out = h.cmd(&[
        "exec",
        &c.id,
        "cat",
        "/proc/self/timens_offsets",
        "/proc/uptime",
    ]);
    out.ok();
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(
        words[..6],
        ["monotonic", "1000", "5", "boottime", "31536000", "0"],
        "{out}"
    );
    let theirs: f64 = words.get(6).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let ours = host_uptime();
    assert!(
        (theirs - ours - YEAR as f64).abs() < 60.0,
        "uptime {theirs} in the container, {ours} on the host"
    );
    let pid = h.pid(&c.id);
    assert_ne!(
        ns_id(&pid.to_string(), "time"),
        ns_id("self", "time"),
        "the init is in its own time namespace"
    );
    assert!(
        ours < YEAR as f64,
        "the host's boottime is untouched: {ours}"
    );
}
