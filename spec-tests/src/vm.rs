//! A throw-away VM for what this host cannot show (cgroup v2 on a hybrid host, AppArmor): Debian's kernel
//! (`linux-image-amd64`, downloaded with apt once and unpacked offline with `dpkg-deb`), an
//! initramfs written here (newc format: busybox, the binary under test with its shared libraries,
//! scripts and bundles), and qemu with the serial console on stdout.
//!
//! Software emulation (`-accel tcg -M pc`) unless `/dev/kvm` is usable: on this machine kind it is a
//! nested paravirtual KVM that cannot run a stock kernel. A boot takes about 5 s under TCG.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Debian kernel image: `$SANGJA_VM_KERNEL`, or a cached unpack of `linux-image-amd64`'s
/// dependency (fetched with `apt-get download` on first use).
pub fn kernel() -> PathBuf {
    if let Some(k) = std::env::var_os("SANGJA_VM_KERNEL") {
        return PathBuf::from(k);
    }
    let cache = std::env::temp_dir().join("sangja-vm-kernel");
    if let (Some(k), true) = (find_vmlinuz(&cache), cache.join("lib/modules").is_dir()) {
        return k;
    }
    let deps = run("apt-cache", &["depends", "linux-image-amd64"], None);
    let pkg = deps
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-"))
        .unwrap_or_else(|| {
            panic!("no kernel package in `apt-cache depends linux-image-amd64`:\n{deps}")
        })
        .trim()
        .to_string();
    // boot/ and the modules (lib/): what the tests use is built in, but for the BFQ I/O scheduler.
    download_deb(&pkg, &cache, &["boot", "lib"]);
    find_vmlinuz(&cache).unwrap_or_else(|| panic!("no vmlinuz in {pkg}"))
}

/// A module of the kernel [`kernel`] returns, e.g. `bfq` (the BFQ I/O scheduler, a module in Debian's
/// kernel): the path of its uncompressed `<name>.ko` under the cached `lib/modules`.
pub fn kernel_module(name: &str) -> PathBuf {
    let vmlinuz = kernel();
    let root = vmlinuz
        .parent()
        .and_then(Path::parent)
        .map(|c| c.join("lib/modules"))
        .unwrap_or_default();
    let file = format!("{name}.ko");
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.file_name().is_some_and(|n| n == file.as_str()) {
                return p;
            }
        }
    }
    panic!(
        "no {file} under {} (set SANGJA_VM_KERNEL to a kernel of this cache, or remove it)",
        root.display()
    )
}

/// Debian's `apparmor_parser` (package `apparmor`, fetched with `apt-get download` into the
/// same cache as the kernel on first use). It needs only libc (see [`shared_libs`]).
pub fn apparmor_parser() -> PathBuf {
    let cache = std::env::temp_dir().join("sangja-vm-apparmor");
    let parser = cache.join("sbin/apparmor_parser");
    if !parser.exists() {
        download_deb("apparmor", &cache, &["sbin"]);
    }
    assert!(
        parser.exists(),
        "no sbin/apparmor_parser in package apparmor"
    );
    parser
}

/// `apt-get download` `pkg`, unpack it with `dpkg-deb -x` and keep its top-level `dirs` in
/// `cache` (replacing what was there).
fn download_deb(pkg: &str, cache: &Path, dirs: &[&str]) {
    let tmp = std::env::temp_dir().join(format!("sangja-vm-deb-{pkg}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).unwrap_or_else(|e| panic!("mkdir {}: {e}", tmp.display()));
    run("apt-get", &["download", pkg], Some(&tmp));
    let deb = fs::read_dir(&tmp)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .unwrap_or_else(|| panic!("apt-get download {pkg} left no .deb"));
    let unpacked = tmp.join("x");
    run(
        "dpkg-deb",
        &[
            "-x",
            deb.to_str().expect("utf-8"),
            unpacked.to_str().expect("utf-8"),
        ],
        None,
    );
    let _ = fs::remove_dir_all(cache);
    fs::create_dir_all(cache).unwrap_or_else(|e| panic!("mkdir {}: {e}", cache.display()));
    for d in dirs {
        fs::rename(unpacked.join(d), cache.join(d))
            .unwrap_or_else(|e| panic!("keep {d}/ of {pkg}: {e}"));
    }
    let _ = fs::remove_dir_all(&tmp);
}

fn find_vmlinuz(dir: &Path) -> Option<PathBuf> {
    fs::read_dir(dir.join("boot"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
}

fn run(cmd: &str, args: &[&str], cwd: Option<&Path>) -> String {
    let mut c = Command::new(cmd);
    c.args(args);
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    let out = c.output().unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The shared libraries `bin` loads (its interpreter included), as `ldd` lists them.
pub fn shared_libs(bin: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(bin).output();
    let Ok(out) = out else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let p = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            p.starts_with('/').then(|| PathBuf::from(p))
        })
        .collect()
}

/// An initramfs in the kernel's `newc` cpio format, built in memory (uncompressed).
#[derive(Debug, Default)]
pub struct Initramfs {
    buf: Vec<u8>,
    ino: u32,
    dirs: Vec<String>,
    files: Vec<String>,
}

impl Initramfs {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.ino += 1;
        let name = name.trim_start_matches('/');
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    /// A directory and its missing parents.
    pub fn dir(&mut self, path: &str) -> &mut Self {
        let path = path.trim_matches('/');
        let mut cur = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(part);
            if !self.dirs.contains(&cur) {
                self.dirs.push(cur.clone());
                let c = cur.clone();
                self.entry(&c, 0o040_755, &[]);
            }
        }
        self
    }

    /// A regular file with `mode` (permission bits), parents created.
    pub fn file(&mut self, path: &str, data: &[u8], mode: u32) -> &mut Self {
        if let Some((parent, _)) = path.trim_start_matches('/').rsplit_once('/') {
            self.dir(parent);
        }
        self.entry(path, 0o100_000 | mode, data);
        self
    }

    /// A copy of the host file `src` at `path`.
    pub fn copy(&mut self, path: &str, src: &Path) -> &mut Self {
        let data = fs::read(src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
        self.file(path, &data, 0o755)
    }

    /// The host binary `src` at `root` + `path`, with the shared libraries `ldd` lists for it
    /// at their host paths under `root`.
    pub fn add_binary(&mut self, root: &str, path: &str, src: &Path) -> &mut Self {
        self.copy(&format!("{root}{path}"), src);
        for lib in shared_libs(src) {
            let at = format!("{root}{}", lib.display());
            if !self.files.contains(&at) {
                self.copy(&at, &lib);
                self.files.push(at);
            }
        }
        self
    }

    /// The archive, with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[]);
        self.buf
    }
}

/// Can this host run a stock kernel under KVM? (A nested paravirtual KVM cannot: it hangs.) The
/// verdict is cached per host boot, so only the first test run pays the probe.
fn kvm_works(kernel: &Path, initrd: &Path) -> bool {
    if !Path::new("/dev/kvm").exists() {
        return false;
    }
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let cache = std::env::temp_dir().join("sangja-vm-kvm-probe");
    if let Some(v) = fs::read_to_string(&cache)
        .ok()
        .and_then(|c| c.strip_prefix(boot_id.trim()).map(|v| v.trim() == "kvm"))
    {
        return v;
    }
    // A kernel without an init panics at once: under a working KVM that takes well under 6 s.
    let out = boot_raw(
        kernel,
        initrd,
        "kvm",
        "rdinit=/nonexistent",
        Duration::from_secs(6),
    );
    let works = out.contains("Kernel panic");
    let verdict = if works { "kvm" } else { "tcg" };
    let _ = fs::write(&cache, format!("{} {verdict}", boot_id.trim()));
    works
}

fn boot_raw(kernel: &Path, initrd: &Path, accel: &str, extra: &str, timeout: Duration) -> String {
    let log = initrd.with_extension("serial.log");
    let serial = fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", accel, "-M", "pc", "-m", "512", "-smp", "2"])
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .args(["-no-reboot", "-kernel"])
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(format!("console=ttyS0 quiet panic=-1 rdinit=/init {extra}"))
        .stdin(Stdio::null())
        .stdout(serial)
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("qemu-system-x86_64: {e} (apt-get install qemu-system-x86): the cgroup v2 tests boot a VM")
        });
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
        }
    }
    String::from_utf8_lossy(&fs::read(&log).unwrap_or_default()).into_owned()
}

/// The qemu accelerator for a stock kernel here: `kvm` where the probe boots under it, else
/// `tcg` (probed once per host boot with the cached Debian kernel, see [`kernel`]).
pub fn accel() -> &'static str {
    let kernel = kernel();
    let probe = std::env::temp_dir().join(format!("sangja-vm-probe-{}.cpio", std::process::id()));
    let _ = fs::write(&probe, Initramfs::default().finish());
    let works = kvm_works(&kernel, &probe);
    let _ = fs::remove_file(&probe);
    let _ = fs::remove_file(probe.with_extension("serial.log"));
    if works {
        "kvm"
    } else {
        "tcg"
    }
}

/// Boot `kernel` with `initrd` (the archive's `/init` runs as pid 1) and return what the serial
/// console printed; the VM is killed after `timeout`. `cmdline`: more kernel parameters.
pub fn boot(kernel: &Path, initrd: &Path, cmdline: &str, timeout: Duration) -> String {
    let accel = if kvm_works(kernel, initrd) {
        "kvm"
    } else {
        "tcg"
    };
    boot_raw(kernel, initrd, accel, cmdline, timeout)
}

/// Stage 1 (pid 1 in the initramfs, which `pivot_root` cannot leave): copy the payload to a tmpfs
/// and switch to it.
const STAGE1: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /newroot
/bin/busybox mount -t tmpfs -o mode=755 tmpfs /newroot
/bin/busybox cp -a /payload/. /newroot/
exec /bin/busybox switch_root /newroot /stage2
"#;

/// Stage 2, before the guest's own set-up: the essential mounts, cgroup2 only, and a busybox
/// rootfs at `/rootfs` for the bundles.
const STAGE2_MOUNTS: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /run /tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /rootfs/bin /rootfs/proc /rootfs/dev /rootfs/sys /rootfs/tmp
cp /bin/busybox /rootfs/bin/busybox
/bin/busybox --install -s /rootfs/bin
"#;

/// Shell helpers for the guest's checks (busybox sh): `S` runs sangja with a private root;
/// `ok NAME`, `fail NAME WHY`, `eq NAME FILE WANT`, `has NAME FILE REGEX` print
/// `CHECK <name> ok|FAIL: <why>`; `status ID` prints a container's status.
const CHECK_HELPERS: &str = r#"
S="/sangja --root /run/sangja"
ok() { echo "CHECK $1 ok"; }
fail() { echo "CHECK $1 FAIL: $2"; }
eq() { v=$(cat "$2" 2>&1); if [ "$v" = "$3" ]; then ok "$1"; else fail "$1" "$2 is '$v', want '$3'"; fi; }
has() { if grep -q -- "$3" "$2" 2>/dev/null; then ok "$1"; else fail "$1" "$2 lacks '$3': $(head -c 400 "$2" 2>&1)"; fi; }
status() { $S state "$1" | sed -n 's/.*"status": "\([a-z]*\)".*/\1/p'; }
"#;

/// A guest: busybox, `sangja` and its shared libraries, a two-stage init that mounts the
/// essentials (cgroup2 only), runs `setup` then the checks of `test` (with the `CHECK` helpers),
/// framed by `<tag>-BEGIN` and `<tag>-DONE` lines, and powers off. Add bundles and files to the
/// returned archive.
pub fn guest(sangja: &Path, tag: &str, setup: &str, test: &str) -> Initramfs {
    let mut i = Initramfs::default();
    let busybox = crate::rootfs::busybox();
    i.copy("/bin/busybox", &busybox);
    i.file("/init", STAGE1.as_bytes(), 0o755);
    i.copy("/payload/bin/busybox", &busybox);
    let stage2 = format!(
        "{STAGE2_MOUNTS}{setup}\necho \"{tag}-BEGIN uptime $(cut -d' ' -f1 /proc/uptime) s\"\nsh /test.sh 2>&1\necho {tag}-DONE\npoweroff -f\n"
    );
    i.file("/payload/stage2", stage2.as_bytes(), 0o755);
    i.file(
        "/payload/test.sh",
        format!("{CHECK_HELPERS}{test}").as_bytes(),
        0o755,
    );
    i.add_binary("/payload", "/sangja", sangja);
    i
}

/// A `runc spec` config for the guest's `/rootfs`, running `args` without a terminal.
pub fn guest_config(args: &[&str]) -> serde_json::Value {
    use crate::config::{runc_spec, set_pointer};
    let mut c = runc_spec();
    set_pointer(&mut c, "/process/terminal", serde_json::json!(false));
    set_pointer(&mut c, "/process/args", serde_json::json!(args));
    set_pointer(&mut c, "/root/path", serde_json::json!("/rootfs"));
    c
}

/// Boot `initrd` (from [`guest`]) with the cached kernel and `cmdline`, and assert that the guest
/// ran to `<tag>-DONE`, that no check failed and that every one of `checks` reported ok. Returns
/// the report (the `CHECK` and framing lines).
pub fn run_checks(initrd: Initramfs, tag: &str, cmdline: &str, checks: &[&str]) -> String {
    let kernel = kernel();
    let dir = std::env::temp_dir().join(format!("sangja-vm-{tag}-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    let path = dir.join("initrd.cpio");
    fs::write(&path, initrd.finish()).unwrap_or_else(|e| panic!("write initrd: {e}"));
    let started = Instant::now();
    let serial = boot(&kernel, &path, cmdline, Duration::from_secs(240));
    let took = started.elapsed();
    let _ = fs::remove_dir_all(&dir);
    let (begin, done) = (format!("{tag}-BEGIN"), format!("{tag}-DONE"));
    let report = serial
        .lines()
        .filter(|l| l.starts_with("CHECK ") || l.starts_with(&begin) || l.starts_with(&done))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        serial.contains(&begin) && serial.contains(&done),
        "the guest did not run the checks to the end; serial console:\n{serial}"
    );
    let failed: Vec<&str> = serial
        .lines()
        .filter(|l| l.starts_with("CHECK ") && !l.ends_with(" ok"))
        .collect();
    assert!(
        failed.is_empty(),
        "failed in the guest:\n{}\n\nall:\n{report}",
        failed.join("\n")
    );
    let missing: Vec<&&str> = checks
        .iter()
        .filter(|c| !serial.lines().any(|l| l == format!("CHECK {c} ok")))
        .collect();
    assert!(
        missing.is_empty(),
        "checks not reported: {missing:?}\n{report}"
    );
    format!("{report}\n(guest ran {:.1} s)", took.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_entries_are_aligned() {
        let mut i = Initramfs::default();
        i.file("/a/b", b"xyz", 0o644);
        let buf = i.finish();
        assert_eq!(&buf[..6], b"070701");
        assert!(buf.len().is_multiple_of(4));
        let text = String::from_utf8_lossy(&buf);
        assert!(text.contains("a/b\0") && text.contains("xyz") && text.contains("TRAILER!!!"));
    }
}
