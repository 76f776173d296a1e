//! User namespaces as root: `linux.uidMappings`/`gidMappings` on a new user namespace made by the
//! init's clone, the container's root owning nothing on the host, `exec` joining it.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use serde_json::json;
use spec_tests::host::ns_id;
use spec_tests::{harness, Bundle, Harness};

/// Host ids of container id 0; the range is 65536 ids long.
const HOST_ROOT: u32 = 100_000;
const SIZE: u32 = 65_536;

/// `b` with a new user namespace mapping container 0..65536 to host 100000..165536.
fn mapped(b: &mut Bundle) {
    b.push("/linux/namespaces", json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": HOST_ROOT, "size": SIZE}]);
    b.set("/linux/uidMappings", map.clone());
    b.set("/linux/gidMappings", map);
}

/// A host directory anyone may write, bound read-write at `/mnt` in `b`.
fn shared_dir(h: &Harness, b: &mut Bundle) -> std::path::PathBuf {
    let dir = h.tempdir("userns-host");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).expect("chmod host dir");
    b.add_mount(json!({
        "destination": "/mnt", "type": "bind",
        "source": dir.to_str().expect("UTF-8"), "options": ["rbind", "rw"]
    }));
    dir
}

#[test]
fn the_containers_root_is_a_mapped_host_uid_and_its_files_land_as_it() {
    let h = harness!();
    let mut b = h.bundle();
    mapped(&mut b);
    let dir = shared_dir(&h, &mut b);
    // Written by the parent (the init, in the new namespace, could not lower it).
    b.set("/process/oomScoreAdj", json!(500));
    let out = h.sh(
        &mut b,
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; touch /mnt/made; \
         stat -c '%t:%T %F' /dev/null; readlink /proc/self/ns/user; cat /proc/self/oom_score_adj",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["0", "0"], "{out}");
    for l in &lines[2..4] {
        let words: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(words, ["0", "100000", "65536"], "{out}");
    }
    let made = fs::metadata(dir.join("made")).expect("the container's file on the host");
    assert_eq!((made.uid(), made.gid()), (HOST_ROOT, HOST_ROOT), "{out}");
    assert_eq!(
        lines[4], "1:3 character special file",
        "the host's null device: {out}"
    );
    assert_ne!(
        lines[5],
        ns_id("self", "user"),
        "a user namespace of its own: {out}"
    );
    assert_eq!(lines[6], "500", "process.oomScoreAdj: {out}");
}

#[test]
fn exec_joins_the_user_namespace_as_the_mapped_user() {
    let h = harness!();
    let mut b = h.bundle();
    mapped(&mut b);
    let dir = shared_dir(&h, &mut b);
    b.args(&["sleep", "1000"]);
    let c = h.create_and_start(&b);
    let pid = h.pid(&c.id).to_string();
    let script = "id -u; readlink /proc/self/ns/user; touch /mnt/by-exec";
    let out = h.cmd(&["exec", &c.id, "sh", "-c", script]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"0"), "{out}");
    assert_eq!(lines.get(1), Some(&ns_id(&pid, "user").as_str()), "{out}");
    let out = h.cmd(&[
        "exec",
        "--user",
        "1000:1000",
        &c.id,
        "touch",
        "/mnt/by-1000",
    ]);
    out.ok();
    for (file, id) in [("by-exec", HOST_ROOT), ("by-1000", HOST_ROOT + 1000)] {
        let m = fs::metadata(dir.join(file)).expect("the exec's file on the host");
        assert_eq!((m.uid(), m.gid()), (id, id), "{file}");
    }
}

/// What the container's root tries on host files bound into it: each line is printed only when
/// the attempt succeeded.
const TAMPER: &str = "echo x >> /mnt/owned && echo wrote; chown 1:1 /mnt/owned && echo chowned; \
    chmod 4777 /mnt/owned && echo chmodded; touch /mnt/new && echo created; \
    rm /mnt/owned && echo removed; mknod /mnt/disk b 8 0 && echo mknodded; true";

/// The capabilities that would let a root write anything: given to the container in full, in
/// every set, so that only the mapping stands between it and the host's files.
fn all_powers(b: &mut Bundle) {
    let caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_MKNOD",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_SYS_ADMIN"
    ]);
    for set in ["bounding", "effective", "permitted"] {
        b.set(&format!("/process/capabilities/{set}"), caps.clone());
    }
}

/// A root-owned host directory (0755) holding a root-owned file (0644), bound at `/mnt`.
fn host_files(h: &Harness, b: &mut Bundle) -> std::path::PathBuf {
    let dir = h.tempdir("userns-owned");
    fs::write(dir.join("owned"), "host\n").expect("write host file");
    fs::set_permissions(dir.join("owned"), fs::Permissions::from_mode(0o644)).expect("chmod");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod dir");
    b.add_mount(json!({
        "destination": "/mnt", "type": "bind",
        "source": dir.to_str().expect("UTF-8"), "options": ["rbind", "rw"]
    }));
    dir
}

/// Escape test: the mapped root cannot write, chown, chmod, create, remove or mknod host files
/// outside its range. The same script as the host's root (no user namespace) does all of it,
/// which is what the test would see if the mapping did not hold.
#[test]
fn the_mapped_root_cannot_touch_host_files_outside_its_range() {
    let h = harness!();
    let mut b = h.bundle();
    let dir = host_files(&h, &mut b);
    all_powers(&mut b);
    mapped(&mut b);
    let out = h.sh(&mut b, TAMPER);
    assert_eq!(out.trim(), "", "the mapped root changed host files");
    let m = fs::metadata(dir.join("owned")).expect("host file kept");
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, 0, 0o644));
    assert_eq!(
        fs::read_to_string(dir.join("owned")).ok().as_deref(),
        Some("host\n")
    );
    assert!(!dir.join("new").exists() && !dir.join("disk").exists());

    let mut control = h.bundle();
    host_files(&h, &mut control);
    all_powers(&mut control);
    let out = h.sh(&mut control, TAMPER);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["wrote", "chowned", "chmodded", "created", "removed", "mknodded"],
        "without a user namespace the same script is the host's root"
    );
}

/// What the container's root tries on its cgroup, mounted read-write: printed only on success.
const CGROUP_TAMPER: &str = "for f in $(find /sys/fs/cgroup -maxdepth 2 -name cgroup.procs \
    -o -maxdepth 2 -name pids.max -o -maxdepth 2 -name memory.max \
    -o -maxdepth 2 -name memory.limit_in_bytes); do \
    case $f in *procs) v=$$;; *) v=max;; esac; \
    echo $v > $f 2>/dev/null && echo \"wrote $f\"; done; \
    mkdir /sys/fs/cgroup/pids/escape 2>/dev/null && echo made-cgroup; true";

/// Escape test: with its cgroup mounted read-write (with and without a cgroup namespace), the
/// mapped root cannot write a cgroup file or make a cgroup: the files belong to the host's root.
/// As the host's root the same script writes them.
#[test]
fn the_mapped_root_cannot_write_host_cgroups() {
    let h = harness!();
    for cgroupns in [false, true] {
        let mut b = h.bundle();
        let mounts = b.config["mounts"].as_array_mut().expect("mounts");
        let cg = mounts
            .iter_mut()
            .find(|m| m["type"] == "cgroup")
            .expect("runc spec mounts the cgroup filesystem");
        cg["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
        if cgroupns {
            b.push("/linux/namespaces", json!({"type": "cgroup"}));
        }
        b.set("/linux/resources/pids", json!({"limit": 100}));
        all_powers(&mut b);
        let control = h.sh(&mut b.clone(), CGROUP_TAMPER);
        assert!(control.contains("wrote"), "as the host's root: {control}");
        mapped(&mut b);
        let out = h.sh(&mut b, CGROUP_TAMPER);
        assert_eq!(
            out.trim(),
            "",
            "cgroup namespace {cgroupns}: the mapped root wrote"
        );
    }
}

/// Without a network namespace of its own, the mapped root may not mount sysfs (the host's network
/// namespace is not its): it gets the host's `/sys`, bound read-only throughout, as in runc.
#[test]
fn without_a_network_namespace_sys_is_the_hosts_bound_read_only() {
    let h = harness!();
    let mut b = h.bundle();
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces")
        .retain(|n| n["type"] != "network");
    mapped(&mut b);
    all_powers(&mut b);
    let out = h.sh(
        &mut b,
        "test -d /sys/kernel && echo kernel; \
         awk '$5 ~ \"^/sys\" { split($6, o, \",\"); print $5, o[1] }' /proc/self/mountinfo; \
         echo 1 > /sys/kernel/uevent_helper 2>/dev/null && echo wrote; \
         touch /sys/fs/cgroup/x 2>/dev/null && echo wrote-cgroup; true",
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("kernel"), "{out}");
    let mounts: Vec<&str> = lines.filter(|l| l.starts_with("/sys")).collect();
    assert!(mounts.contains(&"/sys ro"), "{out}");
    assert!(
        mounts.iter().all(|l| l.ends_with(" ro")),
        "every mount below /sys read-only: {out}"
    );
    assert!(!out.contains("wrote"), "{out}");
}

/// `readlink /proc/self/ns/<kind>` for each kind, then `$$`, the uid, the uid map and a file made
/// at `/mnt/made-by-joiner`.
const JOINER: &str = "for k in user net ipc uts pid mnt; do readlink /proc/self/ns/$k; done; \
    echo $$; id -u; cat /proc/self/uid_map; touch /mnt/made-by-joiner";

/// `b`'s namespaces: those of `kinds` joined from `pid`'s, the rest as they are.
fn join_from(b: &mut Bundle, pid: &str, kinds: &[(&str, &str)]) {
    let list = b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces");
    for (kind, proc_name) in kinds {
        list.retain(|n| n["type"] != *kind);
        list.push(json!({"type": kind, "path": format!("/proc/{pid}/ns/{proc_name}")}));
    }
    if kinds.iter().any(|(k, _)| *k == "uts") {
        b.remove("/hostname");
    }
}

/// A Kubernetes pod's second container: it joins the sandbox's user, network, IPC and UTS
/// namespaces by path and gets a mount and pid namespace of its own, owned by the joined user
/// namespace (the init joins, becomes root there, unshares, and forks into the new pid namespace).
#[test]
fn a_container_joins_another_s_user_namespace_with_new_mount_and_pid_namespaces() {
    let h = harness!();
    let mut sandbox = h.bundle();
    mapped(&mut sandbox);
    sandbox.args(&["sleep", "1000"]);
    let s = h.create_and_start(&sandbox);
    let pid = h.pid(&s.id).to_string();
    let mut b = h.bundle();
    let dir = shared_dir(&h, &mut b);
    join_from(
        &mut b,
        &pid,
        &[
            ("user", "user"),
            ("network", "net"),
            ("ipc", "ipc"),
            ("uts", "uts"),
        ],
    );
    let out = h.sh(&mut b, JOINER);
    let lines: Vec<&str> = out.lines().collect();
    for (i, kind) in ["user", "net", "ipc", "uts"].iter().enumerate() {
        assert_eq!(lines[i], ns_id(&pid, kind), "{kind} joined: {out}");
    }
    for (i, kind) in [(4, "pid"), (5, "mnt")] {
        assert_ne!(lines[i], ns_id(&pid, kind), "{kind} new: {out}");
        assert_ne!(lines[i], ns_id("self", kind), "{kind} new: {out}");
    }
    assert_eq!(lines[6..8], ["1", "0"], "pid 1, uid 0: {out}");
    let map: Vec<&str> = lines[8].split_whitespace().collect();
    assert_eq!(map, ["0", "100000", "65536"], "{out}");
    let m = fs::metadata(dir.join("made-by-joiner")).expect("the joiner's file");
    assert_eq!(m.uid(), HOST_ROOT);
}

/// A new user namespace beside a joined network namespace (podman's and CNI's way: the network
/// namespace is made first): the network namespace is joined before the user namespace exists,
/// and everything else new belongs to the new user namespace.
#[test]
fn a_new_user_namespace_beside_a_joined_network_namespace() {
    let h = harness!();
    let mut net = h.bundle();
    net.args(&["sleep", "1000"]);
    let n = h.create_and_start(&net);
    let pid = h.pid(&n.id).to_string();
    let mut b = h.bundle();
    let dir = shared_dir(&h, &mut b);
    mapped(&mut b);
    join_from(&mut b, &pid, &[("network", "net")]);
    let out = h.sh(&mut b, JOINER);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[1], ns_id(&pid, "net"), "net joined: {out}");
    assert_ne!(lines[0], ns_id("self", "user"), "user new: {out}");
    assert_eq!(lines[6..8], ["1", "0"], "pid 1, uid 0: {out}");
    let m = fs::metadata(dir.join("made-by-joiner")).expect("the container's file");
    assert_eq!(m.uid(), HOST_ROOT);
}

/// The staged init's container is like any other afterwards: its state names its pid 1 (not the
/// first process, which is reaped), `exec` joins every namespace (the one joined from above the
/// container's user namespace before the user namespace), and `delete --force` ends it.
#[test]
fn a_staged_container_runs_exec_and_deletes_like_any_other() {
    let h = harness!();
    let holder = spec_tests::host::ns_holder(&h).to_string();
    let mut b = h.bundle();
    mapped(&mut b);
    join_from(&mut b, &holder, &[("network", "net")]);
    b.args(&["sleep", "1000"]);
    let c = h.create_and_start(&b);
    let pid = h.pid(&c.id).to_string();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("init status");
    let nspid = status
        .lines()
        .find(|l| l.starts_with("NSpid:"))
        .unwrap_or("");
    assert!(
        nspid.ends_with("\t1"),
        "the state's pid is the container's pid 1: {nspid}"
    );
    let out = h.cmd(&[
        "exec",
        &c.id,
        "sh",
        "-c",
        "id -u; readlink /proc/self/ns/net",
    ]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["0", ns_id(&holder, "net").as_str()], "{out}");
    h.cmd(&["delete", "--force", &c.id]).ok();
    // Reaped by the host's pid 1 (the creating `sangja` has exited), which may take a while.
    let gone = || !std::path::Path::new(&format!("/proc/{pid}")).exists();
    assert!(
        spec_tests::host::wait_until(std::time::Duration::from_secs(10), gone),
        "the init is gone after delete --force"
    );
}

/// A host directory for idmapped binds: `f` owned by host uid/gid 0 (0644), `far` by 70000
/// (0644, beyond the container's range), `by1000` by 1000; mounted at `/mnt` with `options`.
fn idmap_source(h: &Harness, b: &mut Bundle, options: serde_json::Value) -> std::path::PathBuf {
    let dir = h.tempdir("idmap-src");
    for (name, id) in [("f", 0), ("far", 70000), ("by1000", 1000)] {
        let p = dir.join(name);
        fs::write(&p, "host\n").expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
        std::os::unix::fs::chown(&p, Some(id), Some(id)).expect("chown");
    }
    b.add_mount(json!({
        "destination": "/mnt", "type": "bind",
        "source": dir.to_str().expect("UTF-8"), "options": options
    }));
    dir
}

/// `idmap` without mappings of its own takes the container's: the host's root files are the
/// container root's, what it writes lands on the host as the host's root, and a file beyond the
/// range stays nobody's and read-only to it. Without `idmap` the same files are nobody's.
#[test]
fn an_idmapped_bind_shows_the_hosts_files_as_the_containers_own() {
    let h = harness!();
    let script = "stat -c '%u:%g' /mnt/f /mnt/far; echo more >> /mnt/f && echo wrote; \
        touch /mnt/new && echo created; echo x >> /mnt/far && echo wrote-far; true";
    let mut b = h.bundle();
    mapped(&mut b);
    all_powers(&mut b);
    let dir = idmap_source(&h, &mut b, json!(["rbind", "idmap"]));
    let out = h.sh(&mut b, script);
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words, ["0:0", "65534:65534", "wrote", "created"], "{out}");
    assert_eq!(
        fs::read_to_string(dir.join("f")).ok().as_deref(),
        Some("host\nmore\n")
    );
    let new = fs::metadata(dir.join("new")).expect("made through the idmapped mount");
    assert_eq!((new.uid(), new.gid()), (0, 0), "lands as the host's root");
    assert_eq!(
        fs::read_to_string(dir.join("far")).ok().as_deref(),
        Some("host\n")
    );

    let mut plain = h.bundle();
    mapped(&mut plain);
    all_powers(&mut plain);
    idmap_source(&h, &mut plain, json!(["rbind"]));
    let out = h.sh(&mut plain, script);
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        words,
        ["65534:65534", "65534:65534"],
        "without idmap: {out}"
    );
}

/// A mount's own mappings: host id 1000 appears as container id 500 (its mount id 100500 is the
/// container's 500), every other id as nobody.
#[test]
fn an_idmapped_bind_with_mappings_of_its_own() {
    let h = harness!();
    let mut b = h.bundle();
    mapped(&mut b);
    idmap_source(&h, &mut b, json!(["rbind"]));
    let own = json!([{"containerID": 1000, "hostID": 100500, "size": 1}]);
    let mounts = b.config["mounts"].as_array_mut().expect("mounts");
    let m = mounts.last_mut().expect("the idmapped mount");
    m["uidMappings"] = own.clone();
    m["gidMappings"] = own;
    let out = h.sh(&mut b, "stat -c '%u:%g' /mnt/by1000 /mnt/f");
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words, ["500:500", "65534:65534"], "{out}");
}

/// `ridmap` idmaps every mount of the copied tree; `idmap` with `rbind` only its top.
#[test]
fn ridmap_idmaps_the_mounts_below_and_idmap_does_not() {
    let h = harness!();
    for (option, want) in [("idmap", "65534:65534"), ("ridmap", "0:0")] {
        let mut b = h.bundle();
        mapped(&mut b);
        let dir = idmap_source(&h, &mut b, json!(["rbind", option]));
        let sub = dir.join("sub");
        fs::create_dir(&sub).expect("mkdir sub");
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "mode=0755", "tmpfs"])
            .arg(&sub)
            .status()
            .expect("mount tmpfs");
        assert!(st.success(), "mount a tmpfs below the source");
        fs::write(sub.join("g"), "sub\n").expect("write below");
        let out = h.sh(&mut b, "stat -c '%u:%g' /mnt/sub/g");
        assert_eq!(out.trim(), want, "{option}: {out}");
        let _ = std::process::Command::new("umount").arg(&sub).status();
    }
}

/// A staged init that fails before it asks for its maps (here: a join path that is no namespace)
/// reports the failure; it does not wait for maps the parent, waiting for the ask, never writes.
/// Nothing is left: no state, no process.
#[test]
fn a_staged_init_failing_before_it_asks_for_its_maps_says_why() {
    let h = harness!();
    let mut b = h.bundle();
    mapped(&mut b);
    let list = b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces");
    list.retain(|n| n["type"] != "network");
    list.push(json!({"type": "network", "path": "/etc/hostname"}));
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &[]);
    out.assert_error("/etc/hostname");
    h.cmd(&["state", &id]).assert_error("does not exist");
}
