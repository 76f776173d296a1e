use super::*;

// ---------------------------------------------------------------------------------------------
// Mounts

#[test]
fn bind_mounts_with_flags_attributes_and_propagation() {
    let v = with(|v| {
        add_mount(
            v,
            json!({"destination": "/data", "type": "bind", "source": SRC_DIR,
                   "options": ["ro", "nosuid", "nodev", "noexec"]}),
        );
        add_mount(
            v,
            json!({"destination": "/etc/app.toml", "source": SRC_FILE,
                   "options": ["bind", "ro", "remount"]}),
        );
        add_mount(
            v,
            json!({"destination": "/tree", "type": "none", "source": SRC_DIR,
                   "options": ["rbind", "rro", "rnosymfollow", "rnoatime", "rslave", "private"]}),
        );
        add_mount(
            v,
            json!({"destination": "/rw", "type": "bind", "source": SRC_DIR, "options": ["rw"]}),
        );
    });
    let p = plan_of(&v);
    assert_eq!(
        layout(&p),
        with_runc_mounts(&[
            ("/sys/fs/cgroup", "cgroup cgroup"),
            ("/data", &format!("bind {SRC_DIR}")),
            ("/etc/app.toml", &format!("bind {SRC_FILE}")),
            ("/tree", &format!("rbind {SRC_DIR}")),
            ("/rw", &format!("bind {SRC_DIR}")),
        ])
    );
    let data = op(&p, "/data");
    assert_eq!(data.origin, 7);
    assert_eq!(
        data.flags,
        libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC
    );
    assert_eq!(data.attr_set, RO_NOSUID_NODEV_NOEXEC);
    assert!(data.defer_attr, "applied once the mounts below exist");
    assert!(!data.file_target && data.data.is_none());
    let file = op(&p, "/etc/app.toml");
    assert!(file.file_target, "a file source needs a file mount point");
    assert_eq!(file.flags, libc::MS_RDONLY, "MS_REMOUNT is not a bind flag");
    assert_eq!(
        (file.attr_set, file.defer_attr),
        (crate::sys::MOUNT_ATTR_RDONLY, true)
    );
    let tree = op(&p, "/tree");
    assert_eq!((tree.attr_set, tree.defer_attr), (0, false));
    assert_eq!(
        tree.rattr_set,
        crate::sys::MOUNT_ATTR_RDONLY
            | crate::sys::MOUNT_ATTR_NOSYMFOLLOW
            | crate::sys::MOUNT_ATTR_NOATIME
    );
    assert_eq!(tree.rattr_clr, crate::sys::MOUNT_ATTR_ATIME);
    assert_eq!(
        tree.propagation,
        [libc::MS_SLAVE | libc::MS_REC, libc::MS_PRIVATE]
    );
    let rw = op(&p, "/rw");
    assert_eq!((rw.flags, rw.attr_set, rw.defer_attr), (0, 0, false));
}

#[test]
fn a_relative_bind_source_is_below_the_bundle() {
    let v = with(|v| {
        add_mount(
            v,
            json!({"destination": "/src", "type": "bind", "source": "src"}),
        )
    });
    let p = plan_with(
        &v,
        &Opts {
            bundle: Path::new(SRC_DIR),
            ..Opts::default()
        },
    );
    assert_eq!(kind(op(&p, "/src")), format!("bind {SRC_DIR}/src"));
    assert_eq!(s(&p.rootfs), format!("{SRC_DIR}/rootfs"));
}

/// A read-only bind under which a later mount is stacked at the same place: the attribute is set
/// right away (deferred, it would reach the later mount instead).
#[test]
fn a_bind_covered_by_a_later_mount_sets_its_attributes_at_once() {
    let v = with(|v| {
        add_mount(
            v,
            json!({"destination": "/stacked", "type": "bind", "source": SRC_DIR,
                   "options": ["ro"]}),
        );
        add_mount(
            v,
            json!({"destination": "/stacked", "type": "tmpfs", "source": "tmpfs"}),
        );
    });
    let p = plan_of(&v);
    let (bind, tmpfs) = (&p.mounts[7], &p.mounts[8]);
    assert_eq!(kind(bind), format!("bind {SRC_DIR}"));
    assert_eq!(
        (bind.attr_set, bind.defer_attr),
        (crate::sys::MOUNT_ATTR_RDONLY, false)
    );
    assert_eq!(kind(tmpfs), "tmpfs tmpfs");
}

/// `runc spec --rootless`'s `/sys`: a recursive read-only bind of the host's.
#[test]
fn the_rootless_sys_rbind() {
    let v = with(|v| {
        v["mounts"][5] = json!({"destination": "/sys", "type": "none", "source": "/sys",
            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
    });
    let p = plan_of(&v);
    let sys = op(&p, "/sys");
    assert_eq!(kind(sys), "rbind /sys");
    assert_eq!(
        sys.flags,
        libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV | libc::MS_RDONLY
    );
    // Only the top mount is made read-only (as runc's remount); `/sys/fs/cgroup` comes below it.
    assert_eq!((sys.attr_set, sys.rattr_set), (RO_NOSUID_NODEV_NOEXEC, 0));
    assert!(sys.defer_attr);
}

#[test]
fn tmpfs_mounts_take_flags_and_data() {
    let v = with(|v| {
        add_mount(
            v,
            json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "nodev", "mode=0755", "size=64m",
                               "nr_inodes=4k", "rprivate"]}),
        );
        add_mount(v, json!({"destination": "/tmp", "type": "tmpfs"}));
        add_mount(
            v,
            json!({"destination": "relative/dir", "type": "tmpfs", "source": "none",
                   "options": ["noexec", "exec"]}),
        );
    });
    let p = plan_of(&v);
    let run = op(&p, "/run");
    assert_eq!(kind(run), "tmpfs tmpfs");
    assert_eq!(run.flags, libc::MS_NOSUID | libc::MS_NODEV);
    assert_eq!(
        run.data.as_deref().map(s),
        Some("mode=0755,size=64m,nr_inodes=4k")
    );
    assert_eq!(run.propagation, [libc::MS_PRIVATE | libc::MS_REC]);
    assert_eq!(run.attr_set, 0);
    // No source: the type; no options: no flags, no data.
    let tmp = op(&p, "/tmp");
    assert_eq!((kind(tmp).as_str(), tmp.flags), ("tmpfs tmpfs", 0));
    assert_eq!(tmp.data, None);
    // A relative destination is below `/`; a later option wins.
    let rel = op(&p, "/relative/dir");
    assert_eq!((kind(rel).as_str(), rel.flags), ("tmpfs none", 0));
}

#[test]
fn a_relative_destination_is_planned_below_root() {
    let spec: Spec = serde_json::from_value(json!({
        "ociVersion": "1.2.0",
        "mounts": [
            {"destination": "relative/x", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/abs", "type": "tmpfs", "source": "tmpfs"}
        ]
    }))
    .expect("spec");
    let ops = mounts::plan_mounts(&spec, Path::new("/bundle"), None, false).expect("plan");
    let dests: Vec<&[u8]> = ops.iter().map(|o| o.dest.as_bytes()).collect();
    assert_eq!(dests, [&b"/relative/x"[..], b"/abs"]);
}

#[test]
fn mount_label_goes_on_new_filesystems_but_proc_sysfs_cgroup_and_binds() {
    let op = |fstype: Option<&str>, data: Option<&str>| MountOp {
        origin: 0,
        dest: c"/x".into(),
        kind: match fstype {
            Some(t) => MountKind::Fs {
                fstype: CString::new(t).expect("no NUL"),
                source: CString::new(t).expect("no NUL"),
            },
            None => MountKind::Bind {
                source: c"/src".into(),
                recursive: false,
            },
        },
        flags: 0,
        attr_set: 0,
        defer_attr: false,
        rattr_set: 0,
        rattr_clr: 0,
        data: data.map(|d| CString::new(d).expect("no NUL")),
        propagation: Vec::new(),
        file_target: false,
        idmap: None,
    };
    let mut mounts = vec![
        op(Some("tmpfs"), Some("mode=755,size=65536k")),
        op(Some("devpts"), Some("newinstance,ptmxmode=0666")),
        op(Some("mqueue"), None),
        op(Some("proc"), None),
        op(Some("sysfs"), None),
        op(Some("cgroup2"), None),
        op(None, None),
    ];
    mounts::apply_mount_label(&mut mounts, "s_u:object_r:c_t:s0:c1,c2").expect("label");
    let data: Vec<Option<&str>> = mounts.iter().map(|m| m.data.as_deref().map(s)).collect();
    assert_eq!(
        data,
        [
            Some("mode=755,size=65536k,context=\"s_u:object_r:c_t:s0:c1,c2\""),
            Some("newinstance,ptmxmode=0666,context=\"s_u:object_r:c_t:s0:c1,c2\""),
            Some("context=\"s_u:object_r:c_t:s0:c1,c2\""),
            None,
            None,
            None,
            None,
        ]
    );
}

/// An empty `linux.mountLabel` is no label: nothing probed, no `context=`.
#[test]
fn an_empty_mount_label_changes_nothing() {
    let p = plan_of(&with(|v| v["linux"]["mountLabel"] = json!("")));
    assert_eq!(
        op(&p, "/dev").data.as_deref().map(s),
        Some("mode=755,size=65536k")
    );
}

/// An idmapped bind carries the maps of its detached copy: its own, else the container's; `ridmap`
/// for the whole tree. A plain bind has none, and the options are not filesystem data.
#[test]
fn idmapped_binds_take_their_own_maps_or_the_containers() {
    let v = with(|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "user"}));
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        add_mount(
            v,
            json!({"destination": "/a", "type": "bind", "source": "/tmp",
            "options": ["rbind", "idmap"]}),
        );
        add_mount(
            v,
            json!({"destination": "/b", "type": "bind", "source": "/tmp",
            "options": ["rbind", "ridmap"],
            "uidMappings": [{"containerID": 1000, "hostID": 5, "size": 2}],
            "gidMappings": [{"containerID": 1000, "hostID": 6, "size": 1}]}),
        );
        add_mount(
            v,
            json!({"destination": "/c", "type": "bind", "source": "/tmp",
            "options": ["rbind"]}),
        );
    });
    let p = plan_of(&v);
    let op = |dest: &str| {
        p.mounts
            .iter()
            .find(|m| s(&m.dest) == dest)
            .unwrap_or_else(|| panic!("no {dest}"))
    };
    let a = op("/a").idmap.as_ref().expect("/a idmapped");
    assert_eq!(
        (s(&a.uid_map), s(&a.gid_map)),
        ("0 100000 65536\n", "0 200000 65536\n")
    );
    assert!(!a.recursive);
    let b = op("/b").idmap.as_ref().expect("/b idmapped");
    assert_eq!((s(&b.uid_map), s(&b.gid_map)), ("1000 5 2\n", "1000 6 1\n"));
    assert!(b.recursive);
    assert!(op("/c").idmap.is_none());
    assert!(op("/a").data.is_none(), "idmap is not filesystem data");
}
