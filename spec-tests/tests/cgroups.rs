//! Cgroups (minimal for the foundation): the container's cgroup exists at `linux.cgroupsPath` (default
//! `/sangja/<id>`) in every hierarchy of this host (v1 controllers and cgroup2), carries `memory.limit` and
//! `pids.limit`, holds the init before it runs user code, and is removed on delete.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;
use spec_tests::host::{self, cgroup_mounts, parse_proc_cgroup, v1_hierarchy};
use spec_tests::{assert_nothing_left, harness, Bundle, Container, Harness};

const MEM: u64 = 64 * 1024 * 1024;
const PIDS: u64 = 64;

fn limited_bundle(h: &Harness) -> Bundle {
    let mut b = h.bundle();
    b.set("/linux/resources/memory/limit", json!(MEM));
    b.set("/linux/resources/pids/limit", json!(PIDS));
    // Prints its own cgroups as its first act, then waits.
    b.args(&["sh", "-c", "cat /proc/self/cgroup; sleep 30"]);
    b
}

fn read_trim(p: &Path) -> String {
    fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// Checks the limits, membership (from the host and from inside) and placement in every hierarchy.
fn check_container_cgroup(h: &Harness, c: &Container, path: &str) {
    let pid = h.pid(&c.id).to_string();
    let rel = path.trim_start_matches('/');

    let mem = v1_hierarchy("memory").map(|m| m.join(rel));
    let pids = v1_hierarchy("pids").map(|m| m.join(rel));
    match (&mem, &pids) {
        (Some(mem), Some(pids)) => {
            assert_eq!(
                read_trim(&mem.join("memory.limit_in_bytes")),
                MEM.to_string()
            );
            assert_eq!(read_trim(&pids.join("pids.max")), PIDS.to_string());
            for dir in [mem, pids] {
                let procs = read_trim(&dir.join("cgroup.procs"));
                assert!(
                    procs.lines().any(|l| l == pid),
                    "init {pid} not in {}: {procs:?}",
                    dir.display()
                );
            }
        }
        _ => {
            // Pure cgroup2 host.
            let dir = PathBuf::from("/sys/fs/cgroup").join(rel);
            assert_eq!(read_trim(&dir.join("memory.max")), MEM.to_string());
            assert_eq!(read_trim(&dir.join("pids.max")), PIDS.to_string());
        }
    }

    // In every hierarchy the host mounts (v1 controllers, named ones, and cgroup2), like runc.
    let seen = host::proc_cgroups(&pid);
    assert_eq!(
        seen.len(),
        cgroup_mounts().len(),
        "hierarchies in /proc/{pid}/cgroup vs mounted: {seen:?}"
    );
    for (ctrl, p) in &seen {
        assert_eq!(p, path, "init {pid} in hierarchy {ctrl:?} is at {p}");
    }

    // The init was in the cgroup before user code ran: its first output line says so.
    h.cmd(&["start", &c.id]).ok();
    assert!(
        host::wait_until(spec_tests::secs(10), || c.output().lines().count()
            >= seen.len()),
        "container did not print its cgroups: {:?}",
        c.output()
    );
    let inside = parse_proc_cgroup(&c.output());
    for (ctrl, p) in &inside {
        assert_eq!(p, path, "from inside, hierarchy {ctrl:?} says {p}");
    }
}

fn assert_gone_everywhere(path: &str) {
    for m in cgroup_mounts() {
        let dir = m.path.join(path.trim_start_matches('/'));
        assert!(!dir.exists(), "{} still exists after delete", dir.display());
    }
}

#[test]
fn default_cgroups_path_is_sangja_slash_id() {
    let h = harness!();
    let b = limited_bundle(&h);
    let c = h.create(&b);
    let path = format!("/sangja/{}", c.id);
    check_container_cgroup(&h, &c, &path);
    h.cmd(&["delete", "--force", &c.id]).ok();
    assert_gone_everywhere(&path);
    assert_nothing_left(&h, &c.id, &b);
}

#[test]
fn custom_absolute_cgroups_path() {
    let h = harness!();
    let mut b = limited_bundle(&h);
    let parent = format!("/sangja-spec-{}-custom", std::process::id());
    let id = h.id();
    let path = format!("{parent}/{id}");
    b.set("/linux/cgroupsPath", json!(path));
    let parent_rel = parent.trim_start_matches('/').to_string();
    h.defer(move || {
        for m in cgroup_mounts() {
            let _ = fs::remove_dir(m.path.join(&parent_rel));
        }
    });
    let (out, c) = h.try_create(&b, &id, &[]);
    out.ok();
    check_container_cgroup(&h, &c, &path);
    h.cmd(&["kill", &c.id, "KILL"]).ok();
    h.wait_status(&c.id, "stopped", spec_tests::secs(10));
    h.cmd(&["delete", &c.id]).ok();
    assert_gone_everywhere(&path);
    assert_nothing_left(&h, &c.id, &b);
}

#[test]
fn cgroup_is_removed_after_run() {
    let h = harness!();
    let mut b = h.bundle();
    let parent = format!("/sangja-spec-{}-run", std::process::id());
    let path = format!("{parent}/run");
    b.set("/linux/cgroupsPath", json!(path));
    b.set("/linux/resources/pids/limit", json!(PIDS));
    let parent_rel = parent.trim_start_matches('/').to_string();
    h.defer(move || {
        for m in cgroup_mounts() {
            let _ = fs::remove_dir(m.path.join(&parent_rel));
        }
    });
    let out = h.sh(&mut b, "cat /proc/self/cgroup");
    let seen = parse_proc_cgroup(&out);
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|(_, p)| *p == path), "{out}");
    assert_gone_everywhere(&path);
}
