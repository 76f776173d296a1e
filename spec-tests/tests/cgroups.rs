//! Cgroups: the container's cgroup exists at `linux.cgroupsPath` (default `/sangja/<id>`) in every
//! hierarchy of this host (v1 controllers and cgroup2), holds the init before it runs user code, and is
//! removed on delete; `pause`/`resume`, `ps`, `events` and `kill --all`. The resources are in
//! `cgroup_resources.rs`.
//!
//! These run on the host (v1, hybrid or v2); the `cgroups_v2` target runs the v2 checks in a VM.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use spec_tests::host::{self, cgroup_mounts, parse_proc_cgroup, v1_hierarchy};
use spec_tests::{assert_nothing_left, harness, secs, Bundle, Container, Harness};

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

/// Checks the limits, membership (from the host and from inside) and placement in every hierarchy.
fn check_container_cgroup(h: &Harness, c: &Container, path: &str) {
    let pid = h.pid(&c.id).to_string();
    let rel = path.trim_start_matches('/');

    let mem = v1_hierarchy("memory").map(|m| m.join(rel));
    let pids = v1_hierarchy("pids").map(|m| m.join(rel));
    match (&mem, &pids) {
        (Some(mem), Some(pids)) => {
            assert_eq!(
                host::read_trim(&mem.join("memory.limit_in_bytes")),
                MEM.to_string()
            );
            assert_eq!(host::read_trim(&pids.join("pids.max")), PIDS.to_string());
            for dir in [mem, pids] {
                let procs = host::read_trim(&dir.join("cgroup.procs"));
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
            assert_eq!(host::read_trim(&dir.join("memory.max")), MEM.to_string());
            assert_eq!(host::read_trim(&dir.join("pids.max")), PIDS.to_string());
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

#[test]
fn default_cgroups_path_is_sangja_slash_id() {
    let h = harness!();
    let b = limited_bundle(&h);
    let c = h.create(&b);
    let path = format!("/sangja/{}", c.id);
    check_container_cgroup(&h, &c, &path);
    h.cmd(&["delete", "--force", &c.id]).ok();
    host::assert_cgroup_gone(&path);
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
    host::assert_cgroup_gone(&path);
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
    host::assert_cgroup_gone(&path);
}

// ---------------------------------------------------------------------------------------------------------
// pause / resume, update, ps, events, kill --all

/// A container printing an increasing counter every 50 ms.
fn counter(h: &Harness) -> (Bundle, Container) {
    let mut b = h.bundle();
    b.args(&[
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done",
    ]);
    let c = h.create_and_start(&b);
    assert!(host::wait_until(secs(10), || c.output().lines().count() > 2));
    (b, c)
}

#[test]
fn pause_stops_progress_and_resume_restarts_it() {
    let h = harness!();
    let (b, c) = counter(&h);
    h.cmd(&["pause", &c.id]).ok();
    assert_eq!(h.status(&c.id), "paused");
    match host::v1_dir("freezer", &format!("/sangja/{}", c.id)) {
        Some(d) => assert_eq!(host::read_trim(&d.join("freezer.state")), "FROZEN"),
        None => {
            let d = Path::new("/sys/fs/cgroup/sangja").join(&c.id);
            assert_eq!(host::read_trim(&d.join("cgroup.freeze")), "1");
        }
    }
    let before = c.output().lines().count();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        c.output().lines().count(),
        before,
        "the counter advanced while paused"
    );
    // As runc: pausing a paused container is "not running", resuming a running one "not paused".
    h.cmd(&["pause", &c.id])
        .assert_error("container not running");
    h.cmd(&["resume", &c.id]).ok();
    assert_eq!(h.status(&c.id), "running");
    h.cmd(&["resume", &c.id])
        .assert_error("container not paused");
    assert!(
        host::wait_until(secs(5), || c.output().lines().count() > before + 2),
        "the counter did not resume"
    );
    // A paused container is deleted with --force without waiting for timeouts.
    h.cmd(&["pause", &c.id]).ok();
    h.cmd(&["delete", "--force", &c.id]).ok();
    assert_nothing_left(&h, &c.id, &b);
}

#[test]
fn kill_all_reaches_a_paused_container() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sh", "-c", "sleep 100 & sleep 100 & wait"]);
    let c = h.create_and_start(&b);
    h.cmd(&["pause", &c.id]).ok();
    h.cmd(&["kill", "--all", &c.id, "KILL"]).ok();
    h.wait_status(&c.id, "stopped", secs(5));
    h.cmd(&["delete", &c.id]).ok();
    assert_nothing_left(&h, &c.id, &b);
}

#[test]
fn ps_lists_the_init_and_its_children() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sh", "-c", "sleep 100 & echo started; wait"]);
    let c = h.create_and_start(&b);
    assert!(host::wait_until(secs(10), || c
        .output()
        .contains("started")));
    let init = h.pid(&c.id);
    let out = h.cmd(&["ps", "--format", "json", &c.id]);
    out.ok();
    let pids: Vec<i64> = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("ps json ({e}): {}", out.stdout));
    assert!(pids.contains(&init), "init {init} not in {pids:?}");
    let child = pids
        .iter()
        .copied()
        .find(|&p| p != init)
        .unwrap_or_else(|| panic!("no child in {pids:?}"));
    let stat = fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
    let ppid = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.split_whitespace().nth(1))
        .unwrap_or("");
    assert_eq!(ppid, init.to_string(), "{child} is not a child of the init");

    // The table is the host's `ps -ef` header and the container's lines (as runc).
    let table = h.cmd(&["ps", &c.id]);
    table.ok();
    let mut lines = table.stdout.lines();
    let header = lines.next().unwrap_or("");
    assert!(header.split_whitespace().any(|f| f == "PID"), "{header}");
    let shown: Vec<i64> = lines
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert!(
        shown.contains(&init) && shown.contains(&child),
        "{}",
        table.stdout
    );
    assert!(shown.iter().all(|p| pids.contains(p)), "{}", table.stdout);

    h.cmd(&["kill", &c.id, "KILL"]).ok();
    h.wait_status(&c.id, "stopped", secs(10));
    let out = h.cmd(&["ps", "-f", "json", &c.id]);
    out.ok();
    assert_eq!(out.stdout, "null\n");
}

#[test]
fn events_stats_is_one_runc_shaped_json_object() {
    let h = harness!();
    let mut b = limited_bundle(&h);
    b.args(&["sh", "-c", "sleep 100 & sleep 100"]);
    let c = h.create_and_start(&b);
    let out = h.cmd(&["events", "--stats", &c.id]);
    out.ok();
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    let e: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|err| panic!("events --stats is not JSON ({err}): {}", out.stdout));
    assert_eq!(e["type"], "stats");
    assert_eq!(e["id"], c.id.as_str());
    let d = &e["data"];
    for key in [
        "cpu",
        "cpuset",
        "memory",
        "pids",
        "blkio",
        "hugetlb",
        "intel_rdt",
        "network_interfaces",
    ] {
        assert!(d.get(key).is_some(), "no {key} in {d}");
    }
    assert!(d["network_interfaces"].is_null());
    let usage = d["memory"]["usage"]["usage"].as_u64().unwrap_or(0);
    assert!(usage > 0, "memory usage is {usage}: {d}");
    assert_eq!(d["memory"]["usage"]["limit"].as_u64(), Some(MEM));
    assert!(d["pids"]["current"].as_u64().unwrap_or(0) >= 2, "{d}");
    assert_eq!(d["pids"]["limit"].as_u64(), Some(PIDS));
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0, "{d}");
    assert!(d["memory"]["raw"].is_object(), "{d}");

    h.cmd(&["kill", &c.id, "KILL"]).ok();
    h.wait_status(&c.id, "stopped", secs(10));
    h.cmd(&["events", "--stats", &c.id])
        .assert_error(&format!("container with id {} is not running", c.id));
}

#[test]
fn events_streams_until_the_container_stops() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sleep", "1"]);
    let c = h.create_and_start(&b);
    let out = h.cmd(&["events", "--interval", "200ms", &c.id]);
    out.ok();
    let n = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|e| e["type"] == "stats")
        .count();
    assert!(
        (2..=6).contains(&n),
        "{n} stats events in ~1s:\n{}",
        out.stdout
    );
}

// ---------------------------------------------------------------------------------------------------------
// linux.cgroupsPath: cleaned (`..` stays inside), and a cgroup holding processes is refused

/// `<hierarchy>/<path>` in every hierarchy of the host.
fn dirs_of(path: &str) -> Vec<PathBuf> {
    cgroup_mounts()
        .into_iter()
        .map(|m| m.path.join(path.trim_start_matches('/')))
        .collect()
}

#[test]
fn cgroups_path_of_a_running_container_is_refused_and_it_survives() {
    let h = harness!();
    let path = format!("/sangja-spec-busy-{}", h.id());
    let mut a = h.bundle();
    a.args(&["sleep", "100"]);
    a.set("/linux/cgroupsPath", json!(path));
    let ca = h.create_and_start(&a);
    let pid = h.pid(&ca.id);
    let before = host::proc_cgroups(&pid.to_string());
    let mut b = h.bundle_private();
    b.args(&["true"]);
    b.set("/linux/cgroupsPath", json!(path));
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &[]);
    out.assert_error("linux.cgroupsPath: ");
    assert!(out.stderr.contains("is not empty"), "{out}");
    // A is untouched: running, in its cgroup in every hierarchy, which still exists.
    assert_eq!(h.status(&ca.id), "running");
    assert!(host::pid_alive(pid));
    assert_eq!(host::proc_cgroups(&pid.to_string()), before);
    for d in dirs_of(&path) {
        assert!(
            d.is_dir(),
            "{} was removed by the refused create",
            d.display()
        );
    }
    // Nothing of B (the cgroup is A's).
    b.remove("/linux/cgroupsPath");
    assert_nothing_left(&h, &id, &b);
    h.cmd(&["delete", "--force", &ca.id]).ok();
    host::assert_cgroup_gone(&path);
}

#[test]
fn cgroups_path_of_the_root_or_our_own_cgroup_is_refused() {
    let h = harness!();
    let mut sleeper = std::process::Command::new("sleep")
        .arg("100")
        .spawn()
        .expect("spawn a host process");
    let spid = sleeper.id().to_string();
    let (ours, theirs) = (host::proc_cgroups("self"), host::proc_cgroups(&spid));
    // `/`, `/..` (cleaned to `/`) and `..` (relative, cleaned to `.`: our own cgroup).
    for path in ["/", "/../..", ".."] {
        let mut b = h.bundle_private();
        b.args(&["true"]);
        b.set("/linux/cgroupsPath", json!(path));
        let id = h.id();
        let (out, _) = h.try_create(&b, &id, &[]);
        out.assert_error("linux.cgroupsPath: ");
        assert!(out.stderr.contains("is not empty"), "{path}: {out}");
        b.remove("/linux/cgroupsPath");
        assert_nothing_left(&h, &id, &b);
    }
    assert_eq!(host::proc_cgroups("self"), ours);
    assert_eq!(host::proc_cgroups(&spid), theirs);
    assert_eq!(
        sleeper.try_wait().expect("wait"),
        None,
        "the host process died"
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

#[test]
fn cgroups_path_with_dot_dot_stays_inside_the_hierarchy() {
    let h = harness!();
    let name = format!("sangja-spec-dotdot-{}", h.id());
    let mut b = h.bundle();
    let mut check = |raw: String, want: &dyn Fn(&str) -> String| {
        b.set("/linux/cgroupsPath", json!(raw));
        let seen = parse_proc_cgroup(&h.sh(&mut b, "cat /proc/self/cgroup"));
        assert_eq!(seen.len(), cgroup_mounts().len(), "{seen:?}");
        for (ctrl, p) in &seen {
            assert_eq!(*p, want(ctrl), "{raw:?} in hierarchy {ctrl:?}");
        }
    };
    // Absolute: `..` stops at the hierarchy's root.
    check(format!("/../../{name}"), &|_| format!("/{name}"));
    host::assert_cgroup_gone(&name);
    // Relative: below our own cgroup however many `..` it has.
    let ours = host::proc_cgroups("self");
    let own = |ctrl: &str| -> String {
        let (_, p) = ours.iter().find(|(c, _)| c == ctrl).expect("our cgroup");
        format!("{}/{name}", p.trim_end_matches('/'))
    };
    check(format!("../../../../../../{name}"), &own);
    for (ctrl, _) in &ours {
        host::assert_cgroup_gone(&own(ctrl));
    }
    for up in ["/sys/fs", "/sys", "/"] {
        assert!(!Path::new(up).join(&name).exists(), "{up}/{name}");
    }
}

/// `delete --force` removes the cgroups made below the container's own (a container running
/// systemd or its own cgroup manager makes them), with a process in one, on every hierarchy;
/// `ps` lists that process too. The same against runc where it is installed.
#[test]
fn delete_force_removes_cgroups_made_below_the_containers() {
    let runtimes = spec_tests::sangja_and_runc!();
    for h in &runtimes {
        let mut b = h.bundle();
        let id = h.id();
        let cg = format!("/sangja-sub-test/{id}");
        b.set("/linux/cgroupsPath", json!(cg));
        b.args(&["sleep", "1000"]);
        b.write();
        h.cmd(&["create", "--bundle", b.dir_str(), &id]).ok();
        h.cmd(&["start", &id]).ok();
        h.cmd(&["exec", "-d", &id, "sleep", "1001"]).ok();
        let name = h.bin().display().to_string();
        let mut children = Vec::new();
        for m in cgroup_mounts() {
            let child = m
                .path
                .join(cg.trim_start_matches('/'))
                .join("child/grandchild");
            if fs::create_dir_all(&child).is_ok() {
                children.push(child);
            }
        }
        assert!(
            !children.is_empty(),
            "{name}: no hierarchy took a child cgroup"
        );
        // Whatever a failing runtime leaves: killed and removed, deepest first, at the end.
        let left: Vec<PathBuf> = children.clone();
        h.defer(move || {
            for c in &left {
                let top = c.parent().and_then(Path::parent).map(Path::to_path_buf);
                for d in [Some(c.clone()), c.parent().map(Path::to_path_buf), top]
                    .into_iter()
                    .flatten()
                {
                    let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
                    for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                        // SAFETY: kill(2) takes plain integers.
                        unsafe { libc::kill(p, libc::SIGKILL) };
                    }
                    let _ = host::wait_until(secs(2), || fs::remove_dir(&d).is_ok() || !d.exists());
                }
                if let Some(root) = c.ancestors().nth(3) {
                    let _ = fs::remove_dir(root);
                }
            }
        });
        // The exec'd sleep into the first child of the pids (or any) hierarchy.
        let pids: Vec<i64> =
            serde_json::from_str(&h.cmd(&["ps", "--format", "json", &id]).ok().stdout)
                .expect("ps json");
        let sleeper = pids.iter().copied().max().expect("two pids");
        let target = children
            .iter()
            .find(|c| c.to_string_lossy().contains("/pids/"))
            .unwrap_or(&children[0]);
        fs::write(target.join("cgroup.procs"), sleeper.to_string()).expect("move the sleeper");
        let after: Vec<i64> =
            serde_json::from_str(&h.cmd(&["ps", "--format", "json", &id]).ok().stdout)
                .expect("ps json");
        assert!(
            after.contains(&sleeper),
            "{name}: ps misses a process in a child cgroup: {after:?}"
        );
        h.cmd(&["delete", "--force", &id]).ok();
        for c in &children {
            let top = c
                .parent()
                .and_then(Path::parent)
                .expect("the container's cgroup");
            assert!(!top.exists(), "{name}: {} is left", top.display());
        }
        assert!(
            host::wait_until(secs(5), || !host::pid_alive(sleeper)),
            "{name}: the process in the child cgroup survived"
        );
        for m in cgroup_mounts() {
            let _ = fs::remove_dir(m.path.join("sangja-sub-test"));
        }
    }
}

/// A v1 cpuset parent someone else made with empty `cpuset.cpus`/`mems` (a new cgroup starts
/// empty there) refuses tasks: create fills it from above, as runc does, instead of failing
/// with "no space left on device". Against runc too where it is installed.
#[test]
fn an_empty_v1_cpuset_parent_is_filled_from_above() {
    let Some(cpuset) = cgroup_mounts()
        .into_iter()
        .find(|m| m.controllers.iter().any(|c| c == "cpuset"))
    else {
        spec_tests::skip!("empty cpuset parent", "no v1 cpuset hierarchy on this host");
    };
    let runtimes = spec_tests::sangja_and_runc!();
    for h in &runtimes {
        let parent_name = format!("sangja-empty-cpuset-{}", std::process::id());
        let parent = cpuset.path.join(&parent_name);
        let _ = fs::create_dir(&parent);
        let _ = fs::write(parent.join("cgroup.clone_children"), "0");
        let was = fs::read_to_string(parent.join("cpuset.cpus")).unwrap_or_default();
        let mut b = h.bundle();
        let id = h.id();
        // Runs after the harness deleted the container, also when a check failed.
        let (pn, leaf) = (parent_name.clone(), id.clone());
        h.defer(move || {
            for m in cgroup_mounts() {
                let _ = fs::remove_dir(m.path.join(&pn).join(&leaf));
                let _ = fs::remove_dir(m.path.join(&pn));
            }
        });
        b.set("/linux/cgroupsPath", json!(format!("/{parent_name}/{id}")));
        b.args(&["true"]);
        b.write();
        let out = h.cmd(&["run", "--bundle", b.dir_str(), &id]);
        let name = h.bin().display();
        assert!(
            out.success(),
            "{name} (parent cpus {:?}): {out}",
            was.trim()
        );
    }
}
