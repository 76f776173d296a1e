use super::*;

// ---------------------------------------------------------------------------------------------
// Devices, sysctl, names

#[test]
fn linux_devices_are_added_and_replace_defaults() {
    let v = with(|v| {
        v["linux"]["devices"] = json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o660,
             "uid": 1000, "gid": 1001},
            {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "fileMode": 0o60640},
            {"path": "/dev/pipe", "type": "p"},
            {"path": "/dev/ttyU", "type": "u", "major": 4, "minor": 64, "fileMode": 0o4620},
        ]);
    });
    let p = plan_of(&v);
    assert_eq!(
        devices(&p),
        [
            ("/dev/zero", CHR_666, 1, 5, 0, 0, None),
            ("/dev/full", CHR_666, 1, 7, 0, 0, None),
            ("/dev/random", CHR_666, 1, 8, 0, 0, None),
            ("/dev/urandom", CHR_666, 1, 9, 0, 0, None),
            ("/dev/tty", CHR_666, 5, 0, 0, 0, None),
            ("/dev/fuse", CHR_666, 10, 229, 0, 0, Some(0)),
            (
                "/dev/null",
                libc::S_IFCHR | 0o660,
                1,
                3,
                1000,
                1001,
                Some(1)
            ),
            // The type bits of fileMode are dropped; setuid and friends stay.
            ("/dev/sda", libc::S_IFBLK | 0o640, 8, 0, 0, 0, Some(2)),
            ("/dev/pipe", libc::S_IFIFO | 0o666, 0, 0, 0, 0, Some(3)),
            ("/dev/ttyU", libc::S_IFCHR | 0o4620, 4, 64, 0, 0, Some(4)),
        ]
    );
    assert!(p.dev_symlinks);
}

/// `/dev` bound from the host: no device nodes and no symlinks are made in it.
#[test]
fn a_bind_of_dev_skips_devices_and_symlinks() {
    let v = with(|v| {
        v["mounts"][1] =
            json!({"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind"]});
        v["linux"]["devices"] =
            json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]);
    });
    let p = plan_of(&v);
    assert_eq!(kind(op(&p, "/dev")), "rbind /dev");
    assert!(p.devices.is_empty(), "{:?}", p.devices);
    assert!(!p.dev_symlinks);
}

/// The same bind spelled `/dev/`, `//dev` or `/dev/.`: still the host's /dev, so no device node
/// or symlink may be made in it (runc cleans the destination before it compares).
#[test]
fn a_bind_of_dev_spelled_otherwise_skips_devices_too() {
    for dest in ["/dev/", "//dev", "/dev/.", "/dev//"] {
        let v = with(|v| {
            v["mounts"][1] = json!({"destination": dest, "type": "bind", "source": "/dev", "options": ["rbind"]});
        });
        let p = plan_of(&v);
        assert!(p.devices.is_empty(), "{dest}: {:?}", p.devices);
        assert!(!p.dev_symlinks, "{dest}");
    }
}

#[test]
fn sysctls_are_sorted_proc_sys_writes_naming_their_key() {
    let v = with(|v| {
        v["linux"]["sysctl"] = json!({
            "net.ipv4.ip_forward": "1",
            "kernel.shmmax": "65536",
            "fs.mqueue.msg_max": "20",
        });
    });
    let p = plan_of(&v);
    let sysctl: Vec<(&str, &str, &str)> = p
        .sysctl
        .iter()
        .map(|(path, value, field)| (s(path), s(value), field.as_str()))
        .collect();
    assert_eq!(
        sysctl,
        [
            (
                "/proc/sys/fs/mqueue/msg_max",
                "20",
                "linux.sysctl.fs.mqueue.msg_max"
            ),
            (
                "/proc/sys/kernel/shmmax",
                "65536",
                "linux.sysctl.kernel.shmmax"
            ),
            (
                "/proc/sys/net/ipv4/ip_forward",
                "1",
                "linux.sysctl.net.ipv4.ip_forward"
            ),
        ]
    );
}

#[test]
fn hostname_and_domainname() {
    let p = plan_of(&with(|v| {
        v["hostname"] = json!("box");
        v["domainname"] = json!("example.org");
    }));
    assert_eq!(p.hostname.as_deref().map(s), Some("box"));
    assert_eq!(p.domainname.as_deref().map(s), Some("example.org"));
    // Empty is unset.
    let p = plan_of(&with(|v| {
        v["hostname"] = json!("");
        v["domainname"] = json!("");
    }));
    assert_eq!((p.hostname, p.domainname), (None, None));
}

// ---------------------------------------------------------------------------------------------
// Hooks

/// The init runs createContainer and startContainer; prestart and createRuntime are the parent's,
/// asked for by the init (`need_hooks`); poststart and poststop never involve it.
#[test]
fn hooks_are_placed_where_they_run() {
    let v = with(|v| {
        v["hooks"] = json!({
            "prestart": [{"path": "/usr/bin/prestart"}],
            "createRuntime": [{"path": "/usr/bin/create-runtime"}],
            "createContainer": [{"path": "/usr/bin/cc", "args": ["cc", "--in"],
                                     "env": ["A=1"], "timeout": 5}],
            "startContainer": [{"path": "/usr/bin/sc"}],
            "poststart": [{"path": "/usr/bin/poststart"}],
            "poststop": [{"path": "/usr/bin/poststop"}],
        });
    });
    let p = plan_of(&v);
    assert!(p.need_hooks);
    let [cc] = &p.create_container_hooks[..] else {
        panic!("{:?}", p.create_container_hooks)
    };
    assert_eq!(s(&cc.path), "/usr/bin/cc");
    assert_eq!(strs(&cc.argv), ["cc", "--in"]);
    assert_eq!((strs(&cc.env), cc.own_env), (vec!["A=1"], true));
    assert_eq!(cc.timeout_ms, 5000);
    assert_eq!(cc.argv_ptrs.len(), 3);
    let [sc] = &p.start_container_hooks[..] else {
        panic!("{:?}", p.start_container_hooks)
    };
    // No args: the path is argv[0]; no env: the process's (own_env false); no timeout.
    assert_eq!(strs(&sc.argv), ["/usr/bin/sc"]);
    assert!(sc.env.is_empty() && !sc.own_env);
    assert_eq!(sc.timeout_ms, -1);
}

#[test]
fn need_hooks_for_each_kind_alone() {
    for (kind, needed) in [
        ("prestart", true),
        ("createRuntime", true),
        ("createContainer", true),
        ("startContainer", true),
        ("poststart", false),
        ("poststop", false),
    ] {
        let p = plan_of(&with(|v| {
            v["hooks"] = json!({ kind: [{"path": "/usr/bin/hook"}] })
        }));
        assert_eq!(p.need_hooks, needed, "{kind}");
        assert_eq!(
            p.create_container_hooks.len(),
            usize::from(kind == "createContainer"),
            "{kind}"
        );
        assert_eq!(
            p.start_container_hooks.len(),
            usize::from(kind == "startContainer"),
            "{kind}"
        );
        // An empty list is no hook.
        let p = plan_of(&with(|v| v["hooks"] = json!({ kind: [] })));
        assert!(!p.need_hooks, "{kind}: []");
    }
}
