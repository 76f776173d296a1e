//! Planning and writing resources, against directories of plain files standing in for cgroups
//! (no root needed): which file gets which value, in which order, and the errors' wording.
use super::create::resolve;
use super::layout::{statfs_type, CGROUP2_SUPER_MAGIC, CGROUP_ROOT, UNIFIED_ROOT};
use super::*;

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

/// A cgroup over `dirs` as given, in a fresh temp directory.
struct Fake {
    base: PathBuf,
    cg: Cgroup,
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

fn fake(layout: Layout, controllers: &[&str]) -> Fake {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let base = std::env::temp_dir().join(format!("sangja-cg-unit-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&base);
    let dirs = controllers
        .iter()
        .map(|c| {
            let name = if c.is_empty() { "unified" } else { c };
            let d = base.join(name.replace(',', "_")).join("sangja/x");
            fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
            (c.to_string(), d)
        })
        .collect();
    Fake {
        base,
        cg: Cgroup {
            layout,
            path: "/sangja/x".into(),
            dirs,
            unit: None,
        },
    }
}

/// (controllers, file, value) of each planned write.
fn planned(cg: &Cgroup, r: &LinuxResources, mode: Mode) -> Vec<(String, String, String)> {
    cg.plan(Some(r), mode)
        .unwrap_or_else(|e| panic!("plan: {e}"))
        .into_iter()
        .map(|w| (cg.dirs[w.dir].0.clone(), w.w.file.into_owned(), w.w.value))
        .collect()
}

fn t(c: &str, f: &str, v: &str) -> (String, String, String) {
    (c.into(), f.into(), v.into())
}

const V1: &[&str] = &[
    "cpu,cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls,net_prio",
    "rdma",
    "name=systemd",
];

#[test]
fn relative_paths_resolve_under_own_cgroup() {
    assert_eq!(resolve("/sangja/x", "/a/b"), "/sangja/x");
    assert_eq!(resolve("x/y", "/a/b"), "/a/b/x/y");
    assert_eq!(resolve("x", "/"), "/x");
}

#[test]
fn every_v1_resource_goes_to_its_file() {
    let f = fake(Layout::V1, V1);
    let r = res(r#"{
        "memory": {"limit": 1000, "reservation": 500, "swap": 2000, "kernel": 3000,
                   "kernelTCP": 4000, "swappiness": 10, "disableOOMKiller": true,
                   "useHierarchy": true},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000,
                "realtimeRuntime": 900, "realtimePeriod": 1000, "cpus": "0", "mems": "0", "idle": 1},
        "pids": {"limit": 32},
        "blockIO": {"weight": 300, "leafWeight": 200,
                    "weightDevice": [{"major": 8, "minor": 0, "weight": 100, "leafWeight": 50}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                    "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
                    "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 200}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
        "rdma": {"mlx4_0": {"hcaHandles": 2, "hcaObjects": 2000}}
    }"#);
    let got = planned(&f.cg, &r, Mode::Create);
    let dev_writes = 1 + devices::DEFAULT_RULES.len();
    let want = vec![
        t("cpuset", "cpuset.cpus", "0"),
        t("cpuset", "cpuset.mems", "0"),
        t("memory", "memory.swappiness", "10"),
        t("memory", "memory.limit_in_bytes", "1000"),
        t("memory", "memory.memsw.limit_in_bytes", "2000"),
        t("memory", "memory.soft_limit_in_bytes", "500"),
        t("memory", "memory.kmem.tcp.limit_in_bytes", "4000"),
        t("memory", "memory.oom_control", "1"),
        t("memory", "memory.use_hierarchy", "1"),
        t("cpu,cpuacct", "cpu.rt_period_us", "1000"),
        t("cpu,cpuacct", "cpu.rt_runtime_us", "900"),
        t("cpu,cpuacct", "cpu.shares", "512"),
        t("cpu,cpuacct", "cpu.cfs_period_us", "100000"),
        t("cpu,cpuacct", "cpu.cfs_quota_us", "50000"),
        t("cpu,cpuacct", "cpu.cfs_burst_us", "1000"),
        t("cpu,cpuacct", "cpu.idle", "1"),
        t("pids", "pids.max", "32"),
        t("blkio", "blkio.weight", "300"),
        t("blkio", "blkio.leaf_weight", "200"),
        t("blkio", "blkio.weight_device", "8:0 100"),
        t("blkio", "blkio.leaf_weight_device", "8:0 50"),
        t("blkio", "blkio.throttle.read_bps_device", "8:0 1048576"),
        t("blkio", "blkio.throttle.write_bps_device", "8:0 2097152"),
        t("blkio", "blkio.throttle.read_iops_device", "8:0 100"),
        t("blkio", "blkio.throttle.write_iops_device", "8:0 200"),
        t("hugetlb", "hugetlb.2MB.limit_in_bytes", "4194304"),
        t("hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes", "4194304"),
        t("net_cls,net_prio", "net_cls.classid", "1048577"),
        t("net_cls,net_prio", "net_prio.ifpriomap", "eth0 5"),
        t("rdma", "rdma.max", "mlx4_0 hca_handle=2 hca_object=2000"),
    ];
    let (devs, rest): (Vec<_>, Vec<_>) = got.into_iter().partition(|w| w.0 == "devices");
    assert_eq!(rest, want);
    assert_eq!(devs.len(), dev_writes);
    assert_eq!(devs[0], t("devices", "devices.deny", "a"));
    assert_eq!(devs[3], t("devices", "devices.allow", "c 1:3 rwm"));
    // runc spec's config starts with a deny-all: no second one.
    let r = res(r#"{"devices": [{"allow": false, "access": "rwm"}]}"#);
    let devs: Vec<_> = planned(&f.cg, &r, Mode::Create);
    assert_eq!(devs.len(), dev_writes);
    assert_eq!(devs[0], t("devices", "devices.deny", "a *:* rwm"));
}

#[test]
fn writes_land_in_the_files_and_reuse_one_fd_per_file() {
    let f = fake(Layout::V1, &["memory", "devices", "blkio"]);
    for (ctrl, file) in [
        ("memory", "memory.limit_in_bytes"),
        ("devices", "devices.allow"),
        ("devices", "devices.deny"),
        ("blkio", "blkio.bfq.weight"),
    ] {
        let d = &f.cg.dirs[f.cg.index_of(ctrl).unwrap_or(0)].1;
        fs::write(d.join(file), "").unwrap_or_default();
    }
    let r = res(r#"{"memory": {"limit": 4096}, "blockIO": {"weight": 300}}"#);
    let w = f.cg.plan(Some(&r), Mode::Create).unwrap_or_default();
    f.cg.execute(&w).unwrap_or_else(|e| panic!("{e}"));
    let read = |ctrl: &str, file: &str| {
        let d = &f.cg.dirs[f.cg.index_of(ctrl).unwrap_or(0)].1;
        fs::read_to_string(d.join(file)).unwrap_or_default()
    };
    assert_eq!(read("memory", "memory.limit_in_bytes"), "4096");
    // blkio.weight does not exist: BFQ's file gets the weight.
    assert_eq!(read("blkio", "blkio.bfq.weight"), "300");
    assert_eq!(read("devices", "devices.deny"), "a");
    // One open file, written rule by rule.
    let allow: String = devices::DEFAULT_RULES
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(read("devices", "devices.allow"), allow);
}

#[test]
fn a_refused_write_names_the_field_and_the_file() {
    let f = fake(Layout::V1, &["cpuset"]);
    let r = res(r#"{"cpu": {"cpus": "99"}}"#);
    let w = f.cg.plan(Some(&r), Mode::Create).unwrap_or_default();
    // cpuset.cpus is a directory in the fake: EISDIR stands in for the kernel's ERANGE.
    let d = &f.cg.dirs[f.cg.index_of("cpuset").unwrap_or(0)].1;
    fs::create_dir(d.join("cpuset.cpus")).unwrap_or_else(|e| panic!("{e}"));
    let e =
        f.cg.execute(&w)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
    assert!(e.contains("linux.resources.cpu.cpus"), "{e}");
    assert!(e.contains("cpuset.cpus"), "{e}");
    assert!(e.contains("\"99\""), "{e}");
}

#[test]
fn a_file_the_kernel_lacks_names_the_field_and_every_file_tried() {
    // No BFQ: neither blkio.weight nor blkio.bfq.weight exists (as on kernels without
    // CONFIG_IOSCHED_BFQ); runc fails on the open too.
    let f = fake(Layout::V1, &["blkio"]);
    let r = res(r#"{"blockIO": {"weight": 300}}"#);
    let w = f.cg.plan(Some(&r), Mode::Create).unwrap_or_default();
    let e =
        f.cg.execute(&w)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
    assert!(
        e.starts_with("cgroup: linux.resources.blockIO.weight: "),
        "{e}"
    );
    assert!(
        e.contains("offers neither blkio.weight nor blkio.bfq.weight in "),
        "{e}"
    );
}

#[test]
fn zero_means_unset_as_in_runc() {
    let f = fake(Layout::V1, V1);
    let r = res(r#"{"memory": {"limit": 0, "swap": 0, "reservation": 0},
                   "cpu": {"shares": 0, "quota": 0, "period": 0, "cpus": ""},
                   "pids": {"limit": 0}, "blockIO": {"weight": 0}}"#);
    assert_eq!(planned(&f.cg, &r, Mode::Update), vec![]);
    let r = res(r#"{"pids": {"limit": -1}}"#);
    assert_eq!(
        planned(&f.cg, &r, Mode::Update),
        vec![t("pids", "pids.max", "max")]
    );
}

#[test]
fn update_orders_swap_before_a_growing_limit() {
    let f = fake(Layout::V1, &["memory"]);
    let d = f.cg.dirs[0].1.clone();
    fs::write(d.join("memory.limit_in_bytes"), "1000\n").unwrap_or_default();
    let grow = res(r#"{"memory": {"limit": 3000, "swap": 6000}}"#);
    assert_eq!(
        planned(&f.cg, &grow, Mode::Update),
        vec![
            t("memory", "memory.memsw.limit_in_bytes", "6000"),
            t("memory", "memory.limit_in_bytes", "3000"),
        ]
    );
    fs::write(d.join("memory.limit_in_bytes"), "9000\n").unwrap_or_default();
    let shrink = res(r#"{"memory": {"limit": 3000, "swap": 6000}}"#);
    assert_eq!(
        planned(&f.cg, &shrink, Mode::Update),
        vec![
            t("memory", "memory.limit_in_bytes", "3000"),
            t("memory", "memory.memsw.limit_in_bytes", "6000"),
        ]
    );
}

#[test]
fn check_before_update_refuses_a_limit_under_usage() {
    let f = fake(Layout::V1, &["memory"]);
    let d = f.cg.dirs[0].1.clone();
    fs::write(d.join("memory.usage_in_bytes"), "5000\n").unwrap_or_default();
    let r = res(r#"{"memory": {"limit": 4096, "checkBeforeUpdate": true}}"#);
    let e =
        f.cg.plan(Some(&r), Mode::Update)
            .err()
            .map(|e| e.to_string());
    assert!(
        e.as_deref()
            .is_some_and(|e| e.contains("linux.resources.memory.limit") && e.contains("5000")),
        "{e:?}"
    );
    let r = res(r#"{"memory": {"limit": 8192, "checkBeforeUpdate": true}}"#);
    assert!(f.cg.plan(Some(&r), Mode::Update).is_ok());
}

#[test]
fn invalid_values_fail_before_any_write() {
    let f = fake(Layout::V1, V1);
    for (json, field) in [
        (
            r#"{"memory": {"swappiness": 101}}"#,
            "linux.resources.memory.swappiness",
        ),
        (
            r#"{"unified": {"memory.high": "1"}}"#,
            "linux.resources.unified",
        ),
        (
            r#"{"hugepageLimits": [{"pageSize": "../x", "limit": 1}]}"#,
            "linux.resources.hugepageLimits[0].pageSize",
        ),
        (
            r#"{"devices": [{"allow": true, "type": "p", "access": "r"}]}"#,
            "linux.resources.devices[0].type",
        ),
    ] {
        let e =
            f.cg.plan(Some(&res(json)), Mode::Create)
                .err()
                .map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains(field)),
            "{json}: {e:?}"
        );
    }
}

#[test]
fn a_controller_the_host_lacks_is_named() {
    let f = fake(Layout::V1, &["memory", "devices"]);
    let r = res(r#"{"network": {"classID": 5}}"#);
    let e =
        f.cg.plan(Some(&r), Mode::Create)
            .err()
            .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("cgroup: linux.resources.network.classID: the net_cls controller is not mounted on this host")
    );
    // An empty section needs no controller.
    let r = res(r#"{"network": {}, "hugepageLimits": []}"#);
    assert!(f.cg.plan(Some(&r), Mode::Create).is_ok());
}

#[test]
fn v2_resources_and_conversions() {
    let f = fake(Layout::V2, &[""]);
    let r = res(r#"{
        "memory": {"limit": 1000, "swap": 3000, "reservation": 500, "swappiness": 10},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 10, "idle": 0,
                "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 10},
        "blockIO": {"weight": 500,
                    "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}]},
        "hugepageLimits": [{"pageSize": "1GB", "limit": -1}],
        "rdma": {"mlx5_1": {"hcaHandles": 3}},
        "unified": {"memory.high": "900", "cgroup.max.depth": "3"}
    }"#);
    let got: Vec<_> = planned(&f.cg, &r, Mode::Create)
        .into_iter()
        .map(|(_, f, v)| (f, v))
        .collect();
    let p = |f: &str, v: &str| (f.to_string(), v.to_string());
    assert_eq!(
        got,
        vec![
            p("cpuset.cpus", "0-1"),
            p("cpuset.mems", "0"),
            p("memory.swap.max", "2000"),
            p("memory.max", "1000"),
            p("memory.low", "500"),
            p("cpu.weight", "39"),
            p("cpu.max", "50000 100000"),
            p("cpu.max.burst", "10"),
            p("cpu.idle", "0"),
            p("pids.max", "10"),
            p("io.bfq.weight", "500"),
            p("io.bfq.weight", "8:0 100"),
            p("io.max", "8:0 rbps=1000"),
            p("io.max", "8:0 wiops=max"),
            p("hugetlb.1GB.max", "max"),
            p("hugetlb.1GB.rsvd.max", "max"),
            p("rdma.max", "mlx5_1 hca_handle=3"),
            p("cgroup.max.depth", "3"),
            p("memory.high", "900"),
        ]
    );
    // runc's conversions.
    assert_eq!(v2::shares_to_weight(2), 1);
    assert_eq!(v2::shares_to_weight(262_144), 10_000);
    assert_eq!(v2::blkio_to_io_weight(10), 1);
    assert_eq!(v2::blkio_to_io_weight(1000), 10_000);
    for (json, field) in [
        (
            r#"{"memory": {"swap": 3000}}"#,
            "linux.resources.memory.swap",
        ),
        (
            r#"{"memory": {"limit": 3000, "swap": 1000}}"#,
            "linux.resources.memory.swap",
        ),
        (
            r#"{"cpu": {"realtimeRuntime": 5}}"#,
            "linux.resources.cpu.realtimeRuntime",
        ),
        (
            r#"{"unified": {"../x": "1"}}"#,
            "linux.resources.unified[\"../x\"]",
        ),
    ] {
        let e =
            f.cg.plan(Some(&res(json)), Mode::Create)
                .err()
                .map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains(field)),
            "{json}: {e:?}"
        );
    }
}

#[test]
fn v2_update_keeps_the_other_half_of_cpu_max() {
    let f = fake(Layout::V2, &[""]);
    fs::write(f.cg.dirs[0].1.join("cpu.max"), "20000 100000\n").unwrap_or_default();
    let r = res(r#"{"cpu": {"period": 50000}}"#);
    assert_eq!(
        planned(&f.cg, &r, Mode::Update),
        vec![t("", "cpu.max", "20000 50000")]
    );
}

#[test]
fn hybrid_uses_cgroup2_for_controllers_v1_lacks() {
    // This machine: hugetlb is bound to the cgroup2 mount, memory to its v1 hierarchy.
    let f = fake(Layout::Hybrid, &["memory", ""]);
    let r = res(r#"{"memory": {"limit": 100},
                   "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]}"#);
    let w = f.cg.plan(Some(&r), Mode::Create).unwrap_or_default();
    let hug: Vec<_> = w
        .iter()
        .filter(|w| w.w.file.starts_with("hugetlb"))
        .collect();
    assert_eq!(hug[0].w.file, "hugetlb.2MB.max");
    assert_eq!(f.cg.dirs[hug[0].dir].0, "");
    assert_eq!(hug[0].v2_controller.as_deref(), Some("hugetlb"));
    let mem: Vec<_> = w
        .iter()
        .filter(|w| w.w.file.starts_with("memory"))
        .collect();
    assert_eq!(f.cg.dirs[mem[0].dir].0, "memory");
    // v1-only controllers do not fall back to cgroup2.
    let r = res(r#"{"network": {"classID": 1}}"#);
    assert!(f.cg.plan(Some(&r), Mode::Create).is_err());
}

#[test]
fn controllers_are_enabled_down_to_the_parent() {
    let f = fake(Layout::V2, &[""]);
    let root = f.base.join("unified");
    let dir = root.join("sangja/x");
    for d in [&root, &root.join("sangja")] {
        fs::write(d.join("cgroup.subtree_control"), "").unwrap_or_default();
    }
    assert!(v2::enable_controller(&root, &dir, "hugetlb").is_ok());
    for d in [&root, &root.join("sangja")] {
        let v = fs::read_to_string(d.join("cgroup.subtree_control")).unwrap_or_default();
        assert_eq!(v, "+hugetlb");
    }
    assert!(!dir.join("cgroup.subtree_control").exists());
}

/// The device program passes the kernel's verifier and attaches to a cgroup2 directory (the
/// hybrid host's `unified` mount will do: attaching works there, `create` only does it on pure
/// v2). Skipped (and recorded) without root or without a cgroup2 mount.
#[test]
fn device_program_loads_and_attaches() {
    let root = [CGROUP_ROOT, UNIFIED_ROOT]
        .into_iter()
        .find(|r| statfs_type(r) == Some(CGROUP2_SUPER_MAGIC));
    if !nix::unistd::geteuid().is_root() {
        spec_tests::skip!("the device program in the kernel", "not root");
    }
    let Some(root) = root else {
        spec_tests::skip!("the device program in the kernel", "no cgroup2 mount");
    };
    let spec: Vec<oci_spec::runtime::LinuxDeviceCgroup> = serde_json::from_str(
        r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":8,"minor":0,"access":"r"},
            {"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]"#,
    )
    .unwrap();
    let insns = devices::program(&devices::rules(Some(&spec)).unwrap());
    let dir = Path::new(root).join(format!("sangja-bpf-unit-{}", std::process::id()));
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    let t0 = std::time::Instant::now();
    let r = v2::attach_device_program(&dir, &insns);
    eprintln!(
        "load+attach of {} instructions: {:?}",
        insns.len(),
        t0.elapsed()
    );
    let _ = fs::remove_dir(&dir);
    r.unwrap_or_else(|e| panic!("{e}"));
    // A program the verifier refuses (no exit) names the field and carries the verifier's log.
    let dir2 = Path::new(root).join(format!("sangja-bpf-unit2-{}", std::process::id()));
    fs::create_dir(&dir2).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir2.display()));
    let r = v2::attach_device_program(&dir2, &insns[..2]);
    let _ = fs::remove_dir(&dir2);
    let e = r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("linux.resources.devices"), "{e}");
    assert!(e.contains("verifier"), "{e}");
}

#[test]
fn cpu_shares_outside_the_kernels_range_are_refused_on_every_layout() {
    for (layout, ctrls) in [(Layout::V1, V1), (Layout::V2, &[""][..])] {
        let f = fake(layout, ctrls);
        for mode in [Mode::Create, Mode::Update] {
            for (shares, bound) in [
                (262_145u64, "maximum allowed cpu-shares is 262144"),
                (1, "minimum allowed cpu-shares is 2"),
            ] {
                let r = res(&format!(r#"{{"cpu": {{"shares": {shares}}}}}"#));
                let e = f.cg.plan(Some(&r), mode).expect_err("refused").to_string();
                assert_eq!(
                    e,
                    format!(
                        "cgroup: linux.resources.cpu.shares: {shares} is out of range: the {bound}"
                    ),
                    "{layout:?} {mode:?}"
                );
            }
            for ok in [0u64, 2, 262_144] {
                let r = res(&format!(r#"{{"cpu": {{"shares": {ok}}}}}"#));
                assert!(f.cg.plan(Some(&r), mode).is_ok(), "{ok} on {layout:?}");
            }
        }
    }
}

#[test]
fn a_systemd_unit_start_is_planned_and_checked_once_before_anything_is_made() {
    let host = Host {
        layout: Layout::V2,
        hierarchies: vec![],
    };
    let cg = Cgroup::systemd(&host, "system.slice:sangja:u1", "u1").unwrap();
    let r = res(r#"{"memory": {"limit": 67108864}, "pids": {"limit": 9},
        "cpu": {"quota": 12345, "period": 100000}}"#);
    let plan = cg.plan_unit(Some(&r)).unwrap();
    let props: Vec<&str> = plan.resources.iter().map(|g| &*g.prop.0).collect();
    assert_eq!(
        props,
        [
            "MemoryMax",
            "CPUQuotaPeriodUSec",
            "CPUQuotaPerSecUSec",
            "TasksMax"
        ]
    );
    // The file follows the unit's rounding of the quota (to 10 ms a second), decided here.
    let cpu_max = plan.writes.iter().find(|w| w.w.file == "cpu.max");
    assert_eq!(cpu_max.map(|w| &*w.w.value), Some("13000 100000"));
    assert!(!plan.rules.is_empty(), "runc's default device rules");
    // What systemd could not take is refused here, before the state directory or the unit exists
    // (and before systemd is asked anything).
    let bad = res(r#"{"cpu": {"cpus": "0-x"}}"#);
    let e = cg.unit_start(Some(&bad), vec![]).unwrap_err().to_string();
    assert!(e.contains("linux.resources.cpu.cpus"), "{e}");
}
