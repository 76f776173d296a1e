//! Root filesystem: mounts and their flags, masked and read-only paths, /dev, linux.devices, hostname,
//! domainname, sysctl, bind and tmpfs mounts, rootfs propagation, symlinked mount destinations.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::json;
use spec_tests::host::{self, find_mount, parse_mountinfo, MountInfo};
use spec_tests::{harness, Harness};

fn container_mounts(h: &Harness, b: &mut spec_tests::Bundle) -> Vec<MountInfo> {
    parse_mountinfo(&h.probe(b, &["cat", "/proc/self/mountinfo"]))
}

#[track_caller]
fn mount_at<'a>(mounts: &'a [MountInfo], at: &str) -> &'a MountInfo {
    find_mount(mounts, at).unwrap_or_else(|| panic!("nothing mounted at {at}: {mounts:#?}"))
}

#[track_caller]
fn assert_opts(m: &MountInfo, fstype: &str, opts: &[&str], super_opts: &[&str]) {
    assert_eq!(m.fstype, fstype, "type of {}: {m:?}", m.mount_point);
    for o in opts {
        assert!(
            m.has_opt(o),
            "{} lacks mount option {o}: {m:?}",
            m.mount_point
        );
    }
    for o in super_opts {
        assert!(
            m.has_super_opt(o),
            "{} lacks super option {o}: {m:?}",
            m.mount_point
        );
    }
}

fn run_mount(args: &[&str]) {
    let st = Command::new("mount")
        .args(args)
        .status()
        .expect("run mount(8)");
    assert!(st.success(), "mount {args:?} failed");
}

#[test]
fn default_mounts_have_the_right_types_and_flags() {
    let h = harness!();
    let mut b = h.bundle();
    let m = container_mounts(&h, &mut b);
    assert!(
        mount_at(&m, "/").has_opt("ro"),
        "root.readonly: {:?}",
        mount_at(&m, "/")
    );
    assert_opts(mount_at(&m, "/proc"), "proc", &[], &[]);
    assert_opts(
        mount_at(&m, "/dev"),
        "tmpfs",
        &["nosuid"],
        &["mode=755", "size=65536k"],
    );
    assert_opts(
        mount_at(&m, "/dev/pts"),
        "devpts",
        &["nosuid", "noexec"],
        &["gid=5", "mode=620", "ptmxmode=666"],
    );
    assert_opts(
        mount_at(&m, "/dev/shm"),
        "tmpfs",
        &["nosuid", "nodev", "noexec"],
        &["size=65536k"],
    );
    assert_opts(
        mount_at(&m, "/dev/mqueue"),
        "mqueue",
        &["nosuid", "nodev", "noexec"],
        &[],
    );
    assert_opts(
        mount_at(&m, "/sys"),
        "sysfs",
        &["ro", "nosuid", "nodev", "noexec"],
        &[],
    );

    // /sys/fs/cgroup: cgroup2 there, or (v1 and hybrid hosts) a tmpfs with one read-only mount per host
    // v1 hierarchy, like runc.
    let cg = mount_at(&m, "/sys/fs/cgroup");
    if cg.fstype == "cgroup2" {
        assert!(cg.has_opt("ro"), "{cg:?}");
    } else {
        assert_eq!(cg.fstype, "tmpfs", "{cg:?}");
        let v1: Vec<_> = host::cgroup_mounts()
            .into_iter()
            .filter(|c| c.fstype == "cgroup")
            .collect();
        assert!(
            !v1.is_empty(),
            "host has neither cgroup2 at /sys/fs/cgroup nor v1 hierarchies"
        );
        for c in v1 {
            let name = c
                .path
                .file_name()
                .expect("hierarchy name")
                .to_string_lossy();
            let at = format!("/sys/fs/cgroup/{name}");
            assert_opts(
                mount_at(&m, &at),
                "cgroup",
                &["ro", "nosuid", "nodev", "noexec"],
                &[],
            );
        }
    }

    // Nothing of the host's mount table beyond what the config asks for.
    for mp in m.iter().map(|x| x.mount_point.as_str()) {
        let expected = mp == "/"
            || ["/proc", "/dev", "/sys"]
                .iter()
                .any(|p| mp == *p || mp.starts_with(&format!("{p}/")));
        assert!(
            expected,
            "unexpected mount point {mp} in the container: {m:#?}"
        );
    }
}

#[test]
fn readonly_root_refuses_writes_and_writable_root_accepts_them() {
    let h = harness!();
    let mut b = h.bundle_private();
    let out = h.sh(&mut b, "touch /written 2>&1; echo rc=$?");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!b.rootfs().join("written").exists());

    b.set("/root/readonly", json!(false));
    let m = container_mounts(&h, &mut b);
    assert!(!mount_at(&m, "/").has_opt("ro"), "{:?}", mount_at(&m, "/"));
    h.sh(&mut b, "touch /written");
    assert!(
        b.rootfs().join("written").exists(),
        "write to a rw root did not land in the rootfs"
    );
}

#[test]
fn masked_paths_are_empty() {
    let h = harness!();
    let mut b = h.bundle();
    // Non-vacuous: these have content on the host.
    for p in ["/proc/keys", "/proc/timer_list"] {
        assert!(
            !fs::read(p).expect("read host file").is_empty(),
            "{p} is empty on the host: pick another probe"
        );
    }
    assert!(fs::read_dir("/sys/firmware")
        .expect("host /sys/firmware")
        .next()
        .is_some());
    // Custom entries: a file and a directory of the rootfs, and a path that does not exist (ignored).
    for p in ["/etc/group", "/home", "/proc/does-not-exist"] {
        b.push("/linux/maskedPaths", json!(p));
    }
    let out = h.sh(
        &mut b,
        "for f in /proc/keys /proc/timer_list /etc/group; do echo \"$f $(cat $f | wc -c)\"; done; \
         for d in /sys/firmware /home; do echo \"$d $(ls -A $d | wc -l)\"; done",
    );
    assert_eq!(
        out,
        "/proc/keys 0\n/proc/timer_list 0\n/etc/group 0\n/sys/firmware 0\n/home 0\n"
    );
}

#[test]
fn readonly_paths_refuse_writes() {
    let h = harness!();
    let mut b = h.bundle();
    b.add_mount(json!({"destination": "/mnt/a", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(json!({"destination": "/mnt/b", "type": "tmpfs", "source": "tmpfs"}));
    b.push("/linux/readonlyPaths", json!("/mnt/a"));
    let out = h.sh(
        &mut b,
        "w() { err=$( { echo x > \"$1\"; } 2>&1 ); echo \"$1 rc=$? $err\"; }; \
         w /proc/sys/kernel/hostname; w /mnt/a/f; w /mnt/b/f; \
         grep -E ' /proc/sys | /mnt/a ' /proc/self/mountinfo",
    );
    let lines: Vec<&str> = out.lines().collect();
    for (i, path) in ["/proc/sys/kernel/hostname", "/mnt/a/f"].iter().enumerate() {
        assert!(
            lines[i].starts_with(&format!("{path} rc=1"))
                && lines[i].contains("Read-only file system"),
            "write to readonly path {path}: {}",
            lines[i]
        );
    }
    assert_eq!(
        lines[2].trim(),
        "/mnt/b/f rc=0",
        "control write to a plain tmpfs"
    );
    let m = parse_mountinfo(&out);
    assert!(mount_at(&m, "/proc/sys").has_opt("ro"), "{out}");
    assert!(mount_at(&m, "/mnt/a").has_opt("ro"), "{out}");
}

#[test]
fn dev_has_the_default_devices_and_links() {
    let h = harness!();
    let mut b = h.bundle();
    let out = h.sh(
        &mut b,
        "for f in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$f; done; \
         for l in ptmx fd stdin stdout stderr; do echo \"$l -> $(readlink /dev/$l)\"; done; \
         for d in pts shm; do [ -d /dev/$d ] && echo \"$d dir\"; done; \
         echo blk=$(find /dev -type b | wc -l); \
         echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; head -c 8 /dev/urandom | wc -c",
    );
    let want = "\
/dev/null character special file 1:3 666
/dev/zero character special file 1:5 666
/dev/full character special file 1:7 666
/dev/random character special file 1:8 666
/dev/urandom character special file 1:9 666
/dev/tty character special file 5:0 666
ptmx -> pts/ptmx
fd -> /proc/self/fd
stdin -> /proc/self/fd/0
stdout -> /proc/self/fd/1
stderr -> /proc/self/fd/2
pts dir
shm dir
blk=0
null-ok
4
8
";
    assert_eq!(out, want);
    let names = h.probe(&mut b, &["ls", "/dev"]);
    for host_only in ["kmsg", "mem", "vda", "sda", "port", "fuse", "net"] {
        assert!(
            !names.lines().any(|n| n == host_only),
            "host device {host_only} visible in the container:\n{names}"
        );
    }
}

#[test]
fn linux_devices_are_created() {
    let h = harness!();
    let mut b = h.bundle();
    b.set(
        "/linux/devices",
        json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o620, "uid": 0, "gid": 0},
            {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 0o666, "uid": 0, "gid": 0},
            {"path": "/dev/loop-spec", "type": "b", "major": 7, "minor": 0, "fileMode": 0o600,
             "uid": 1000, "gid": 1000},
        ]),
    );
    let out = h.sh(
        &mut b,
        "for f in /dev/fuse /dev/net/tun /dev/loop-spec; do stat -c '%n %F %t:%T %a %u %g' $f; done",
    );
    assert_eq!(
        out,
        "/dev/fuse character special file a:e5 620 0 0\n\
         /dev/net/tun character special file a:c8 666 0 0\n\
         /dev/loop-spec block special file 7:0 600 1000 1000\n"
    );
}

#[test]
fn hostname_and_domainname() {
    let h = harness!();
    let mut b = h.bundle();
    b.set("/hostname", json!("box-1"));
    b.set("/domainname", json!("example.test"));
    let out = h.sh(
        &mut b,
        "hostname; uname -n; cat /proc/sys/kernel/domainname",
    );
    assert_eq!(out, "box-1\nbox-1\nexample.test\n");
}

#[test]
fn sysctl_is_applied_inside_the_namespaces() {
    let h = harness!();
    let mut b = h.bundle();
    let host_fwd = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("host ip_forward");
    let host_msgmax = fs::read_to_string("/proc/sys/kernel/msgmax").expect("host msgmax");
    // What a new network and ipc namespace start with on this host (the kernel copies the host's
    // forwarding setting into a new network namespace; Docker hosts forward): the config asks for
    // something else, so that the value inside can only have come from linux.sysctl.
    let start = h.sh(
        &mut b,
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax",
    );
    let (fwd0, msgmax0) = start.split_once('\n').expect("two values");
    let fwd = if fwd0.trim() == "1" { "0" } else { "1" };
    let msgmax = if msgmax0.trim() == "4096" {
        "4097"
    } else {
        "4096"
    };
    b.set(
        "/linux/sysctl",
        json!({"net.ipv4.ip_forward": fwd, "kernel.msgmax": msgmax}),
    );
    let out = h.sh(
        &mut b,
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax",
    );
    assert_eq!(out, format!("{fwd}\n{msgmax}\n"));
    // The host is untouched.
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").ok(),
        Some(host_fwd)
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/msgmax").ok(),
        Some(host_msgmax)
    );
}

#[test]
fn bind_mounts_rw_ro_and_files() {
    let h = harness!();
    let mut b = h.bundle_private();
    let rw = h.tempdir("rw");
    let ro = h.tempdir("ro");
    fs::write(rw.join("hello"), "rw-hello").expect("write");
    fs::write(ro.join("hello"), "ro-hello").expect("write");
    let file = h.base().join("resolv.conf");
    fs::write(&file, "nameserver 192.0.2.1\n").expect("write");
    let s = |p: &Path| p.to_str().expect("UTF-8").to_string();
    b.add_mount(json!({"destination": "/mnt/a", "type": "bind", "source": s(&rw), "options": ["rbind", "rw"]}));
    b.add_mount(json!({"destination": "/mnt/b", "type": "none", "source": s(&ro), "options": ["bind", "ro"]}));
    b.add_mount(
        json!({"destination": "/etc/resolv.conf", "type": "bind", "source": s(&file),
                       "options": ["bind", "ro"]}),
    );
    let out = h.sh(
        &mut b,
        "cat /mnt/a/hello; echo; echo new > /mnt/a/written; echo w=$?; cat /mnt/b/hello; echo; \
         echo x > /mnt/b/x 2>/dev/null; echo ro=$?; cat /etc/resolv.conf",
    );
    assert_eq!(out, "rw-hello\nw=0\nro-hello\nro=1\nnameserver 192.0.2.1\n");
    assert_eq!(
        fs::read_to_string(rw.join("written")).ok().as_deref(),
        Some("new\n")
    );
    assert!(!ro.join("x").exists());
}

#[test]
fn tmpfs_mount_options() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.add_mount(
        json!({"destination": "/fresh", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=700"]}),
    );
    let out = h.sh(
        &mut b,
        "stat -c %a /fresh; echo x > /fresh/f && echo written; cat /proc/self/mountinfo",
    );
    let (head, mounts) = out.split_at(out.find("written\n").expect("written") + 8);
    assert_eq!(head, "700\nwritten\n");
    let m = parse_mountinfo(mounts);
    assert_opts(
        mount_at(&m, "/fresh"),
        "tmpfs",
        &["nosuid", "nodev", "noexec"],
        &["size=1024k", "mode=700"],
    );
}

/// A tmpfs mounted over an existing directory gets the `mode=` it asks for. (runc 1.1 chmods it back
/// to the directory's mode, silently ignoring the option; sangja honours what the config says.)
#[test]
fn tmpfs_over_an_existing_dir_honours_its_mode_option() {
    let h = harness!();
    let mut b = h.bundle();
    b.add_mount(
        json!({"destination": "/mnt/c", "type": "tmpfs", "source": "tmpfs",
                       "options": ["size=1m", "mode=700"]}),
    );
    let out = h.sh(
        &mut b,
        "stat -c %a /mnt/c; grep ' /mnt/c ' /proc/self/mountinfo",
    );
    let (mode, line) = out.split_once('\n').expect("two parts");
    assert_eq!(mode, "700", "{out}");
    let m = parse_mountinfo(line);
    assert_opts(mount_at(&m, "/mnt/c"), "tmpfs", &[], &["mode=700"]);
}

/// Sets up a shared host mount at `<rootfs>/mnt/a` and returns its peer group id.
fn shared_submount(h: &Harness, b: &spec_tests::Bundle) -> String {
    let src = h.tempdir("shared-src");
    let at = b.rootfs().join("mnt/a");
    let (src_s, at_s) = (
        src.to_str().expect("UTF-8"),
        at.to_str().expect("UTF-8").to_string(),
    );
    run_mount(&["--bind", src_s, &at_s]);
    let at_clone = at_s.clone();
    h.defer(move || {
        let _ = Command::new("umount").arg("-l").arg(&at_clone).status();
    });
    run_mount(&["--make-shared", &at_s]);
    let host_mounts = host::own_mounts();
    let m = find_mount(&host_mounts, &at_s).expect("host bind mount");
    m.optional
        .iter()
        .find_map(|o| o.strip_prefix("shared:"))
        .expect("host mount is shared")
        .to_string()
}

fn propagation_seen(h: &Harness, prop: Option<&str>) -> (String, Vec<String>) {
    let mut b = h.bundle_private();
    let peer = shared_submount(h, &b);
    if let Some(p) = prop {
        b.set("/linux/rootfsPropagation", json!(p));
    }
    let m = container_mounts(h, &mut b);
    (peer, mount_at(&m, "/mnt/a").optional.clone())
}

#[test]
fn rootfs_propagation_rprivate_rslave_rshared() {
    let h = harness!();
    let (_, tags) = propagation_seen(&h, Some("rprivate"));
    assert!(
        tags.is_empty(),
        "rprivate: /mnt/a still propagates: {tags:?}"
    );
    let (peer, tags) = propagation_seen(&h, Some("rslave"));
    assert_eq!(tags, [format!("master:{peer}")], "rslave");
    let (peer, tags) = propagation_seen(&h, Some("rshared"));
    assert_eq!(tags, [format!("shared:{peer}")], "rshared");
}

/// With `rootfsPropagation` unset, sangja makes the container's mounts private (the issue's
/// contract; runc 1.1 uses rslave): a shared host submount neither receives nor sends events.
#[test]
fn rootfs_propagation_defaults_to_private() {
    let h = harness!();
    let (_, tags) = propagation_seen(&h, None);
    assert!(tags.is_empty(), "default rootfsPropagation: {tags:?}");
}

#[test]
fn symlinked_mount_destination_resolves_inside_the_rootfs() {
    let h = harness!();
    let mut b = h.bundle_private();
    let outside_abs = h.tempdir("outside-abs");
    let outside_rel = h.tempdir("outside-rel");
    let src = h.tempdir("src");
    fs::write(src.join("marker"), "inside").expect("write marker");
    std::os::unix::fs::symlink(&outside_abs, b.rootfs().join("evil")).expect("symlink");
    // A relative link climbing far above the rootfs.
    let rel_target = format!("../../../../../../../../..{}", outside_rel.display());
    std::os::unix::fs::symlink(&rel_target, b.rootfs().join("evil2")).expect("symlink");
    let src_s = src.to_str().expect("UTF-8");
    b.add_mount(json!({"destination": "/evil", "type": "bind", "source": src_s, "options": ["rbind", "ro"]}));
    b.add_mount(json!({"destination": "/evil2", "type": "tmpfs", "source": "tmpfs"}));
    let out = h.sh(
        &mut b,
        "cat /evil/marker; echo; echo x > /evil2/pwned && echo w=0",
    );
    assert_eq!(out, "inside\nw=0\n", "mounts must land inside the rootfs");
    for d in [&outside_abs, &outside_rel] {
        let entries: Vec<_> = fs::read_dir(d).expect("read outside dir").collect();
        assert!(
            entries.is_empty(),
            "{} was written through a symlink",
            d.display()
        );
    }
    assert!(
        fs::symlink_metadata(b.rootfs().join("evil"))
            .expect("evil")
            .file_type()
            .is_symlink(),
        "the runtime replaced the rootfs symlink"
    );
}

/// Recursive mount attributes (`rro`, `rnosymfollow`, `rnoexec`, `rnoatime`, and a negation)
/// reach the bind and the mount below it, through `mount_setattr(AT_RECURSIVE)`; non-recursive
/// `ro` stays on the top mount only. The same against runc where it is installed.
#[test]
fn recursive_mount_attributes_reach_submounts() {
    let runtimes = spec_tests::sangja_and_runc!();
    let src = runtimes[0].tempdir("rattr");
    let sub = src.join("sub");
    fs::create_dir_all(&sub).expect("mkdir");
    run_mount(&[
        "-t",
        "tmpfs",
        "-o",
        "size=1m",
        "tmpfs",
        sub.to_str().expect("UTF-8"),
    ]);
    let umount = sub.clone();
    runtimes[0].defer(move || {
        let _ = Command::new("umount").arg(&umount).status();
    });
    for h in &runtimes {
        let mut b = h.bundle();
        b.add_mount(
            json!({"destination": "/r", "type": "bind", "source": src.to_str().unwrap(),
            "options": ["rbind", "rro", "rnosymfollow", "rnoexec", "rnoatime"]}),
        );
        b.add_mount(
            json!({"destination": "/top", "type": "bind", "source": src.to_str().unwrap(),
            "options": ["rbind", "ro", "rnosuid"]}),
        );
        let mounts = container_mounts(h, &mut b);
        let name = h.bin().display();
        for at in ["/r", "/r/sub"] {
            let m = mount_at(&mounts, at);
            for o in ["ro", "nosymfollow", "noexec", "noatime"] {
                assert!(m.has_opt(o), "{name}: {at} lacks {o}: {m:?}");
            }
        }
        let (top, below) = (mount_at(&mounts, "/top"), mount_at(&mounts, "/top/sub"));
        assert!(
            top.has_opt("ro") && top.has_opt("nosuid"),
            "{name}: {top:?}"
        );
        assert!(below.has_opt("nosuid"), "{name}: {below:?}");
        assert!(
            below.has_opt("rw"),
            "{name}: non-recursive ro reached /top/sub: {below:?}"
        );
    }
}

/// A tmpfs without `mode=` takes the mode of the directory it covers, as runc copies it (the
/// kernel's 1777 would replace it); with `mode=` it gets that. Against runc too where installed.
#[test]
fn tmpfs_without_mode_keeps_the_directorys_mode() {
    let runtimes = spec_tests::sangja_and_runc!();
    for h in &runtimes {
        let mut b = h.bundle_private();
        for (dir, mode) in [("sticky", 0o3777), ("private", 0o750)] {
            let d = b.rootfs().join(dir);
            fs::create_dir_all(&d).expect("mkdir");
            fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .expect("chmod");
        }
        b.add_mount(
            json!({"destination": "/sticky", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "size=64k"]}),
        );
        b.add_mount(json!({"destination": "/private", "type": "tmpfs", "source": "tmpfs"}));
        b.add_mount(
            json!({"destination": "/given", "type": "tmpfs", "source": "tmpfs",
            "options": ["mode=700"]}),
        );
        let out = h.probe(
            &mut b,
            &["stat", "-c", "%n %a", "/sticky", "/private", "/given"],
        );
        let name = h.bin().display();
        assert!(out.contains("/sticky 3777"), "{name}: {out}");
        assert!(out.contains("/private 750"), "{name}: {out}");
        assert!(out.contains("/given 700"), "{name}: {out}");
    }
}

/// A read-only bind at `/dev` with `/dev/pts`, `/dev/shm` and `/dev/mqueue` below it: the mount
/// points are made before the bind turns read-only. (runc 1.1.5 fails this case here: "mkdir
/// …/dev/pts: read-only file system".)
#[test]
fn read_only_dev_bind_with_mounts_below() {
    let runtimes = [harness!()];
    for h in &runtimes {
        let mut b = h.bundle();
        // What a bound /dev brings: at least the null device (the masks bind it).
        let src = h.tempdir("devsrc");
        let st = Command::new("mknod")
            .arg(src.join("null"))
            .args(["c", "1", "3"])
            .status()
            .expect("mknod");
        assert!(st.success(), "mknod null");
        let mounts: Vec<serde_json::Value> = b.config["mounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .map(|m| match m["destination"] == "/dev" {
                true => json!({"destination": "/dev", "type": "bind",
                    "source": src.to_str().unwrap(), "options": ["rbind", "ro", "nosuid"]}),
                false => m.clone(),
            })
            .collect();
        b.set("/mounts", json!(mounts));
        b.args(&[
            "sh",
            "-c",
            "touch /dev/x 2>/dev/null && echo dev-writable; \
             grep -c ' /dev/pts ' /proc/self/mountinfo; stat -c '%F %t:%T' /dev/null; echo done",
        ]);
        let out = h.run(&b);
        let name = h.bin().display();
        assert!(out.success(), "{name}: {out}");
        assert!(
            !out.stdout.contains("dev-writable"),
            "{name}: /dev is writable: {out}"
        );
        assert!(
            out.stdout.starts_with("1\n"),
            "{name}: no devpts at /dev/pts: {out}"
        );
    }
}
