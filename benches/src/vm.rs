//! The VM anchor: boot-to-poweroff of a minimal VM under qemu, built offline from Debian's packages.
//!
//! Kernel: Debian's `linux-image-amd64` (its dependency, the versioned image package, fetched once with
//! `apt-get download` and unpacked with `dpkg-deb -x` into the cache dir; only `vmlinuz` is kept, so later
//! runs are offline). Initramfs: a newc cpio written here with the host's static busybox and an `/init` that
//! prints its guest uptime, runs `true` and powers off (`poweroff -f`, then `reboot -f` for a machine
//! without an ACPI power button; qemu runs with `-no-reboot`). Accelerator: KVM with `-M microvm` if a
//! probe boot works, else software emulation (`-accel tcg -M pc`); the report says which.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::runtime::reap;

/// A working KVM boots this kernel to /init in well under a second.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Printed by the guest's /init, followed by its `/proc/uptime`.
const MARKER: &str = "SANGJA-BENCH-INIT";

const INIT: &str = "#!/bin/sh\n\
/bin/busybox mount -t proc proc /proc\n\
echo \"SANGJA-BENCH-INIT $(/bin/busybox cat /proc/uptime)\"\n\
/bin/busybox true\n\
/bin/busybox poweroff -f\n\
/bin/busybox reboot -f\n";

/// A prepared VM: kernel, initramfs and the machine to run them on.
#[derive(Debug, Clone)]
pub struct Vm {
    pub qemu: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// e.g. `linux-image-6.1.0-41-amd64 6.1.192-2`.
    pub kernel_package: String,
    pub qemu_version: String,
    pub kvm: bool,
    /// Accelerator and machine used, for the report.
    pub label: String,
    /// What the KVM probe found.
    pub probe: String,
    log: PathBuf,
}

/// One boot.
#[derive(Debug, Clone, Copy)]
pub struct Boot {
    /// Host wall time from spawning qemu to qemu reaped after the guest powered off.
    pub wall: Duration,
    /// The guest's own uptime when /init ran (guest clock).
    pub guest_init: Option<f64>,
}

fn run_ok(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{what}: {}: {}", out.status, err.trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `vmlinuz` of Debian's default kernel in `cache`, downloaded and unpacked on first use.
fn kernel(cache: &Path) -> Result<(PathBuf, String), String> {
    let vmlinuz = cache.join("vmlinuz");
    let label = cache.join("kernel-package");
    if let (true, Ok(pkg)) = (vmlinuz.exists(), fs::read_to_string(&label)) {
        return Ok((vmlinuz, pkg.trim().to_string()));
    }
    let dl = cache.join("download");
    let _ = fs::remove_dir_all(&dl);
    fs::create_dir_all(&dl).map_err(|e| format!("mkdir {}: {e}", dl.display()))?;
    eprintln!(
        "vm: fetching Debian's kernel package into {} (once)",
        cache.display()
    );
    let find_deb = |prefix: &str| -> Result<PathBuf, String> {
        fs::read_dir(&dl)
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".deb"))
            })
            .ok_or_else(|| format!("no {prefix}*.deb in {}", dl.display()))
    };
    run_ok(
        Command::new("apt-get")
            .args(["download", "linux-image-amd64"])
            .current_dir(&dl),
        "apt-get download linux-image-amd64 (run apt-get update first)",
    )?;
    let meta = find_deb("linux-image-amd64_")?;
    let depends = run_ok(
        Command::new("dpkg-deb").arg("-f").arg(&meta).arg("Depends"),
        "dpkg-deb -f Depends",
    )?;
    let image = depends
        .split([',', '|'])
        .map(|d| d.split_whitespace().next().unwrap_or(""))
        .find(|d| d.starts_with("linux-image-"))
        .ok_or_else(|| format!("linux-image-amd64 depends on no image: {depends}"))?
        .to_string();
    run_ok(
        Command::new("apt-get")
            .args(["download", &image])
            .current_dir(&dl),
        &format!("apt-get download {image}"),
    )?;
    let deb = find_deb(&format!("{image}_"))?;
    let version = run_ok(
        Command::new("dpkg-deb").arg("-f").arg(&deb).arg("Version"),
        "dpkg-deb -f Version",
    )?;
    let tree = dl.join("tree");
    run_ok(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree),
        "dpkg-deb -x",
    )?;
    let boot = tree.join("boot");
    let found = fs::read_dir(&boot)
        .map_err(|e| format!("{}: {e}", boot.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .ok_or_else(|| format!("no vmlinuz in {}", boot.display()))?;
    fs::copy(&found, &vmlinuz).map_err(|e| format!("copy vmlinuz: {e}"))?;
    let pkg = format!("{image} {}", version.trim());
    fs::write(&label, &pkg).map_err(|e| format!("write {}: {e}", label.display()))?;
    // The modules are hundreds of MB and the guest needs none of them.
    let _ = fs::remove_dir_all(&dl);
    Ok((vmlinuz, pkg))
}

/// Appends one newc cpio entry.
fn cpio_entry(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
    let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
    let header = format!(
        "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
        0,
        0,
        0,
        data.len(),
        0,
        0,
        rdev.0,
        rdev.1,
        name.len() + 1,
        0
    );
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out.extend_from_slice(data);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// The initramfs: busybox, `/init`, `/dev/console`.
fn initramfs(busybox: &Path) -> Result<Vec<u8>, String> {
    let bb = fs::read(busybox).map_err(|e| format!("{}: {e}", busybox.display()))?;
    let mut out = Vec::with_capacity(bb.len() + 4096);
    let (dir, file, link, chr) = (0o040755, 0o100755, 0o120777, 0o020600);
    cpio_entry(&mut out, 1, "bin", dir, (0, 0), &[]);
    cpio_entry(&mut out, 2, "dev", dir, (0, 0), &[]);
    cpio_entry(&mut out, 3, "proc", dir, (0, 0), &[]);
    cpio_entry(&mut out, 4, "bin/busybox", file, (0, 0), &bb);
    cpio_entry(&mut out, 5, "bin/sh", link, (0, 0), b"busybox");
    cpio_entry(&mut out, 6, "init", file, (0, 0), INIT.as_bytes());
    cpio_entry(&mut out, 7, "dev/console", chr, (5, 1), &[]);
    cpio_entry(&mut out, 0, "TRAILER!!!", 0, (0, 0), &[]);
    Ok(out)
}

impl Vm {
    /// Kernel (cached), initramfs (in `work`), qemu found; then the KVM microvm probe.
    pub fn prepare(cache: &Path, work: &Path, busybox: &Path) -> Result<Vm, String> {
        let qemu = [
            "/usr/bin/qemu-system-x86_64",
            "/usr/local/bin/qemu-system-x86_64",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or("qemu-system-x86_64 not found (apt-get install qemu-system-x86)")?;
        fs::create_dir_all(cache).map_err(|e| format!("mkdir {}: {e}", cache.display()))?;
        let (kernel, kernel_package) = kernel(cache)?;
        let initrd = work.join("initramfs.cpio");
        fs::write(&initrd, initramfs(busybox)?).map_err(|e| format!("write initramfs: {e}"))?;
        // "QEMU emulator version 7.2.22 (Debian …)" -> "qemu 7.2.22".
        let qemu_version = run_ok(Command::new(&qemu).arg("--version"), "qemu --version")?
            .split_whitespace()
            .skip_while(|w| *w != "version")
            .nth(1)
            .map_or_else(|| "qemu".to_string(), |v| format!("qemu {v}"));
        let mut vm = Vm {
            qemu,
            kernel,
            initrd,
            kernel_package,
            qemu_version,
            kvm: true,
            label: String::new(),
            probe: String::new(),
            log: work.join("vm-serial.log"),
        };
        let kvm_ok = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .map_err(|e| format!("/dev/kvm: {e}"))
            .and_then(|_| vm.boot(PROBE_TIMEOUT));
        match kvm_ok {
            Ok(_) => {
                vm.label = "KVM `-accel kvm -M microvm -cpu host`".into();
                vm.probe = "the KVM microvm probe booted to /init".into();
            }
            Err(why) => {
                vm.kvm = false;
                vm.label = "TCG `-accel tcg -M pc` (software emulation)".into();
                let why: String = why.lines().next().unwrap_or("").chars().take(200).collect();
                vm.probe = format!(
                    "the KVM probe (`-accel kvm -M microvm -cpu host`) failed, so software emulation was used: {}",
                    why.trim_end_matches([';', ' '])
                );
            }
        }
        Ok(vm)
    }

    fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = if self.kvm {
            ["-accel", "kvm", "-M", "microvm", "-cpu", "host"]
                .map(String::from)
                .to_vec()
        } else {
            ["-accel", "tcg", "-M", "pc"].map(String::from).to_vec()
        };
        a.extend(
            [
                "-m",
                "256M",
                "-smp",
                "1",
                "-nodefaults",
                "-no-user-config",
                "-display",
                "none",
                "-no-reboot",
            ]
            .map(String::from),
        );
        a.push("-serial".into());
        a.push(format!("file:{}", self.log.display()));
        a.push("-kernel".into());
        a.push(self.kernel.display().to_string());
        a.push("-initrd".into());
        a.push(self.initrd.display().to_string());
        a.push("-append".into());
        a.push("console=ttyS0 quiet panic=-1 reboot=t".into());
        a
    }

    /// One boot to power-off; an error if qemu fails, times out or the guest never reached /init.
    pub fn boot(&self, timeout: Duration) -> Result<Boot, String> {
        let _ = fs::remove_file(&self.log);
        let err = self.log.with_extension("stderr");
        let errf = fs::File::create(&err).map_err(|e| format!("{}: {e}", err.display()))?;
        let mut cmd = Command::new(&self.qemu);
        cmd.args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(errf));
        let t0 = Instant::now();
        let child = cmd.spawn().map_err(|e| format!("qemu: {e}"))?;
        let reaped = reap(child.id(), timeout);
        let wall = t0.elapsed();
        let serial = fs::read_to_string(&self.log).unwrap_or_default();
        let stderr = fs::read_to_string(&err).unwrap_or_default();
        let reaped = reaped.map_err(|e| format!("qemu {e}; {}", stderr.trim()))?;
        if reaped.code() != 0 {
            return Err(format!("qemu exit {}: {}", reaped.code(), stderr.trim()));
        }
        let guest_init = serial
            .lines()
            .find_map(|l| l.split_once(MARKER))
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .next()
                    .and_then(|t| t.parse::<f64>().ok())
            });
        match guest_init {
            Some(up) => Ok(Boot {
                wall,
                guest_init: up,
            }),
            None => Err(format!(
                "the guest never reached /init; serial: {}",
                serial.trim()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_is_newc_and_aligned() {
        let mut out = Vec::new();
        cpio_entry(&mut out, 1, "init", 0o100755, (0, 0), b"abc");
        assert!(out.starts_with(b"070701"));
        assert_eq!(out.len() % 4, 0);
        // 110-byte header + "init\0" padded to 116, then 3 data bytes padded to 120.
        assert_eq!(out.len(), 120);
    }
}
