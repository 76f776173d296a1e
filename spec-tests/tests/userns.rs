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
