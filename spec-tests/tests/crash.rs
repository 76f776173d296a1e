//! Fault injection: the runtime is SIGKILLed at a random moment of `create`, `start`, `exec` or
//! `delete`, then recovered the way a shim recovers (`delete --force`, twice at once for some
//! rounds, once more after). Nothing of the container may remain: no state dir, no process, no
//! cgroup, no mount, nothing new in the state root (the CVE-2019-5736 re-exec's scratch dirs
//! were one such leftover).
//!
//! Rounds: 200 by default (`SANGJA_CRASH_ROUNDS`); the seed is printed and can be replayed with
//! `SANGJA_CRASH_SEED`. The kill delay is uniform over 0..1.25× the command's measured duration,
//! so that every moment of the command, including its very start and its end, is hit.
//!
//! An `exec` killed mid-way orphans its child to the host's pid 1, and a container's init cannot
//! finish exiting until that zombie is reaped: where pid 1 reaps slowly (this machine kind: ~2 s)
//! those rounds' `delete --force` waits for it. Under containerd or conmon, the shim is the
//! subreaper and reaps at once.

use std::collections::BTreeMap;
use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use spec_tests::leftovers::{leftovers, sweep};
use spec_tests::{harness, Bundle, Harness};

/// The four commands that are killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Create,
    Start,
    Exec,
    Delete,
}

const PHASES: [Phase; 4] = [Phase::Create, Phase::Start, Phase::Exec, Phase::Delete];

/// xorshift64*: enough randomness for kill points, replayable from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The command line of `phase` for container `id`.
fn args<'a>(phase: Phase, b: &'a Bundle, id: &'a str) -> Vec<&'a str> {
    match phase {
        Phase::Create => vec!["create", "--bundle", b.dir_str(), id],
        Phase::Start => vec!["start", id],
        Phase::Exec => vec!["exec", id, "sh", "-c", "sleep 0.02"],
        Phase::Delete => vec!["delete", "--force", id],
    }
}

fn spawn(h: &Harness, args: &[&str]) -> Child {
    Command::new(h.bin())
        .arg("--root")
        .arg(h.root())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", h.bin().display()))
}

/// Bring container `id` to where `phase` starts: nothing for create, created for start, running
/// for exec and delete.
fn prepare(h: &Harness, b: &Bundle, id: &str, phase: Phase) {
    if phase != Phase::Create {
        h.cmd(&["create", "--bundle", b.dir_str(), id]).ok();
    }
    if matches!(phase, Phase::Exec | Phase::Delete) {
        h.cmd(&["start", id]).ok();
    }
}

/// Median wall time of `phase`, run to completion three times.
fn typical(h: &Harness, b: &Bundle, phase: Phase) -> Duration {
    let mut times = Vec::new();
    for _ in 0..3 {
        let id = h.id();
        prepare(h, b, &id, phase);
        let t = Instant::now();
        let status = spawn(h, &args(phase, b, &id)).wait().expect("wait");
        times.push(t.elapsed());
        assert!(status.success(), "{phase:?} of {id} failed when not killed");
        h.cmd(&["delete", "--force", &id]).ok();
    }
    times.sort();
    times[1]
}

/// `delete --force` of `id`, `concurrent` of them at once; each must succeed.
fn recover(h: &Harness, id: &str, concurrent: usize) -> Vec<String> {
    let children: Vec<Child> = (0..concurrent)
        .map(|_| spawn(h, &["delete", "--force", id]))
        .collect();
    let mut failures = Vec::new();
    for mut c in children {
        match c.wait() {
            Ok(s) if s.success() => {}
            other => failures.push(format!("delete --force {id}: {other:?}")),
        }
    }
    failures
}

/// A bundle whose processes a leftover search finds: by its root (a private rootfs) or, before
/// the pivot, by the id on the command line.
fn looping(h: &Harness) -> Bundle {
    let mut b = h.bundle_private();
    b.args(&["sh", "-c", "while :; do sleep 1; done"]);
    b
}

#[test]
fn a_runtime_killed_at_any_moment_leaves_nothing_after_delete_force() {
    let h = harness!();
    let b = looping(&h);
    b.write();
    killed_at_random(&h, &b, 200);
}

/// The same with a new user namespace: the parent also maps it, and the init waits for the maps
/// and changes its ids (which clears its parent-death signal: it must be set again).
#[test]
fn a_runtime_killed_at_any_moment_of_a_user_namespaced_container_leaves_nothing() {
    let h = harness!();
    let mut b = looping(&h);
    b.push("/linux/namespaces", serde_json::json!({"type": "user"}));
    let map = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.set("/linux/uidMappings", map.clone());
    b.set("/linux/gidMappings", map);
    b.write();
    killed_at_random(&h, &b, 80);
}

/// The same for a staged init: a new user namespace beside a joined network namespace (held by
/// a plain process, so the state root holds only the container under test), built by the init,
/// which forks once more into the new pid namespace.
#[test]
fn a_runtime_killed_at_any_moment_of_a_staged_container_leaves_nothing() {
    let h = harness!();
    let mut b = looping(&h);
    let holder = spec_tests::host::ns_holder(&h);
    b.push("/linux/namespaces", serde_json::json!({"type": "user"}));
    let nss = b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces");
    nss.retain(|n| n["type"] != "network");
    nss.push(serde_json::json!({"type": "network", "path": format!("/proc/{holder}/ns/net")}));
    let map = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.set("/linux/uidMappings", map.clone());
    b.set("/linux/gidMappings", map);
    b.write();
    killed_at_random(&h, &b, 80);
}

/// `default_rounds` rounds (or `SANGJA_CRASH_ROUNDS`) of a command killed at a random moment and
/// recovered; fails listing every leftover.
fn killed_at_random(h: &Harness, b: &Bundle, default_rounds: u64) {
    let rounds: u64 = std::env::var("SANGJA_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_rounds);
    let seed: u64 = std::env::var("SANGJA_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    println!("crash: {rounds} rounds, SANGJA_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let typical: BTreeMap<Phase, Duration> =
        PHASES.iter().map(|&p| (p, typical(h, b, p))).collect();
    let before = fs::read_dir(h.root())
        .expect("state root")
        .flatten()
        .count();
    assert_eq!(before, 0, "the state root is empty between containers");

    // (killed mid-command, ran to completion) per phase; findings by kind.
    let mut outcomes: BTreeMap<Phase, (u32, u32)> = BTreeMap::new();
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for round in 0..rounds {
        let phase = PHASES[(round % 4) as usize];
        let id = h.id();
        prepare(h, b, &id, phase);
        let span = typical[&phase].as_micros() as u64 * 5 / 4;
        let delay = Duration::from_micros(rng.below(span));
        let mut child = spawn(h, &args(phase, b, &id));
        std::thread::sleep(delay);
        let finished = matches!(child.try_wait(), Ok(Some(_)));
        let _ = child.kill();
        let _ = child.wait();
        let o = outcomes.entry(phase).or_default();
        if finished {
            o.1 += 1;
        } else {
            o.0 += 1;
        }
        let concurrent = if round % 8 < 4 { 1 } else { 2 };
        let mut failures = recover(h, &id, concurrent);
        failures.extend(recover(h, &id, 1));
        for f in failures {
            found
                .entry("delete --force failed".into())
                .or_default()
                .push(f);
        }
        // Wait (briefly) for the kernel to finish what a SIGKILL started, then look.
        let mut left = Vec::new();
        spec_tests::host::wait_until(Duration::from_secs(2), || {
            left = leftovers(h, &id, b);
            left.is_empty()
        });
        for l in &left {
            let kind = l.split_whitespace().next().unwrap_or("?").to_string();
            found
                .entry(kind)
                .or_default()
                .push(format!("round {round} ({phase:?}, {delay:?}): {l}"));
        }
        if !left.is_empty() {
            // Recorded: now remove it, so that a failing runtime does not litter the host.
            sweep(h, &id, b);
        }
        for e in fs::read_dir(h.root()).expect("state root").flatten() {
            found
                .entry("state root entry".into())
                .or_default()
                .push(format!(
                    "round {round} ({phase:?}, {delay:?}): {:?}",
                    e.file_name()
                ));
            let _ = fs::remove_dir_all(e.path());
        }
    }
    for (phase, (killed, completed)) in &outcomes {
        println!(
            "crash: {phase:?}: killed mid-command {killed}, completed before the kill {completed} \
             (typical {:?})",
            typical[phase]
        );
    }
    let total: usize = found.values().map(Vec::len).sum();
    println!("crash: leftovers after {rounds} rounds: {total}");
    assert!(
        found.is_empty(),
        "leftovers by kind:\n{}",
        found
            .iter()
            .map(|(k, v)| format!("  {k}: {}\n    {}", v.len(), v.join("\n    ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Every phase was interrupted in the middle, not only before or after.
    for (phase, (killed, _)) in &outcomes {
        assert!(*killed > 0, "{phase:?} was never killed mid-command");
    }
}
