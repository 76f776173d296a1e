use super::*;

// ---------------------------------------------------------------------------------------------
// Cgroup mounts on synthetic hosts

#[test]
fn cgroup_mount_on_v2_binds_the_containers_cgroup_without_a_namespace() {
    let p = plan_on(Layout::V2, &runc_spec());
    assert_eq!(
        layout(&p),
        with_runc_mounts(&[("/sys/fs/cgroup", &format!("bind {}", cg_dir("")))])
    );
    let cg = op(&p, "/sys/fs/cgroup");
    assert_eq!(cg.origin, 6);
    assert_eq!(cg.flags, CGROUP_FLAGS);
    assert_eq!((cg.attr_set, cg.defer_attr), (RO_NOSUID_NODEV_NOEXEC, true));
    assert_eq!(cg.data, None);
}

/// Under the systemd driver the init waits for the parent's join (the unit's start) before it
/// binds the container's cgroup; under cgroupfs it is born in the cgroup and waits for nothing.
#[test]
fn a_systemd_unit_is_waited_for_before_the_cgroup_bind() {
    let host = host(Layout::V2);
    let cg = Cgroup::systemd(&host, "system.slice:docker:abc", "abc").expect("systemd cgroup");
    let p = plan_with(
        &runc_spec(),
        &Opts {
            cgroups: Some((&host, &cg)),
            ..Opts::default()
        },
    );
    assert_eq!(
        kind(op(&p, "/sys/fs/cgroup")),
        "bind /sys/fs/cgroup/system.slice/docker-abc.scope"
    );
    assert_eq!((p.joined_at, p.cgroupns_at), (Some(6), None));
    let with_ns = plan_with(
        &with_cgroupns(),
        &Opts {
            cgroups: Some((&host, &cg)),
            ..Opts::default()
        },
    );
    assert_eq!((with_ns.joined_at, with_ns.cgroupns_at), (Some(6), Some(6)));
    assert_eq!(plan_on(Layout::V2, &runc_spec()).joined_at, None);
    assert_eq!(plan_on(Layout::V2, &with_cgroupns()).joined_at, Some(6));
}

#[test]
fn cgroup_mount_on_v2_is_a_fresh_cgroup2_in_a_namespace() {
    let p = plan_on(Layout::V2, &with_cgroupns());
    assert_eq!(
        layout(&p),
        with_runc_mounts(&[("/sys/fs/cgroup", "cgroup2 cgroup")])
    );
    let cg = op(&p, "/sys/fs/cgroup");
    assert_eq!(
        (cg.flags, cg.attr_set),
        (CGROUP_FLAGS, RO_NOSUID_NODEV_NOEXEC)
    );
    assert_eq!(p.cgroupns_at, Some(6));
}

/// v1: a tmpfs holding one bind per hierarchy, a symlink per co-mounted controller, then the
/// tmpfs sealed read-only.
#[test]
fn cgroup_mount_on_v1_binds_each_hierarchy_into_a_sealed_tmpfs() {
    let p = plan_on(Layout::V1, &runc_spec());
    let bind = |d: &str| format!("bind {}", cg_dir(d));
    assert_eq!(
        layout(&p),
        with_runc_mounts(&[
            ("/sys/fs/cgroup", "tmpfs tmpfs"),
            ("/sys/fs/cgroup/cpu,cpuacct", &bind("cpu,cpuacct")),
            ("/sys/fs/cgroup/cpu", "symlink cpu,cpuacct"),
            ("/sys/fs/cgroup/cpuacct", "symlink cpu,cpuacct"),
            ("/sys/fs/cgroup/memory", &bind("memory")),
            ("/sys/fs/cgroup/systemd", &bind("systemd")),
            ("/sys/fs/cgroup", "remount-ro"),
        ])
    );
    assert!(p.mounts[6..].iter().all(|m| m.origin == 6));
    let tmpfs = &p.mounts[6];
    assert_eq!(
        tmpfs.flags,
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC
    );
    assert_eq!(tmpfs.data.as_deref().map(s), Some("mode=755"));
    for i in [7, 10, 11] {
        let m = &p.mounts[i];
        assert_eq!(m.flags, CGROUP_FLAGS, "{}", s(&m.dest));
        assert_eq!((m.attr_set, m.defer_attr), (RO_NOSUID_NODEV_NOEXEC, true));
    }
    assert_eq!(p.mounts[12].attr_set, crate::sys::MOUNT_ATTR_RDONLY);
}

#[test]
fn cgroup_mount_on_v1_in_a_namespace_mounts_each_hierarchy() {
    let p = plan_on(Layout::V1, &with_cgroupns());
    let fresh: Vec<(&str, String, Option<&str>)> = p.mounts[6..]
        .iter()
        .map(|m| (s(&m.dest), kind(m), m.data.as_deref().map(s)))
        .collect();
    assert_eq!(
        fresh,
        [
            ("/sys/fs/cgroup", "tmpfs tmpfs".into(), Some("mode=755")),
            (
                "/sys/fs/cgroup/cpu,cpuacct",
                "cgroup cgroup".into(),
                Some("cpu,cpuacct")
            ),
            ("/sys/fs/cgroup/cpu", "symlink cpu,cpuacct".into(), None),
            ("/sys/fs/cgroup/cpuacct", "symlink cpu,cpuacct".into(), None),
            (
                "/sys/fs/cgroup/memory",
                "cgroup cgroup".into(),
                Some("memory")
            ),
            (
                "/sys/fs/cgroup/systemd",
                "cgroup cgroup".into(),
                Some("none,name=systemd")
            ),
            ("/sys/fs/cgroup", "remount-ro".into(), None),
        ]
    );
    assert_eq!(p.mounts[7].attr_set, RO_NOSUID_NODEV_NOEXEC);
}

#[test]
fn cgroup_mount_on_a_hybrid_host_includes_the_unified_hierarchy() {
    let p = plan_on(Layout::Hybrid, &runc_spec());
    let tail: Vec<(String, String)> = layout(&p)[6..].to_vec();
    assert_eq!(
        tail,
        pairs(&[
            ("/sys/fs/cgroup", "tmpfs tmpfs"),
            (
                "/sys/fs/cgroup/memory",
                &format!("bind {}", cg_dir("memory"))
            ),
            (
                "/sys/fs/cgroup/systemd",
                &format!("bind {}", cg_dir("systemd"))
            ),
            (
                "/sys/fs/cgroup/unified",
                &format!("bind {}", cg_dir("unified"))
            ),
            ("/sys/fs/cgroup", "remount-ro"),
        ])
    );
    let p = plan_on(Layout::Hybrid, &with_cgroupns());
    let unified = op(&p, "/sys/fs/cgroup/unified");
    assert_eq!(
        (kind(unified).as_str(), unified.data.as_ref()),
        ("cgroup2 cgroup2", None)
    );
}

/// `type: cgroup2` is the unified hierarchy alone on a hybrid host (as the type says, and as runc
/// mounts it there), not the v1 tmpfs; on a v1 host without cgroup2 only inside a namespace.
#[test]
fn a_cgroup2_mount_on_a_hybrid_host_is_the_unified_hierarchy_alone() {
    let cgroup2 = |v: &mut Value| v["mounts"][6]["type"] = json!("cgroup2");
    let p = plan_on(Layout::Hybrid, &with(cgroup2));
    assert_eq!(
        layout(&p),
        with_runc_mounts(&[("/sys/fs/cgroup", &format!("bind {}", cg_dir("unified")))])
    );
    let mut ns = with_cgroupns();
    cgroup2(&mut ns);
    let p = plan_on(Layout::Hybrid, &ns);
    assert_eq!(
        layout(&p),
        with_runc_mounts(&[("/sys/fs/cgroup", "cgroup2 cgroup")])
    );
    let p = plan_on(Layout::V1, &ns);
    assert_eq!(kind(op(&p, "/sys/fs/cgroup")), "cgroup2 cgroup");
    let host = host(Layout::V1);
    let cg = Cgroup::new(&host, CGROUPS_PATH);
    let opts = Opts {
        cgroups: Some((&host, &cg)),
        ..Opts::default()
    };
    let e = checked(&with(cgroup2))
        .and_then(|s| build(&s, &opts))
        .unwrap_err()
        .to_string();
    assert!(e.contains("mounts[6].type"), "{e}");
}

/// Without `ro` the v1 tmpfs is not sealed; propagation options go on the tmpfs only.
#[test]
fn a_writable_cgroup_mount_on_v1_is_not_sealed() {
    let v = with(|v| v["mounts"][6]["options"] = json!(["nosuid", "rslave"]));
    let p = plan_on(Layout::V1, &v);
    assert_eq!(p.mounts.len(), 12, "{:?}", layout(&p));
    assert!(p
        .mounts
        .iter()
        .all(|m| !matches!(m.kind, MountKind::RemountRo)));
    assert_eq!(p.mounts[6].propagation, [libc::MS_SLAVE | libc::MS_REC]);
    let memory = op(&p, "/sys/fs/cgroup/memory");
    assert_eq!(
        memory.flags,
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC
    );
    assert_eq!(
        memory.attr_set,
        crate::sys::MOUNT_ATTR_NOSUID
            | crate::sys::MOUNT_ATTR_NODEV
            | crate::sys::MOUNT_ATTR_NOEXEC
    );
    assert!(memory.propagation.is_empty());
}
