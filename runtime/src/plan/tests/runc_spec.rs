use super::*;

// ---------------------------------------------------------------------------------------------
// runc spec's config as is

#[test]
fn runc_spec_creates_five_namespaces_and_joins_none() {
    let p = plan_of(&runc_spec());
    assert_eq!(p.clone_flags, NS_BASE);
    assert_eq!(p.cgroupns_at, None);
    assert!(p.join.is_empty(), "{:?}", p.join);
    assert_eq!(p.join_pid, None);
    assert_eq!(s(&p.id), "plan-test");
}

#[test]
fn runc_spec_mounts_in_order_with_flags_and_data() {
    let p = plan_of(&runc_spec());
    assert_eq!(
        layout(&p),
        with_runc_mounts(&[("/sys/fs/cgroup", "cgroup cgroup")])
    );
    let flags: Vec<libc::c_ulong> = p.mounts.iter().map(|m| m.flags).collect();
    assert_eq!(
        flags,
        [
            0,
            libc::MS_NOSUID | libc::MS_STRICTATIME,
            libc::MS_NOSUID | libc::MS_NOEXEC,
            libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV,
            libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV,
            libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV | libc::MS_RDONLY,
            CGROUP_FLAGS,
        ]
    );
    let data: Vec<Option<&str>> = p.mounts.iter().map(|m| m.data.as_deref().map(s)).collect();
    assert_eq!(
        data,
        [
            None,
            Some("mode=755,size=65536k"),
            Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
            Some("mode=1777,size=65536k"),
            None,
            None,
            None,
        ]
    );
    let origins: Vec<usize> = p.mounts.iter().map(|m| m.origin).collect();
    assert_eq!(origins, [0, 1, 2, 3, 4, 5, 6]);
    for m in &p.mounts {
        // New filesystems take their flags at mount time: no attributes, nothing deferred.
        assert_eq!(
            (m.attr_set, m.defer_attr, m.rattr_set, m.rattr_clr),
            (0, false, 0, 0),
            "{}",
            s(&m.dest)
        );
        assert!(m.propagation.is_empty() && !m.file_target, "{m:?}");
    }
}

/// Propagation unset: private (sangja's documented choice; runc uses rslave, see
/// spec-tests `rootfs_propagation_defaults_to_private`).
#[test]
fn runc_spec_root_is_private_readonly_and_pivoted() {
    let p = plan_of(&runc_spec());
    assert_eq!(s(&p.rootfs), "/nonexistent-sangja-plan-tests/rootfs");
    assert_eq!(p.root.initial_propagation, libc::MS_PRIVATE | libc::MS_REC);
    assert_eq!(p.root.final_propagation, None);
    assert_eq!(p.root.private_parent, None);
    assert!(p.root.readonly);
    assert!(!p.root.no_pivot);
    assert!(p.root.hide.is_empty());
    assert_eq!(s(&p.fifo), "/nonexistent-sangja-plan-tests/state/exec.fifo");
    assert_eq!(
        s(&p.result_fifo),
        format!(
            "/nonexistent-sangja-plan-tests/state/{}",
            crate::state::RESULT_FILE
        )
    );
}

#[test]
fn runc_spec_masked_and_readonly_paths() {
    let p = plan_of(&runc_spec());
    assert_eq!(
        strs(&p.masked),
        [
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/sys/firmware",
            "/proc/scsi",
        ]
    );
    assert_eq!(
        strs(&p.readonly),
        [
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger"
        ]
    );
}

#[test]
fn runc_spec_gets_the_default_devices_and_dev_symlinks() {
    let p = plan_of(&runc_spec());
    assert_eq!(
        devices(&p),
        [
            ("/dev/null", CHR_666, 1, 3, 0, 0, None),
            ("/dev/zero", CHR_666, 1, 5, 0, 0, None),
            ("/dev/full", CHR_666, 1, 7, 0, 0, None),
            ("/dev/random", CHR_666, 1, 8, 0, 0, None),
            ("/dev/urandom", CHR_666, 1, 9, 0, 0, None),
            ("/dev/tty", CHR_666, 5, 0, 0, 0, None),
        ]
    );
    assert!(p.dev_symlinks);
    let links: Vec<(&str, &str)> = mounts::DEV_SYMLINKS
        .iter()
        .map(|(l, t)| (s(l), s(t)))
        .collect();
    assert_eq!(
        links,
        [
            ("/dev/fd", "/proc/self/fd"),
            ("/dev/stdin", "/proc/self/fd/0"),
            ("/dev/stdout", "/proc/self/fd/1"),
            ("/dev/stderr", "/proc/self/fd/2"),
            ("/dev/ptmx", "pts/ptmx"),
        ]
    );
}

#[test]
fn runc_spec_hostname_and_nothing_else_named() {
    let p = plan_of(&runc_spec());
    assert_eq!(p.hostname.as_deref().map(s), Some("runc"));
    assert_eq!(p.domainname, None);
    assert!(p.sysctl.is_empty());
}

#[test]
fn runc_spec_process() {
    let p = plan_of(&runc_spec()).process;
    assert_eq!(strs(&p.argv), ["sh"]);
    assert_eq!(
        strs(&p.env),
        [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
            // No passwd in the (nonexistent) rootfs: `/`, as runc.
            "HOME=/",
        ]
    );
    assert_eq!(
        strs(&p.exe_candidates),
        [
            "/usr/local/sbin/sh",
            "/usr/local/bin/sh",
            "/usr/sbin/sh",
            "/usr/bin/sh",
            "/sbin/sh",
            "/bin/sh",
        ]
    );
    assert_eq!(s(&p.arg0), "sh");
    assert_eq!(s(&p.cwd), "/");
    assert_eq!((p.uid, p.gid, p.umask), (0, 0, None));
    assert_eq!(p.groups, Some(vec![]));
    // No inheritable set: the ambient caps cannot be raised, so none are planned.
    assert_eq!(
        p.caps,
        process::CapSets {
            bounding: RUNC_CAPS,
            effective: RUNC_CAPS,
            permitted: RUNC_CAPS,
            inheritable: 0,
            ambient: 0,
        }
    );
    assert_eq!(p.last_cap, process::last_cap());
    assert_eq!(
        p.rlimits,
        [(
            libc::RLIMIT_NOFILE as libc::c_int,
            1024,
            1024,
            "RLIMIT_NOFILE"
        )]
    );
    assert!(p.no_new_privileges);
    assert!(
        !p.seccomp_before_identity(),
        "no_new_privs allows a late load"
    );
    assert_eq!(p.console_size, None);
    assert_eq!(p.oom_score_adj, None);
    assert_eq!(p.lsm, crate::plan::lsm::LsmPlan::default());
    // NULL-terminated pointer arrays into the owned strings.
    assert_eq!(p.argv_ptrs.len(), p.argv.len() + 1);
    assert_eq!(p.env_ptrs.len(), p.env.len() + 1);
    assert_eq!(p.argv_ptrs[0], p.argv[0].as_ptr());
    assert!(p.argv_ptrs[1].is_null() && p.env_ptrs[3].is_null());
}

#[test]
fn runc_spec_has_no_hooks_seccomp_or_extra_fds() {
    let p = plan_of(&runc_spec());
    assert!(!p.need_hooks);
    assert!(p.create_container_hooks.is_empty() && p.start_container_hooks.is_empty());
    assert!(p.seccomp.is_none());
    assert_eq!(p.preserve_fds, 0);
    assert!(p.new_keyring);
    assert!(!p.trace);
}
