use super::*;

// ---------------------------------------------------------------------------------------------
// Namespaces

#[test]
fn namespaces_with_a_path_are_joined_in_config_order_mount_last() {
    let v = with(|v| {
        v["linux"]["namespaces"] = json!([
            {"type": "pid"},
            {"type": "mount", "path": "/proc/1/ns/mnt"},
            {"type": "network", "path": "/run/netns/x"},
            {"type": "ipc"},
            {"type": "uts", "path": "/proc/1/ns/uts"},
        ]);
        // A joined UTS namespace: the hostname cannot be set.
        v["hostname"] = json!("");
    });
    let p = plan_of(&v);
    assert_eq!(
        p.clone_flags,
        (libc::CLONE_NEWPID | libc::CLONE_NEWIPC) as u64
    );
    let join: Vec<(usize, libc::c_int, &str)> = p
        .join
        .iter()
        .map(|j| (j.origin, j.nstype, s(&j.path)))
        .collect();
    assert_eq!(
        join,
        [
            (2, libc::CLONE_NEWNET, "/run/netns/x"),
            (4, libc::CLONE_NEWUTS, "/proc/1/ns/uts"),
            (1, libc::CLONE_NEWNS, "/proc/1/ns/mnt"),
        ]
    );
    assert_eq!(p.hostname, None);
    assert_eq!(p.join_pid, None);
}

#[test]
fn a_pid_namespace_path_is_joined_by_the_parent() {
    let v =
        with(|v| v["linux"]["namespaces"][0] = json!({"type": "pid", "path": "/proc/7/ns/pid"}));
    let p = plan_of(&v);
    assert_eq!(
        p.join_pid,
        Some((
            PathBuf::from("/proc/7/ns/pid"),
            "linux.namespaces[0].path".to_string()
        ))
    );
    assert_eq!(p.clone_flags, NS_BASE & !(libc::CLONE_NEWPID as u64));
    assert!(p.join.is_empty(), "{:?}", p.join);
}

#[test]
fn a_new_cgroup_namespace_is_unshared_before_the_first_cgroup_mount() {
    // Not a clone flag: unshared once the parent has joined the init to its cgroup.
    let p = plan_of(&with_cgroupns());
    assert_eq!(p.clone_flags, NS_BASE);
    assert_eq!(p.cgroupns_at, Some(6), "{:?}", layout(&p));
    // Without a cgroup mount: after the last mount.
    let mut v = with_cgroupns();
    v["mounts"].as_array_mut().expect("mounts").pop();
    let p = plan_of(&v);
    assert_eq!((p.cgroupns_at, p.mounts.len()), (Some(6), 6));
    // On a v1 host the first cgroup mount follows the tmpfs holding them.
    let p = plan_on(Layout::V1, &with_cgroupns());
    assert_eq!(kind(&p.mounts[6]), "tmpfs tmpfs");
    assert_eq!(p.cgroupns_at, Some(7));
    assert_eq!(kind(&p.mounts[7]), "cgroup cgroup");
}

#[test]
fn a_cgroup_namespace_path_is_joined_not_unshared() {
    let v = with(|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "cgroup", "path": "/proc/7/ns/cgroup"}))
    });
    let p = plan_of(&v);
    assert_eq!(p.cgroupns_at, None);
    assert_eq!(p.clone_flags, NS_BASE);
    let join: Vec<(usize, libc::c_int)> = p.join.iter().map(|j| (j.origin, j.nstype)).collect();
    assert_eq!(join, [(5, libc::CLONE_NEWCGROUP)]);
}

// ---------------------------------------------------------------------------------------------
// Root

#[test]
fn rootfs_propagation_variants() {
    use libc::{MS_PRIVATE, MS_REC, MS_SHARED, MS_SLAVE, MS_UNBINDABLE};
    // (rootfsPropagation, initial on `/`, final on the new `/`, parent made private)
    let cases: [(Option<&str>, libc::c_ulong, Option<libc::c_ulong>, bool); 10] = [
        (None, MS_PRIVATE | MS_REC, None, false),
        (Some(""), MS_PRIVATE | MS_REC, None, false),
        (
            Some("private"),
            MS_PRIVATE | MS_REC,
            Some(MS_PRIVATE),
            false,
        ),
        (Some("rprivate"), MS_PRIVATE | MS_REC, None, false),
        (Some("slave"), MS_SLAVE | MS_REC, None, false),
        (Some("rslave"), MS_SLAVE | MS_REC, None, false),
        (Some("shared"), MS_SHARED | MS_REC, Some(MS_SHARED), true),
        (
            Some("rshared"),
            MS_SHARED | MS_REC,
            Some(MS_SHARED | MS_REC),
            true,
        ),
        (
            Some("unbindable"),
            MS_PRIVATE | MS_REC,
            Some(MS_UNBINDABLE),
            false,
        ),
        (
            Some("runbindable"),
            MS_PRIVATE | MS_REC,
            Some(MS_UNBINDABLE | MS_REC),
            false,
        ),
    ];
    for (prop, initial, fin, parent) in cases {
        let v = with(|v| {
            if let Some(p) = prop {
                v["linux"]["rootfsPropagation"] = json!(p);
            }
        });
        let r = plan_of(&v).root;
        assert_eq!(
            (r.initial_propagation, r.final_propagation),
            (initial, fin),
            "{prop:?}"
        );
        assert_eq!(r.private_parent.is_some(), parent, "{prop:?}");
    }
}

/// Shared: the host mount holding the rootfs is made private so that pivot_root accepts it.
#[test]
fn shared_propagation_privatizes_the_mount_holding_the_rootfs() {
    let p = plan_of(&with(|v| {
        v["linux"]["rootfsPropagation"] = json!("rshared")
    }));
    let parent = p.root.private_parent.expect("a parent mount");
    assert!(
        Path::new(s(&p.rootfs)).starts_with(s(&parent)),
        "{parent:?} does not hold {:?}",
        p.rootfs
    );
}

#[test]
fn a_writable_root() {
    let p = plan_of(&with(|v| v["root"]["readonly"] = json!(false)));
    assert!(!p.root.readonly);
    let p = plan_of(&with(|v| {
        v["root"].as_object_mut().expect("root").remove("readonly");
    }));
    assert!(!p.root.readonly);
}

/// `--no-pivot`: the host's procfs and sysfs outside the rootfs are listed to be detached,
/// deepest first.
#[test]
fn no_pivot_hides_host_proc_and_sys() {
    let p = plan_with(
        &runc_spec(),
        &Opts {
            no_pivot: true,
            ..Opts::default()
        },
    );
    assert!(p.root.no_pivot);
    let hide = strs(&p.root.hide);
    assert!(hide.contains(&"/proc"), "{hide:?}");
    assert!(hide.iter().all(|m| !m.starts_with(BUNDLE)), "{hide:?}");
    assert!(
        hide.windows(2).all(|w| w[0].len() >= w[1].len()),
        "{hide:?}"
    );
}

/// A new time namespace is not a clone flag (the child would be in it before its offsets could be
/// written): the init unshares it and writes `linux.timeOffsets` in the kernel's format.
#[test]
fn a_time_namespace_is_unshared_by_the_init_with_its_offsets() {
    let v = with(|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "time"}));
        v["linux"]["timeOffsets"] = json!({
            "boottime": {"secs": 31536000},
            "monotonic": {"secs": -5, "nanosecs": 7}
        });
    });
    let p = plan_of(&v);
    assert_eq!(p.clone_flags, NS_BASE);
    assert_eq!(
        p.time_offsets.as_deref().map(s),
        Some("monotonic -5 7\nboottime 31536000 0\n")
    );
    let bare = with(|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "time"}))
    });
    assert_eq!(plan_of(&bare).time_offsets.as_deref().map(s), Some(""));
    assert_eq!(plan_of(&runc_spec()).time_offsets, None);
    // An existing one is joined by path, as the others are.
    let joined = with(|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "time", "path": "/proc/1/ns/time"}))
    });
    let p = plan_of(&joined);
    assert_eq!(p.time_offsets, None);
    assert!(p.join.iter().any(|j| j.nstype == libc::CLONE_NEWTIME));
}

/// A new user namespace is one of the clone's flags, and its maps are the lines `uid_map` and
/// `gid_map` take, in the config's order; without one the plan has no maps.
#[test]
fn a_user_namespace_is_cloned_with_its_maps_as_the_kernel_takes_them() {
    let v = with(|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "user"}));
        v["linux"]["uidMappings"] = json!([
            {"containerID": 0, "hostID": 100000, "size": 1000},
            {"containerID": 1000, "hostID": 1000, "size": 1}
        ]);
        v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    });
    let p = plan_of(&v);
    assert_eq!(p.clone_flags, NS_BASE | libc::CLONE_NEWUSER as u64);
    let maps = p.user.expect("maps");
    assert_eq!(s(&maps.uid_map), "0 100000 1000\n1000 1000 1\n");
    assert_eq!(s(&maps.gid_map), "0 200000 65536\n");
    assert!(plan_of(&runc_spec()).user.is_none());
}

/// A user namespace beside joined namespaces is staged: the clone makes no namespace, the init
/// joins, maps or joins the user namespace, and unshares the rest, pid last (by a second fork).
#[test]
fn a_user_namespace_beside_joined_ones_is_built_by_the_init() {
    let joined = |extra: serde_json::Value| {
        with(move |v| {
            let nss = v["linux"]["namespaces"].as_array_mut().expect("namespaces");
            nss.retain(|n| n["type"] != "network");
            nss.push(json!({"type": "network", "path": "/proc/1/ns/net"}));
            if extra.get("path").is_none() {
                v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
                v["linux"]["gidMappings"] = v["linux"]["uidMappings"].clone();
            }
            v["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces")
                .push(extra.clone());
        })
    };
    let p = plan_of(&joined(json!({"type": "user"})));
    assert_eq!(p.clone_flags, 0, "the clone makes nothing");
    let staged = p.staged.expect("staged");
    assert!(staged.new_user && staged.new_pid);
    let rest = NS_BASE & !((libc::CLONE_NEWPID | libc::CLONE_NEWNET) as u64);
    assert_eq!(staged.unshare as u64, rest);
    assert_eq!(
        p.new_namespaces(),
        rest | (libc::CLONE_NEWUSER | libc::CLONE_NEWPID) as u64
    );
    assert!(p.user.is_some(), "the parent maps it on request");

    let p = plan_of(&joined(json!({"type": "user", "path": "/proc/1/ns/user"})));
    let staged = p.staged.expect("staged");
    assert!(!staged.new_user && p.user.is_none());
    assert_eq!(p.join.first().map(|j| j.nstype), Some(libc::CLONE_NEWUSER));
    // Without a user namespace, joins stay the init's and new namespaces the clone's.
    let p = plan_of(&with(|v| {
        let nss = v["linux"]["namespaces"].as_array_mut().expect("namespaces");
        nss.retain(|n| n["type"] != "network");
        nss.push(json!({"type": "network", "path": "/proc/1/ns/net"}));
    }));
    assert!(p.staged.is_none());
    assert_eq!(p.clone_flags, NS_BASE & !(libc::CLONE_NEWNET as u64));
}
