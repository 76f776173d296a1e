//! `/proc` and `/sys` in the container: replaced from the image or a volume (CVE-2019-16884,
//! CVE-2019-19921, CVE-2023-27561), the masks through symlinks, `--no-pivot`'s leftovers, writes
//! redirected by mounts (CVE-2025-52881) and the read-only defaults.

use super::*;

// ---------------------------------------------------------------------------------------------------------
// CVE-2019-16884 / CVE-2019-19921: /proc replaced from the image

/// The host's /proc/timer_list (in the default maskedPaths) is not empty, so reading 0 bytes from it in
/// the container shows the mask.
fn assert_timer_list_readable_on_host() {
    let len = fs::read("/proc/timer_list").map(|v| v.len()).unwrap_or(0);
    assert!(
        len > 0,
        "the host has no /proc/timer_list: the mask checks below would prove nothing"
    );
}

#[test]
fn proc_replaced_by_bind_mount_is_refused() {
    // A bind mount onto /proc gives the container a fake /proc: masked and read-only paths then protect
    // nothing real, and LSM labels written to /proc/self/attr go to a file. runc refuses any /proc
    // mount that is not procfs.
    let h = harness!();
    let fake = h.tempdir("fakeproc");
    fs::write(fake.join("timer_list"), "fake-timer-list\n").unwrap();
    fs::create_dir_all(fake.join("sys")).unwrap();
    let mut b = h.bundle();
    b.add_mount(json!({
        "destination": "/proc", "type": "bind", "source": fake.to_str().unwrap(), "options": ["rbind"]
    }));
    b.args(&["sh", "-c", "stat -f -c %T /proc; cat /proc/timer_list"]);
    let out = h.run(&b);
    assert!(
        !out.success() || out.stdout.starts_with("proc\n"),
        "a bind mount replaced /proc (it must be procfs):\n{out}"
    );
    assert!(!out.stdout.contains("fake-timer-list"), "{out}");
    assert!(host_mounts_under(h.base()).is_empty());
}

#[test]
fn proc_symlink_in_image_does_not_leave_rootfs() {
    let h = harness!();
    let host_dir = h.tempdir("hostproc");
    fs::write(host_dir.join(HOST_MARKER), "").unwrap();
    let mut b = h.bundle_private();
    let root = b.rootfs().to_path_buf();
    fs::remove_dir(root.join("proc")).unwrap();
    symlink(&host_dir, root.join("proc")).unwrap();
    b.set("/root/readonly", json!(false));
    assert_timer_list_readable_on_host();
    b.args(&[
        "sh",
        "-c",
        "stat -f -c %T /proc; cat /proc/timer_list | wc -c",
    ]);
    let out = h.run(&b);
    // Refused, as runc does ("must be mounted on ordinary directory"), naming the mount target.
    out.assert_error("create mount point /proc: too many symbolic links encountered");
    assert_eq!(names(&host_dir), [HOST_MARKER]);
    assert!(host_mounts_under(h.base()).is_empty());
}

// ---------------------------------------------------------------------------------------------------------
// 5. CVE-2023-27561: maskedPaths through symlinks

#[test]
fn masked_path_symlinks_do_not_reach_host_or_unmask() {
    let h = harness!();
    let host_dir = h.tempdir("hostsecret");
    fs::write(host_dir.join(HOST_MARKER), "secret\n").unwrap();
    let mut b = h.bundle_private();
    let root = b.rootfs().to_path_buf();
    symlink(&host_dir, root.join("mnt/masked-abs")).unwrap();
    symlink(
        "../../../../../../../../../proc/timer_list",
        root.join("mnt/masked-rel"),
    )
    .unwrap();
    b.push("/linux/maskedPaths", json!("/mnt/masked-abs"));
    b.push("/linux/maskedPaths", json!("/mnt/masked-rel"));
    b.set("/root/readonly", json!(false));
    assert_timer_list_readable_on_host();
    b.args(&[
        "sh",
        "-c",
        "cat /proc/timer_list | wc -c; cat /mnt/masked-rel | wc -c; ls /mnt/masked-abs/ 2>&1; echo ok",
    ]);
    let out = h.run(&b);
    // The symlinks resolve inside the rootfs (the absolute one to nothing there): masks still apply and
    // no host directory shows up.
    out.ok();
    assert!(
        out.stdout.starts_with("0\n0\n"),
        "/proc/timer_list unmasked:\n{out}"
    );
    assert!(!out.stdout.contains(HOST_MARKER), "{out}");
    assert_eq!(names(&host_dir), [HOST_MARKER]);
    assert_eq!(
        fs::read_to_string(host_dir.join(HOST_MARKER)).unwrap(),
        "secret\n"
    );
    assert!(host_mounts_under(h.base()).is_empty());
}

// ---------------------------------------------------------------------------------------------------------
// CVE-2019-16884 / CVE-2023-27561: something else than procfs over /proc

/// A bundle whose private rootfs has `/evil` → `proc` and `/evil2` → `/proc/self`, and a
/// directory of fake `/proc` attribute files to bind.
fn fake_proc_bundle(h: &Harness) -> (spec_tests::Bundle, std::path::PathBuf) {
    let fake = h.tempdir("fakeproc");
    fs::create_dir_all(fake.join("self/attr")).unwrap();
    fs::write(fake.join("self/attr/exec"), "").unwrap();
    let mut b = h.bundle_private();
    let root = b.rootfs().to_path_buf();
    symlink("proc", root.join("evil")).unwrap();
    symlink("/proc/self", root.join("evil2")).unwrap();
    b.set("/root/readonly", json!(false));
    b.args(&["true"]);
    (b, fake)
}

/// Each bind of `fake` at one of `dests` is refused naming its `mounts[i]` and saying `want`,
/// and leaves nothing; the fake files are never written.
fn binds_over_proc_refused(
    h: &Harness,
    b: &spec_tests::Bundle,
    fake: &Path,
    dests: &[&str],
    want: &str,
) {
    for dest in dests {
        let mut b = b.clone();
        let i = b.add_mount(json!({"destination": dest, "type": "bind",
            "source": fake.to_str().unwrap(), "options": ["rbind"]}));
        let id = h.id();
        let (out, _) = h.try_create(&b, &id, &[]);
        out.assert_error(&format!("mounts[{i}]"));
        assert!(out.stderr.contains(want), "{dest}: {out}");
        assert_nothing_left(h, &id, &b);
    }
    assert_eq!(fs::read_to_string(fake.join("self/attr/exec")).unwrap(), "");
}

/// runc wrote the AppArmor/SELinux exec attribute by path after the mounts, so a volume over
/// `/proc` took the write and the container ran unconfined. sangja writes those attributes through
/// a procfs handle opened before the mounts (lsm_vm.rs runs that under AppArmor) and, as runc,
/// lets nothing but procfs be mounted at `/proc` or over its directories by name; a bind of a
/// single `/proc` file, as lxcfs does, still works.
#[test]
fn cve_2019_16884_nothing_but_procfs_at_proc() {
    let h = harness!();
    let (mut b, fake) = fake_proc_bundle(&h);
    binds_over_proc_refused(
        &h,
        &b,
        &fake,
        &["/proc", "/proc/self/attr", "proc", "/x/../proc"],
        "cannot be mounted: /proc must be procfs",
    );
    let file = h.base().join("cpuinfo");
    fs::write(&file, "fake cpuinfo\n").unwrap();
    b.add_mount(json!({"destination": "/proc/cpuinfo", "type": "bind",
        "source": file.to_str().unwrap(), "options": ["bind", "ro"]}));
    b.args(&["head", "-1", "/proc/cpuinfo"]);
    let out = h.run(&b);
    out.ok();
    assert_eq!(out.stdout.trim(), "fake cpuinfo");
}

/// The regression of CVE-2019-16884: the destination does not name `/proc`, but a symlink in the
/// image leads there (`/evil` → `proc`, `/evil2/attr` → `/proc/self/attr`). Checked on the
/// destination's fd in the init: only procfs may land on procfs.
#[test]
fn cve_2023_27561_no_mount_into_proc_through_an_image_symlink() {
    let h = harness!();
    let (b, fake) = fake_proc_bundle(&h);
    binds_over_proc_refused(
        &h,
        &b,
        &fake,
        &["/evil", "/evil2/attr"],
        "leads into /proc through a symlink in the image",
    );
}

// ---------------------------------------------------------------------------------------------------------
// --no-pivot: the host's procfs and sysfs stay below the moved root

/// With `--no-pivot` (docker and containerd on a ramdisk) the old root stays in the container's
/// mount namespace under the moved one. Were the host's procfs and sysfs still mounted there, a
/// process in a new user namespace could mount a fresh, unmasked procfs (`/proc/keys` readable:
/// the kernel allows it when a fully visible one exists) or sysfs. runc detaches them ("mount:
/// permission denied" inside); so do we. Run against runc too, where it is installed.
#[test]
fn no_pivot_leaves_no_host_procfs_or_sysfs_to_mount_again() {
    let script = "unshare -mrpf sh -c 'mount -t proc none /proc && echo proc-mounted'; \
                  unshare -mrnf sh -c 'mount -t sysfs none /sys && echo sysfs-mounted'; \
                  echo done";
    let runtimes = spec_tests::sangja_and_runc!();
    for h in &runtimes {
        let mut b = h.bundle_private();
        for set in ["bounding", "effective", "permitted"] {
            b.push(
                &format!("/process/capabilities/{set}"),
                json!("CAP_SETFCAP"),
            );
        }
        b.set("/root/readonly", json!(false));
        b.args(&["sh", "-c", script]);
        let out = h.run_with(&b, &["--no-pivot"]);
        out.ok();
        let name = h.bin().display();
        assert!(out.stdout.contains("done"), "{name}: {out}");
        assert!(
            !out.stdout.contains("proc-mounted"),
            "{name}: a fresh procfs could be mounted in the container:\n{out}"
        );
        assert!(
            !out.stdout.contains("sysfs-mounted"),
            "{name}: a fresh sysfs could be mounted in the container:\n{out}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// CVE-2025-52881: writes to /proc redirected by the container's mounts

/// The image's `/mnt/k` is a symlink to `/proc/sys/kernel`, so an innocent-looking volume at `/mnt/k/msgmax`
/// lands on top of the procfs file. A sysctl write by path would then go into the volume's host file (in
/// the real attack: a host-global procfs file). Every `/proc` write goes through a verified procfs handle
/// that refuses to cross into another mount: the create fails, and the host file is untouched.
#[test]
fn cve_2025_52881_sysctl_writes_are_not_redirected_by_mounts() {
    let h = harness!();
    let host_file = h.base().join("host-file");
    fs::write(&host_file, "untouched\n").unwrap();
    let mut b = h.bundle_private();
    let root = b.rootfs().to_path_buf();
    symlink("/proc/sys/kernel", root.join("mnt/k")).unwrap();
    b.add_mount(json!({"destination": "/mnt/k/msgmax", "type": "bind",
                        "source": host_file.to_str().unwrap(), "options": ["bind", "rw"]}));
    b.set("/linux/sysctl", json!({"kernel.msgmax": "4096"}));
    b.args(&["cat", "/proc/sys/kernel/msgmax"]);
    let out = h.run(&b);
    assert_eq!(
        fs::read_to_string(&host_file).unwrap(),
        "untouched\n",
        "{out}"
    );
    // Refused: the volume cannot land on procfs (the mount is refused first), and were it there,
    // the sysctl write through the verified procfs handle would refuse to cross into it.
    out.failed();
    assert!(
        out.stderr.contains("/proc/sys/kernel/msgmax")
            || out
                .stderr
                .contains("/mnt/k/msgmax: leads into /proc through a symlink"),
        "{out}"
    );
    assert!(host_mounts_under(h.base()).is_empty());
}

// ---------------------------------------------------------------------------------------------------------
// 6. /proc/sys, /proc/sysrq-trigger and /sys are read-only with the default spec

#[test]
fn proc_sys_and_sysrq_read_only_by_default() {
    let h = harness!();
    let mut b = h.bundle();
    // Writes back the current value (harmless if it ever succeeded), and `h` (help) to sysrq-trigger.
    let run = h.run(b.args(&[
        "sh",
        "-c",
        "f=/proc/sys/vm/overcommit_memory; v=$(cat $f); \
         echo $v > $f 2>/dev/null && echo sys-written || echo sys-refused; \
         echo h > /proc/sysrq-trigger && echo sysrq-written || echo sysrq-refused; \
         touch /sys/kernel/pwned 2>/dev/null && echo sysfs-written || echo sysfs-refused; \
         grep -E ' /proc/sys | /proc/sysrq-trigger | /sys ' /proc/self/mountinfo",
    ]));
    run.ok();
    let out = run.stdout.clone();

    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..3],
        ["sys-refused", "sysrq-refused", "sysfs-refused"],
        "{out}"
    );
    // A kernel without CONFIG_MAGIC_SYSRQ has no /proc/sysrq-trigger (the write above failed with ENOENT).
    let sysrq = Path::new("/proc/sysrq-trigger").exists();
    for mp in ["/proc/sys", "/proc/sysrq-trigger", "/sys"] {
        if mp == "/proc/sysrq-trigger" && !sysrq {
            continue;
        }
        let line = lines[3..]
            .iter()
            .find(|l| l.split(' ').nth(4) == Some(mp))
            .unwrap_or_else(|| panic!("no mount at {mp}:\n{out}"));
        let opts = line.split(' ').nth(5).unwrap();
        assert!(
            opts.split(',').any(|o| o == "ro"),
            "{mp} is not read-only: {line}"
        );
    }
}
