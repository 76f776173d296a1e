use super::*;

// ---------------------------------------------------------------------------------------------
// Process

fn app_process() -> Value {
    json!({
        "terminal": false,
        "user": {"uid": 1000, "gid": 1001, "additionalGids": [5, 27], "umask": 0o22},
        "args": ["./run.sh", "--flag"],
        "env": ["PATH=/usr/bin", "HOME=/home/app", "PATH=/opt/bin"],
        "cwd": "/srv/app",
        "capabilities": {
            "bounding": ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_KILL"],
            "effective": ["CAP_SYS_ADMIN"],
            "permitted": ["CAP_CHOWN", "CAP_SYS_ADMIN"],
            "inheritable": ["CAP_CHOWN"],
            "ambient": ["CAP_CHOWN", "CAP_KILL"]
        },
        "rlimits": [
            {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
            {"type": "RLIMIT_NPROC", "soft": 100, "hard": 200}
        ],
        "noNewPrivileges": false,
        "oomScoreAdj": -500,
        "consoleSize": {"height": 24, "width": 80}
    })
}

#[test]
fn process_identity_caps_rlimits_and_extras() {
    let p = plan_of(&with(|v| v["process"] = app_process())).process;
    assert_eq!(strs(&p.argv), ["./run.sh", "--flag"]);
    // HOME given: kept, nothing added.
    assert_eq!(
        strs(&p.env),
        ["PATH=/usr/bin", "HOME=/home/app", "PATH=/opt/bin"]
    );
    // A relative path with a slash resolves against cwd, as execve would.
    assert_eq!(strs(&p.exe_candidates), ["/srv/app/./run.sh"]);
    assert_eq!((s(&p.arg0), s(&p.cwd)), ("./run.sh", "/srv/app"));
    assert_eq!((p.uid, p.gid), (1000, 1001));
    assert_eq!(p.groups, Some(vec![5, 27]));
    assert_eq!(p.umask, Some(0o22));
    let (chown, kill, sys_admin) = (1u64 << 0, 1u64 << 5, 1u64 << 21);
    assert_eq!(
        p.caps,
        process::CapSets {
            bounding: chown | sys_admin | kill,
            effective: sys_admin,
            permitted: chown | sys_admin,
            inheritable: chown,
            // Only what is permitted and inheritable.
            ambient: chown,
        }
    );
    assert_eq!(
        p.rlimits,
        [
            (
                libc::RLIMIT_NOFILE as libc::c_int,
                1024,
                4096,
                "RLIMIT_NOFILE"
            ),
            (libc::RLIMIT_CORE as libc::c_int, 0, 0, "RLIMIT_CORE"),
            (libc::RLIMIT_NPROC as libc::c_int, 100, 200, "RLIMIT_NPROC"),
        ]
    );
    assert!(!p.no_new_privileges);
    assert_eq!(p.oom_score_adj.as_deref().map(s), Some("-500"));
    assert_eq!(p.console_size, Some((24, 80)));
    // CAP_SYS_ADMIN can load the filter late even without no_new_privs.
    assert!(!p.seccomp_before_identity());
}

/// Neither no_new_privs nor CAP_SYS_ADMIN: the filter must be loaded before the identity switch
/// drops what loading needs.
#[test]
fn seccomp_goes_before_the_identity_switch_without_nnp_or_sys_admin() {
    let v = with(|v| {
        v["process"] = app_process();
        v["process"]["capabilities"]["effective"] = json!(["CAP_CHOWN"]);
    });
    assert!(plan_of(&v).process.seccomp_before_identity());
    let v = with(|v| v["process"]["noNewPrivileges"] = json!(false));
    assert!(plan_of(&v).process.seccomp_before_identity());
    let v = with(|v| {
        v["process"]["noNewPrivileges"] = json!(false);
        v["process"]
            .as_object_mut()
            .expect("process")
            .remove("capabilities");
    });
    let p = plan_of(&v).process;
    assert_eq!(p.caps, process::CapSets::default(), "no caps: all dropped");
    assert!(p.seccomp_before_identity());
}

#[test]
fn path_lookup_uses_the_last_path_and_absolute_args_as_is() {
    let v = with(|v| {
        v["process"]["env"] = json!(["PATH=/usr/bin", "PATH=/a:/b/"]);
        v["process"]["args"] = json!(["busybox", "sh"]);
    });
    let p = plan_of(&v).process;
    assert_eq!(strs(&p.exe_candidates), ["/a/busybox", "/b/busybox"]);
    let v = with(|v| v["process"]["args"] = json!(["/bin/busybox"]));
    assert_eq!(strs(&plan_of(&v).process.exe_candidates), ["/bin/busybox"]);
}

#[test]
fn a_seccomp_profile_is_compiled_into_the_plan() {
    let v = with(|v| {
        v["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let p = plan_of(&v);
    let prog = p.seccomp.as_ref().expect("a program");
    assert!(!prog.notifies() && prog.listener_path().is_none());
    assert!(prog.len() > 1, "more than a bare return: {}", prog.len());
    let v = with(|v| {
        v["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let p = plan_of(&v);
    let prog = p.seccomp.as_ref().expect("a program");
    assert!(prog.notifies());
    assert_eq!(prog.listener_path(), Some(Path::new("/run/agent.sock")));
}

// ---------------------------------------------------------------------------------------------
// Options of `create`

#[test]
fn listen_fds_come_before_preserved_fds_and_set_the_env() {
    let v = with(|v| {
        v["process"]["env"] = json!(["PATH=/bin", "LISTEN_FDS=9", "LISTEN_PID=77", "TERM=xterm"])
    });
    let p = plan_with(
        &v,
        &Opts {
            preserve_fds: 3,
            listen_fds: 2,
            ..Opts::default()
        },
    );
    assert_eq!(p.preserve_fds, 5);
    assert_eq!(
        strs(&p.process.env),
        [
            "PATH=/bin",
            "TERM=xterm",
            "LISTEN_FDS=2",
            "LISTEN_PID=1",
            "HOME=/"
        ]
    );
    // Without listen fds the config's LISTEN_* stay as they are.
    let p = plan_with(
        &v,
        &Opts {
            preserve_fds: 3,
            ..Opts::default()
        },
    );
    assert_eq!(p.preserve_fds, 3);
    assert_eq!(
        strs(&p.process.env),
        [
            "PATH=/bin",
            "LISTEN_FDS=9",
            "LISTEN_PID=77",
            "TERM=xterm",
            "HOME=/"
        ]
    );
}

#[test]
fn no_new_keyring_and_trace() {
    let p = plan_with(
        &runc_spec(),
        &Opts {
            no_new_keyring: true,
            trace: true,
            ..Opts::default()
        },
    );
    assert!(!p.new_keyring);
    assert!(p.trace);
}
