//! Escape regressions: each test attempts a known runc container escape against the runtime and asserts
//! that it fails (issue 5, point 4). Most important first.
//!
//! - CVE-2019-5736: overwriting the host runtime binary through `/proc/<pid>/exe`;
//! - CVE-2016-9962: host fds leaking into `exec`'d processes;
//! - CVE-2024-21626: a leaked host directory fd reachable as `process.cwd = /proc/self/fd/N`;
//! - CVE-2021-30465 / CVE-2019-16884 / CVE-2019-19921: mount destinations and `/proc` replaced by symlinks
//!   or bind mounts from the image;
//! - CVE-2023-27561: `maskedPaths` through symlinks;
//! - CVE-2025-31133 (the image's `/dev/null` for masks), CVE-2025-52881 (`/proc` writes redirected);
//! - `/proc/sys`, `/proc/sysrq-trigger` and `/sys` read-only with the default spec;
//! - races a second container runs during `create` ([`races`]: CVE-2024-21626's cwd swap,
//!   CVE-2021-30465's mount destination swap), and what the process holds ([`identity`]:
//!   CVE-2022-29162's inheritable capabilities, CVE-2025-52565's `/dev/console`).
#![allow(clippy::unwrap_used)]

mod exe;
mod identity;
mod proc;
mod races;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::json;
use spec_tests::{assert_nothing_left, harness, host, secs, Harness};

/// A file whose name only exists on the host, next to the bundle: seeing it from the container means the
/// container reached a host directory.
const HOST_MARKER: &str = "host-marker-outside-the-container";

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn write_exec(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Mount points of the host (this test's mount namespace) under `dir`.
fn host_mounts_under(dir: &Path) -> Vec<String> {
    host::own_mounts()
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| Path::new(p).starts_with(dir))
        .collect()
}

/// Names in a host directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------------------
// 2. CVE-2016-9962: fds of the runtime reaching the container

/// The fds of a host pid other than 0, 1 and 2, with their targets.
fn extra_fds(pid: i64) -> Vec<String> {
    let dir = format!("/proc/{pid}/fd");
    let mut v: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap())
        .filter(|e| !["0", "1", "2"].contains(&e.file_name().to_str().unwrap()))
        .map(|e| {
            let target = fs::read_link(e.path()).unwrap_or_default();
            format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn cve_2016_9962_no_host_fds_in_init_or_exec() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let c = h.create_and_start(&b);
    let init = h.pid(&c.id);
    let pid_file = h.base().join("exec.pid");
    let pf = pid_file.to_str().unwrap();
    h.cmd(&["exec", "--detach", "--pid-file", pf, &c.id, "sleep", "1000"])
        .ok();
    let exec_pid: i64 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Both processes have execve'd `sleep` (no runtime code left) and hold nothing but stdio: no channel
    // socket, sync pipe, cgroup, namespace or state-dir fd of the runtime.
    for (who, pid) in [("init", init), ("exec", exec_pid)] {
        assert!(
            host::wait_until(secs(5), || fs::read_link(format!("/proc/{pid}/exe"))
                .map(|p| p.ends_with("busybox"))
                .unwrap_or(false)),
            "{who} did not exec sleep"
        );
        assert_eq!(
            extra_fds(pid),
            Vec::<String>::new(),
            "{who} (pid {pid}) holds fds beyond stdio"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// 3. CVE-2024-21626: a leaked host directory fd as the cwd

/// Where the process's cwd is: it climbs `..` (physically) 64 times and compares where it ends with its
/// root. Inside the container the climb stops at `/`; from a host directory (a leaked fd of the runtime:
/// cgroupfs, the state dir, a namespace file's filesystem) it goes past the container's root and ends at the
/// host's, a different inode. Prints `root=<dev:ino> top=<dev:ino>`.
const WHERE_IS_CWD: &str =
    "r=$(stat -c %d:%i /); i=0; while [ $i -lt 64 ]; do cd -P .. || exit 9; i=$((i+1)); done; \
     echo \"root=$r top=$(stat -c %d:%i .)\"";

/// A run as `process.cwd = /proc/self/fd/<fd>` (or `exec --cwd`) either is refused or has its cwd inside the
/// container.
fn assert_cwd_inside(what: &str, out: &spec_tests::Output) {
    if !out.success() {
        return;
    }
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("root="))
        .unwrap_or_default();
    let (root, top) = line
        .strip_prefix("root=")
        .and_then(|l| l.split_once(" top="))
        .unwrap_or_else(|| panic!("{what}: no report:\n{out}"));
    assert_eq!(
        root, top,
        "{what}: the cwd is outside the container's root:\n{out}"
    );
}

/// Every fd number the runtime could hold (3–64) as `process.cwd` and as `exec --cwd`: the process never
/// starts in a host directory. runc 1.1.12 fixed this by closing its fds and checking the cwd.
#[test]
fn cve_2024_21626_cwd_through_proc_self_fd() {
    let h = harness!();
    let mut b = h.bundle();
    let mut refused = 0;
    for fd in 3..=64 {
        b.set("/process/cwd", json!(format!("/proc/self/fd/{fd}")));
        b.args(&["sh", "-c", WHERE_IS_CWD]);
        let out = h.run(&b);
        assert_cwd_inside(&format!("process.cwd /proc/self/fd/{fd}"), &out);
        if !out.success() {
            refused += 1;
        }
    }
    // The same through exec --cwd, into a running container.
    b.set("/process/cwd", json!("/"));
    b.args(&["sleep", "1000"]);
    let c = h.create_and_start(&b);
    for fd in 3..=64 {
        let cwd = format!("/proc/self/fd/{fd}");
        let out = h.cmd(&["exec", "--cwd", &cwd, &c.id, "sh", "-c", WHERE_IS_CWD]);
        assert_cwd_inside(&format!("exec --cwd {cwd}"), &out);
    }
    // A cwd inside the container still works, and the check sees it there.
    let out = h.cmd(&["exec", "--cwd", "/etc", &c.id, "sh", "-c", WHERE_IS_CWD]);
    out.ok();
    assert_cwd_inside("exec --cwd /etc", &out);
    eprintln!("{refused} of 62 creates refused the /proc/self/fd cwd");
}

// ---------------------------------------------------------------------------------------------------------
// 4. CVE-2021-30465 and friends: mount destinations through symlinks

#[test]
fn mount_destination_symlinks_stay_in_rootfs() {
    let h = harness!();
    let host_dir = h.tempdir("hostdir");
    fs::write(host_dir.join(HOST_MARKER), "").unwrap();
    let host_before = names(&host_dir);
    let mut b = h.bundle_private();
    let root = b.rootfs().to_path_buf();
    // Absolute, relative with `..` past the root, and a chain of both.
    symlink(&host_dir, root.join("abs")).unwrap();
    let ups = "../".repeat(32);
    symlink(
        format!(
            "{ups}{}",
            host_dir.to_str().unwrap().trim_start_matches('/')
        ),
        root.join("mnt/rel"),
    )
    .unwrap();
    symlink("/abs", root.join("chain")).unwrap();
    // A destination whose parent is a symlink to the host dir.
    symlink(&host_dir, root.join("parent")).unwrap();
    for dest in ["/abs", "/mnt/rel", "/chain", "/parent/sub"] {
        b.add_mount(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}));
    }
    b.set("/root/readonly", json!(false));
    let out = h.sh(
        &mut b,
        "for d in /abs /mnt/rel /chain /parent/sub; do touch $d/pwned 2>/dev/null; ls $d; done; echo ok",
    );
    assert!(out.ends_with("ok\n"), "{out}");
    assert!(
        !out.contains(HOST_MARKER),
        "a mount destination showed the host directory:\n{out}"
    );
    assert_eq!(
        names(&host_dir),
        host_before,
        "the container wrote into the host dir"
    );
    assert!(host_mounts_under(h.base()).is_empty());
}

#[test]
fn mount_destination_symlink_to_proc_is_not_followed_out() {
    // CVE-2019-16884 style: a bind mount onto /proc/self/attr through a symlink in the image.
    let h = harness!();
    let fake = h.tempdir("fakeattr");
    fs::write(fake.join("current"), "unconfined\n").unwrap();
    let mut b = h.bundle_private();
    symlink("/proc/self/attr", b.rootfs().join("evil")).unwrap();
    b.add_mount(json!({
        "destination": "/evil", "type": "bind", "source": fake.to_str().unwrap(), "options": ["bind"]
    }));
    b.set("/root/readonly", json!(false));
    b.args(&[
        "sh",
        "-c",
        "cat /proc/self/attr/current 2>&1; stat -f -c %T /proc",
    ]);
    let out = h.run(&b);
    if out.success() {
        // Accepted: the bind must have landed inside the rootfs, not over procfs.
        assert!(
            !out.stdout.contains("unconfined"),
            "the image's symlink put a host bind mount over procfs's /proc/self/attr:\n{out}"
        );
        assert!(out.stdout.ends_with("proc\n"), "{out}");
    }
    assert!(host_mounts_under(h.base()).is_empty());
}

// ---------------------------------------------------------------------------------------------------------
// CVE-2025-31133: masking with the image's `/dev/null`

/// Drop the config's mounts whose destination `drop` picks (the `/dev` tmpfs, say), so that the
/// image's own files are what the runtime finds there.
pub(crate) fn images_own_dev(b: &mut spec_tests::Bundle, drop: impl Fn(&str) -> bool) {
    let mounts: Vec<serde_json::Value> = b.config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !drop(m["destination"].as_str().unwrap_or("")))
        .cloned()
        .collect();
    b.set("/mounts", json!(mounts));
}

/// With no `/dev` tmpfs in the config, the image's `/dev/null` is a symlink to a host-global procfs file
/// (`/proc/sys/kernel/core_pattern`). Masking binds "the null device" over `/proc/keys` and friends: it must
/// be the real one (character device 1:3), never what the image's path leads to (runc 1.2.8 checks it).
/// `readonlyPaths` is empty, so nothing else would make such a bind read-only.
#[test]
fn cve_2025_31133_masks_never_use_the_images_dev_null() {
    let h = harness!();
    let mut b = h.bundle_private();
    let root = b.rootfs().to_path_buf();
    images_own_dev(&mut b, |dest| dest.starts_with("/dev"));
    b.set("/linux/readonlyPaths", json!([]));
    b.set("/root/readonly", json!(false));
    let null = root.join("dev/null");
    let _ = fs::remove_file(&null);
    fs::create_dir_all(root.join("dev")).unwrap();
    symlink("/proc/sys/kernel/core_pattern", &null).unwrap();
    // The masked files this host's kernel has (runc spec's list; /proc/kcore needs CONFIG_PROC_KCORE).
    let files: Vec<&str> = [
        "/proc/keys",
        "/proc/timer_list",
        "/proc/kcore",
        "/proc/sched_debug",
    ]
    .into_iter()
    .filter(|f| Path::new(f).exists())
    .collect();
    assert!(
        !files.is_empty(),
        "none of the masked files exists on this host"
    );
    let script = format!(
        "for f in {}; do stat -c \"$f %F %t:%T\" $f; done",
        files.join(" ")
    );
    b.args(&["sh", "-c", &script]);
    let out = h.run(&b);
    // Never masked with something else than the null device: sangja refuses the fake (as runc 1.2.8).
    for f in &files {
        assert!(
            !out.stdout.contains(f)
                || out
                    .stdout
                    .contains(&format!("{f} character special file 1:3")),
            "{f} is not masked by the null device:\n{out}"
        );
    }
    out.assert_error("linux.maskedPaths: /dev/null in the container is not the null device");
    // With the image's /dev/null the null device, the same masks apply.
    fs::remove_file(&null).unwrap();
    let st = Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(st.success(), "mknod");
    let out = h.run(&b);
    out.ok();
    for f in &files {
        assert!(
            out.stdout
                .contains(&format!("{f} character special file 1:3")),
            "{f} is not masked by the null device:\n{out}"
        );
    }
    fs::remove_file(&null).unwrap();
    symlink("/proc/sys/kernel/core_pattern", &null).unwrap();
    assert_eq!(
        fs::read_link(&null).unwrap(),
        Path::new("/proc/sys/kernel/core_pattern")
    );
    assert!(host_mounts_under(h.base()).is_empty());
}
