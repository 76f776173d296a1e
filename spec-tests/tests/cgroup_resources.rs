//! Cgroup resources on the host: every `linux.resources` field this host's kernel offers a file for is
//! read back from the cgroup files, and where the kernel offers none (a blkio weight without BFQ, swap
//! without swap accounting, ...) `create` refuses it naming the field and every file tried, and leaves
//! nothing (recorded as unchecked: the value itself cannot be applied there); limits are enforced (OOM kill,
//! pids, devices); a refused value fails create naming the field and the file; `update` changes the files.
//!
//! The host is read first (`host::v1_child_has` probes a fresh child cgroup): nothing here assumes a
//! kernel config. cgroup v1 or hybrid hosts; the `cgroups_v2` target runs the v2 checks in a VM.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use spec_tests::host::{self, assert_cgroup_gone, cgroup_mounts, read_trim, v1_dir, v1_hierarchy};
use spec_tests::{assert_nothing_left, harness, secs, Harness};

// ---------------------------------------------------------------------------------------------------------
// Resources, read back from the host's cgroup files

/// The cgroup2 mount of this host (hybrid: `/sys/fs/cgroup/unified`).
fn unified_mount() -> Option<PathBuf> {
    cgroup_mounts()
        .into_iter()
        .find(|m| m.fstype == "cgroup2")
        .map(|m| m.path)
}

/// Whether the tests run on a host with v1 controllers (v1 or hybrid); pure v2 is tested in a VM.
fn v1_host() -> bool {
    let v1 = v1_hierarchy("memory").is_some();
    if !v1 {
        spec_tests::unchecked!(
            "cgroup v1 files",
            "no cgroup v1 memory hierarchy (a pure cgroup v2 host; the cgroups_v2 target checks v2)"
        );
    }
    v1
}

fn read(ctrl: &str, path: &str, file: &str) -> String {
    let dir = v1_dir(ctrl, path).unwrap_or_else(|| panic!("no {ctrl} hierarchy"));
    read_trim(&dir.join(file))
}

/// A whole disk's `major:minor` (throttles refuse partitions), if the host has one.
fn a_disk() -> Option<String> {
    let mut disks: Vec<_> = fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram") && !n.starts_with("zram"))
        .collect();
    disks.sort();
    let d = disks.first()?;
    fs::read_to_string(format!("/sys/block/{d}/dev"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// A top-level cgroup path for one test (a direct child of the root, where realtime CPU budget can
/// be given), removed by `delete`.
fn top_level_path(h: &Harness, id: &str) -> String {
    let _ = h;
    format!("/sangja-spec-{id}")
}

/// Every `linux.resources` field on cgroup v1, one per line: the JSON pointer under `/linux/resources`,
/// the value (JSON), the controller, the file (`a|b`: `b` is written where `a` does not exist, BFQ's
/// weight), what the file then reads (`=x`: is x, `~x`: contains x), and what a kernel needs to offer
/// the file. (`memory.kernel` is not written: Linux no longer enforces it; fields.rs checks the warning.)
#[rustfmt::skip]
const V1_RESOURCES: &[[&str; 6]] = &[
    ["memory/limit", "67108864", "memory", "memory.limit_in_bytes", "=67108864", ""],
    ["memory/reservation", "33554432", "memory", "memory.soft_limit_in_bytes", "=33554432", ""],
    ["memory/swap", "134217728", "memory", "memory.memsw.limit_in_bytes", "=134217728",
     "swap accounting (CONFIG_MEMCG_SWAP, swapaccount=1)"],
    ["memory/kernelTCP", "16777216", "memory", "memory.kmem.tcp.limit_in_bytes", "=16777216",
     "kmem accounting"],
    ["memory/swappiness", "20", "memory", "memory.swappiness", "=20", ""],
    ["memory/disableOOMKiller", "true", "memory", "memory.oom_control", "~oom_kill_disable 1", ""],
    ["memory/useHierarchy", "true", "memory", "memory.use_hierarchy", "=1", ""],
    ["cpu/shares", "512", "cpu", "cpu.shares", "=512", "CONFIG_FAIR_GROUP_SCHED"],
    ["cpu/quota", "50000", "cpu", "cpu.cfs_quota_us", "=50000", "CONFIG_CFS_BANDWIDTH"],
    ["cpu/period", "100000", "cpu", "cpu.cfs_period_us", "=100000", "CONFIG_CFS_BANDWIDTH"],
    ["cpu/burst", "10000", "cpu", "cpu.cfs_burst_us", "=10000", "CONFIG_CFS_BANDWIDTH, Linux 5.14+"],
    ["cpu/realtimePeriod", "1000000", "cpu", "cpu.rt_period_us", "=1000000", "CONFIG_RT_GROUP_SCHED"],
    ["cpu/realtimeRuntime", "1000", "cpu", "cpu.rt_runtime_us", "=1000", "CONFIG_RT_GROUP_SCHED"],
    ["cpu/idle", "0", "cpu", "cpu.idle", "=0", "Linux 5.15+"],
    ["cpu/cpus", "\"0\"", "cpuset", "cpuset.cpus", "=0", ""],
    ["cpu/mems", "\"0\"", "cpuset", "cpuset.mems", "=0", ""],
    ["pids/limit", "32", "pids", "pids.max", "=32", ""],
    ["blockIO/weight", "300", "blkio", "blkio.weight|blkio.bfq.weight", "~300",
     "the BFQ I/O scheduler (CONFIG_IOSCHED_BFQ)"],
];

/// The blkio throttles on a whole disk `major:minor`: pointer, file, rate.
const V1_THROTTLES: &[(&str, &str, u64)] = &[
    (
        "blockIO/throttleReadBpsDevice",
        "blkio.throttle.read_bps_device",
        1 << 20,
    ),
    (
        "blockIO/throttleWriteBpsDevice",
        "blkio.throttle.write_bps_device",
        2 << 20,
    ),
    (
        "blockIO/throttleReadIOPSDevice",
        "blkio.throttle.read_iops_device",
        100,
    ),
    (
        "blockIO/throttleWriteIOPSDevice",
        "blkio.throttle.write_iops_device",
        200,
    ),
];

/// One row of [`V1_RESOURCES`] (or a throttle), parsed.
struct V1Resource {
    pointer: &'static str,
    value: Value,
    ctrl: &'static str,
    files: Vec<&'static str>,
    reads: String,
    needs: &'static str,
}

fn v1_resources(disk: Option<&str>) -> Vec<V1Resource> {
    let mut all: Vec<V1Resource> = V1_RESOURCES
        .iter()
        .map(|[pointer, value, ctrl, files, reads, needs]| V1Resource {
            pointer,
            value: serde_json::from_str(value).expect("table value"),
            ctrl,
            files: files.split('|').collect(),
            reads: reads.to_string(),
            needs,
        })
        .collect();
    if let Some(d) = disk {
        let (major, minor) = d.split_once(':').expect("major:minor");
        let (major, minor): (i64, i64) =
            (major.parse().expect("major"), minor.parse().expect("minor"));
        all.extend(
            V1_THROTTLES
                .iter()
                .map(|&(pointer, file, rate)| V1Resource {
                    pointer,
                    value: json!([{"major": major, "minor": minor, "rate": rate}]),
                    ctrl: "blkio",
                    files: vec![file],
                    reads: format!("={d} {rate}"),
                    needs: "CONFIG_BLK_DEV_THROTTLING",
                }),
        );
    }
    all
}

/// The JSON path sangja names for a resource pointer: `memory/swap` is `linux.resources.memory.swap`.
fn field_of(pointer: &str) -> String {
    format!("linux.resources.{}", pointer.replace('/', "."))
}

/// A resource this host's kernel has no file for: `create` with it fails naming the field and every
/// file tried (runc fails on the open too), and leaves nothing. Recorded as unchecked: the value itself
/// cannot be applied here.
fn refused_here(h: &Harness, r: &V1Resource) {
    let mut b = h.bundle();
    b.args(&["sleep", "100"]);
    b.set(&format!("/linux/resources/{}", r.pointer), r.value.clone());
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &[]);
    let field = field_of(r.pointer);
    out.assert_error(&format!("cgroup: {field}: this kernel offers "));
    for f in &r.files {
        assert!(out.stderr.contains(f), "error does not name {f}:\n{out}");
    }
    assert_nothing_left(h, &id, &b);
    spec_tests::unchecked!(
        format!("{field} applied to {}", r.files.join(" or ")),
        "this kernel has no such file{}; checked instead that create refuses it",
        if r.needs.is_empty() {
            String::new()
        } else {
            format!("; it needs {}", r.needs)
        }
    );
}

#[test]
fn every_v1_resource_is_in_the_cgroup_files() {
    if !v1_host() {
        spec_tests::skip!(
            "v1 resource files",
            "this host has no cgroup v1 controllers"
        );
    }
    let h = harness!();
    let disk = a_disk();
    if disk.is_none() {
        spec_tests::unchecked!(
            "blkio throttles",
            "no whole disk in /sys/block (throttles refuse partitions)"
        );
    }
    let (offered, missing): (Vec<_>, Vec<_>) =
        v1_resources(disk.as_deref()).into_iter().partition(|r| {
            r.files
                .iter()
                .any(|f| host::v1_child_has(r.ctrl, f) == Some(true))
        });
    for r in &missing {
        refused_here(&h, r);
    }

    let mut b = h.bundle();
    let id = h.id();
    let path = top_level_path(&h, &id);
    b.set("/linux/cgroupsPath", json!(path));
    b.args(&["sleep", "100"]);
    for r in &offered {
        b.set(&format!("/linux/resources/{}", r.pointer), r.value.clone());
    }
    let (out, c) = h.try_create(&b, &id, &[]);
    out.ok();
    for r in &offered {
        let dir = v1_dir(r.ctrl, &path).expect("hierarchy");
        let file = r
            .files
            .iter()
            .find(|f| dir.join(f).exists())
            .expect("offered file");
        let got = read_trim(&dir.join(file));
        if let Some(want) = r.reads.strip_prefix('=') {
            assert_eq!(got, want, "{file} for {}", r.pointer);
        } else if let Some(want) = r.reads.strip_prefix('~') {
            assert!(got.contains(want), "{file}: {got:?}, want {want}");
        }
    }

    // The init is in every one of them before it runs.
    let pid = h.pid(&c.id).to_string();
    for ctrl in ["memory", "cpu", "cpuset", "pids", "blkio", "devices"] {
        let procs = read(ctrl, &path, "cgroup.procs");
        assert!(procs.lines().any(|l| l == pid), "{ctrl}: {procs}");
    }
    h.cmd(&["delete", "--force", &c.id]).ok();
    assert_cgroup_gone(&path);
    assert_nothing_left(&h, &c.id, &b);
}

/// runc 1.1.5's `devices.list` for `runc spec`'s config (deny all, then its default allowed devices).
const RUNC_DEVICES_LIST: &str =
    "b *:* m\nc *:* m\nc 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\n\
                                 c 5:0 rwm\nc 5:2 rwm\nc 10:200 rwm\nc 136:* rwm";

#[test]
fn devices_are_runcs_default_list_and_the_rest_is_denied() {
    if !v1_host() {
        spec_tests::skip!("cgroup v1 files", "this host has no cgroup v1 controllers");
    }
    let h = harness!();
    let mut b = h.bundle();
    // A node for loop0 (block 7:0) exists inside, but only the second container may open it.
    b.set(
        "/linux/devices",
        json!([{"path": "/dev/loop-spec", "type": "b", "major": 7, "minor": 0, "fileMode": 0o600}]),
    );
    b.args(&["sleep", "100"]);
    let c = h.create(&b);
    let path = format!("/sangja/{}", c.id);
    assert_eq!(read("devices", &path, "devices.list"), RUNC_DEVICES_LIST);
    h.cmd(&["delete", "--force", &c.id]).ok();

    // The defaults work; the node of a device the rules do not allow cannot be opened.
    let out = h.sh(
        &mut b,
        "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; \
         head -c 4 /dev/urandom | wc -c; \
         dd if=/dev/loop-spec of=/dev/null count=0 2>&1 | grep -o 'Operation not permitted'",
    );
    assert_eq!(out, "4\nnull-ok\n4\nOperation not permitted\n");
    // An allow rule in linux.resources.devices opens it (read only: write is still denied).
    b.push(
        "/linux/resources/devices",
        json!({"allow": true, "type": "b", "major": 7, "minor": 0, "access": "r"}),
    );
    let out = h.sh(
        &mut b,
        "dd if=/dev/loop-spec of=/dev/null count=0 >/dev/null 2>&1 && echo read-ok; \
         dd if=/dev/zero of=/dev/loop-spec count=0 2>&1 | grep -o 'Operation not permitted'",
    );
    assert_eq!(out, "read-ok\nOperation not permitted\n");
}

#[test]
fn hugetlb_limit_on_the_cgroup2_side_of_a_hybrid_host() {
    // Here hugetlb is bound to the hybrid host's cgroup2 mount (no v1 hugetlb hierarchy): sangja enables
    // it down to the container's parent and writes hugetlb.<size>.max there.
    let h = harness!();
    let (file, mount) = match v1_hierarchy("hugetlb") {
        Some(m) => ("hugetlb.2MB.limit_in_bytes", m),
        None => {
            let Some(u) = unified_mount() else {
                spec_tests::skip!(
                    "hugetlb limits",
                    "no hugetlb controller (no v1 hierarchy, no cgroup2 mount)"
                );
            };
            let ctrls = read_trim(&u.join("cgroup.controllers"));
            if !ctrls.split_whitespace().any(|c| c == "hugetlb") {
                spec_tests::skip!(
                    "hugetlb limits",
                    "no hugetlb controller (CONFIG_CGROUP_HUGETLB)"
                );
            }
            ("hugetlb.2MB.max", u)
        }
    };
    if !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        spec_tests::skip!(
            "hugetlb limits",
            "no 2MB huge pages (/sys/kernel/mm/hugepages/hugepages-2048kB)"
        );
    }
    let mut b = h.bundle();
    b.set(
        "/linux/resources/hugepageLimits",
        json!([{"pageSize": "2MB", "limit": 4u64 << 21}]),
    );
    b.args(&["sleep", "100"]);
    let c = h.create(&b);
    let dir = mount.join(format!("sangja/{}", c.id));
    assert_eq!(read_trim(&dir.join(file)), (4u64 << 21).to_string());
    h.cmd(&["delete", "--force", &c.id]).ok();
    assert!(!dir.exists());
}

#[test]
fn refused_values_fail_create_naming_field_and_file_and_leave_nothing() {
    if !v1_host() {
        spec_tests::skip!("cgroup v1 files", "this host has no cgroup v1 controllers");
    }
    let h = harness!();
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        // The kernel refuses it (ERANGE): the field, the file and the value are named.
        (
            "/linux/resources/cpu",
            json!({"cpus": "99"}),
            vec!["linux.resources.cpu.cpus", "cpuset.cpus", "99"],
        ),
        // Refused before anything is written.
        (
            "/linux/resources/memory",
            json!({"swappiness": 101}),
            vec!["linux.resources.memory.swappiness", "0-100"],
        ),
        (
            "/linux/resources/unified",
            json!({"memory.high": "1000000"}),
            vec!["linux.resources.unified", "cgroup v2"],
        ),
        // A memory limit below what the init needs is refused by the kernel once the init joins,
        // or the init is OOM-killed: either way create fails cleanly.
    ];
    for (pointer, value, needles) in cases {
        let mut b = h.bundle();
        b.args(&["sleep", "100"]);
        b.set(pointer, value);
        let id = h.id();
        let (out, _) = h.try_create(&b, &id, &[]);
        out.failed();
        for n in needles {
            assert!(out.stderr.contains(n), "error does not name {n:?}:\n{out}");
        }
        assert_nothing_left(&h, &id, &b);
    }
    // A controller this host does not mount (net_cls here) is named.
    if v1_hierarchy("net_cls").is_none() {
        let mut b = h.bundle();
        b.set("/linux/resources/network", json!({"classID": 1048577}));
        let id = h.id();
        let (out, _) = h.try_create(&b, &id, &[]);
        out.assert_error("linux.resources.network.classID: the net_cls controller is not mounted");
        assert_nothing_left(&h, &id, &b);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Enforcement

#[test]
fn a_memory_hog_is_oom_killed_and_events_reports_it() {
    if !v1_host() {
        spec_tests::skip!("cgroup v1 files", "this host has no cgroup v1 controllers");
    }
    let h = harness!();
    let mut b = h.bundle();
    let limit = 16u64 << 20;
    b.set(
        "/linux/resources/memory",
        json!({"limit": limit, "swap": limit}),
    );
    // dd allocates its 64 MiB block and fills it: far over the limit.
    b.args(&[
        "sh",
        "-c",
        "sleep 0.5; dd if=/dev/zero of=/dev/null bs=64M count=1; echo dd=$?; sleep 0.5",
    ]);
    let c = h.create_and_start(&b);
    let events = h.cmd(&["events", "--interval", "300ms", &c.id]);
    events.ok();
    let lines: Vec<Value> = events
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|e| e["type"] == "oom" && e["id"] == c.id.as_str()),
        "no oom event:\n{}",
        events.stdout
    );
    assert!(
        lines.iter().any(|e| e["type"] == "stats"),
        "{}",
        events.stdout
    );
    assert!(
        host::wait_until(secs(5), || c.output().contains("dd=137")),
        "dd was not SIGKILLed: {:?}",
        c.output()
    );
}

#[test]
fn a_fork_loop_stops_at_the_pids_limit() {
    if !v1_host() {
        spec_tests::skip!("cgroup v1 files", "this host has no cgroup v1 controllers");
    }
    let h = harness!();
    let mut b = h.bundle();
    b.set("/linux/resources/pids", json!({"limit": 8}));
    b.args(&[
        "sh",
        "-c",
        // A failed fork ends a busybox shell: fork in a subshell, and exec (no fork) at the end.
        "(for i in $(seq 30); do sleep 100 & done) 2>/dev/null; echo forked; exec sleep 100",
    ]);
    let c = h.create_and_start(&b);
    assert!(
        host::wait_until(secs(10), || c.output().contains("forked")),
        "{:?}",
        c.output()
    );
    let path = format!("/sangja/{}", c.id);
    let current: u64 = read("pids", &path, "pids.current").parse().unwrap_or(99);
    assert!((2..=8).contains(&current), "pids.current {current}");
    let events = read("pids", &path, "pids.events");
    let refused: u64 = events
        .strip_prefix("max ")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(refused > 0, "pids.events: {events}");
}

#[test]
fn update_changes_limits_in_the_files() {
    if !v1_host() {
        spec_tests::skip!("cgroup v1 files", "this host has no cgroup v1 controllers");
    }
    let h = harness!();
    let mut b = h.bundle();
    b.set("/linux/resources/memory/limit", json!(64u64 << 20));
    b.set("/linux/resources/pids/limit", json!(64));
    b.args(&["sleep", "100"]);
    let c = h.create_and_start(&b);
    let path = format!("/sangja/{}", c.id);
    h.cmd(&[
        "update",
        "--memory",
        "128M",
        "--pids-limit",
        "100",
        "--cpu-share",
        "256",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        "--cpuset-cpus",
        "0",
        &c.id,
    ])
    .ok();
    assert_eq!(
        read("memory", &path, "memory.limit_in_bytes"),
        (128u64 << 20).to_string()
    );
    assert_eq!(read("pids", &path, "pids.max"), "100");
    assert_eq!(read("cpu", &path, "cpu.shares"), "256");
    assert_eq!(read("cpu", &path, "cpu.cfs_quota_us"), "20000");
    assert_eq!(read("cpuset", &path, "cpuset.cpus"), "0");
    // The blkio weight where the kernel has a file for it (BFQ), else the error naming the field and both
    // files; either way the update changes nothing else.
    let weight = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| v1_dir("blkio", &path).is_some_and(|d| d.join(f).exists()));
    let out = h.cmd(&["update", "--blkio-weight", "200", &c.id]);
    match weight {
        Some(file) => {
            out.ok();
            assert!(read("blkio", &path, file).ends_with("200"), "{file}");
        }
        None => {
            out.assert_error(
                "linux.resources.blockIO.weight: this kernel offers neither blkio.weight nor blkio.bfq.weight",
            );
            spec_tests::unchecked!(
                "update --blkio-weight applied",
                "this kernel has no blkio.weight or blkio.bfq.weight (no BFQ I/O scheduler); checked the error"
            );
        }
    }
    assert_eq!(read("pids", &path, "pids.max"), "100");
    // Memory and swap growing past the old swap limit: swap is written first.
    let memsw =
        v1_dir("memory", &path).is_some_and(|d| d.join("memory.memsw.limit_in_bytes").exists());
    if !memsw {
        h.cmd(&["update", "--memory", "200M", "--memory-swap", "400M", &c.id])
            .assert_error(
                "linux.resources.memory.swap: this kernel offers no memory.memsw.limit_in_bytes",
            );
        spec_tests::unchecked!(
            "update --memory-swap applied",
            "no swap accounting (memory.memsw.*); checked the error"
        );
    } else {
        h.cmd(&["update", "--memory", "200M", "--memory-swap", "400M", &c.id])
            .ok();
        h.cmd(&["update", "--memory", "500M", "--memory-swap", "1g", &c.id])
            .ok();
        assert_eq!(
            read("memory", &path, "memory.limit_in_bytes"),
            (500u64 << 20).to_string()
        );
        assert_eq!(
            read("memory", &path, "memory.memsw.limit_in_bytes"),
            (1u64 << 30).to_string()
        );
    }
    // A LinuxResources document (runc's -r), from a file.
    let doc = h.tempdir("update").join("resources.json");
    fs::write(
        &doc,
        r#"{"memory": {"limit": 100663296}, "pids": {"limit": 20}}"#,
    )
    .expect("write resources");
    h.cmd(&["update", "-r", doc.to_str().expect("utf-8"), &c.id])
        .ok();
    assert_eq!(read("memory", &path, "memory.limit_in_bytes"), "100663296");
    assert_eq!(read("pids", &path, "pids.max"), "20");
    // A value the kernel refuses names the field and the file; nothing changes.
    h.cmd(&["update", "--cpuset-cpus", "99", &c.id])
        .assert_error("linux.resources.cpu.cpus");
    assert_eq!(read("cpuset", &path, "cpuset.cpus"), "0");
    h.cmd(&["update", "--memory", "lots", &c.id])
        .assert_error("--memory");
    h.cmd(&["kill", &c.id, "KILL"]).ok();
    h.wait_status(&c.id, "stopped", secs(10));
    h.cmd(&["update", "--pids-limit", "5", &c.id])
        .assert_error("container not running");
}
