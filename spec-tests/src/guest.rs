//! The stock-distro guest (issue 15): Debian 12 as the clients' users run it — systemd as PID 1,
//! cgroup v2 only, Debian's docker.io, podman and containerd — built from Debian's packages by
//! `spec-tests/guest/build-image.sh` once per machine (cached in `$SANGJA_GUEST_DIR`, default
//! `/var/cache/sangja-guest`) and booted under qemu with the image read-only (`snapshot=on`: every
//! boot starts from the same system).
//!
//! The tests put what they run on a second disk, the payload ([`Payload`]: an ext4 image labelled
//! `PAYLOAD`, made with `mkfs.ext4 -d`): the image's `sangja-payload.service` runs its `run` script
//! once the system is up, with the second serial port as the report, and powers off. The report's
//! lines are `CHECK <name> ok` / `CHECK <name> FAIL: <why>` and `METRIC <name> <value>`;
//! [`Report`] reads them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the image is cached.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("SANGJA_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/sangja-guest"))
}

/// Run `cmd` to its end; panics, with its status and stderr, unless it succeeded (`what` it was).
fn succeed(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The built image's directory (`root.img`, `vmlinuz`, `initrd.img`), building it first when the
/// cache lacks it (minutes: debootstrap and an 8 GiB sparse ext4 image).
pub fn image() -> PathBuf {
    let dir = cache_dir();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/build-image.sh");
    let started = Instant::now();
    succeed(
        Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .stdin(Stdio::null()),
        "building the guest image",
    );
    if started.elapsed() > Duration::from_secs(5) {
        eprintln!("guest image built in {:?}", started.elapsed());
    }
    dir
}

/// The binary we ship (`cargo dist`: release, static), built now, for timings against runc: the
/// tests' debug binary is 60 MiB and many times slower.
pub fn dist_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    succeed(
        Command::new(cargo).arg("dist").current_dir(&root),
        "cargo dist",
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("dist/sangja")
}

/// The tests' disk: files under a directory, made into an ext4 image by [`Payload::image`].
#[derive(Debug)]
pub struct Payload {
    dir: PathBuf,
}

impl Payload {
    /// An empty payload under a fresh temp directory.
    pub fn new(tag: &str) -> Payload {
        let dir = std::env::temp_dir().join(format!("sangja-guest-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("files"))
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        Payload { dir }
    }

    fn path(&self, at: &str) -> PathBuf {
        let p = self.dir.join("files").join(at.trim_start_matches('/'));
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
        }
        p
    }

    /// A file at `at` (relative to the payload's root) with `mode`.
    pub fn file(&self, at: &str, data: &[u8], mode: u32) -> &Self {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path(at);
        fs::write(&p, data).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
        self
    }

    /// A copy of the host file `src` at `at`.
    pub fn copy(&self, at: &str, src: &Path) -> &Self {
        let data = fs::read(src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
        self.file(at, &data, 0o755)
    }

    /// The ext4 image of the files (label `PAYLOAD`), `size_mb` large.
    fn image(&self, size_mb: u32) -> PathBuf {
        let img = self.dir.join("payload.img");
        succeed(
            Command::new("mkfs.ext4")
                .args(["-q", "-F", "-L", "PAYLOAD", "-E", "root_owner=0:0", "-d"])
                .arg(self.dir.join("files"))
                .arg(&img)
                .arg(format!("{size_mb}M")),
            "mkfs.ext4 payload",
        );
        img
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// What one boot printed: the console (first serial port) and the payload's report (second).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The system console: kernel, systemd, the payload service's own output.
    pub console: String,
    /// The report lines of the payload's `run`.
    pub report: String,
    /// How long the guest ran.
    pub took: Duration,
    /// `kvm` or `tcg`.
    pub accel: &'static str,
}

impl Report {
    /// Did the payload run to its end?
    pub fn finished(&self) -> bool {
        self.report.lines().any(|l| l.starts_with("PAYLOAD-DONE"))
    }

    /// The result of check `name`: `Some(Ok)`, `Some(Err(why))`, or `None` if it never reported.
    pub fn check(&self, name: &str) -> Option<Result<(), String>> {
        let ok = format!("CHECK {name} ok");
        let fail = format!("CHECK {name} FAIL: ");
        self.report.lines().map(str::trim_end).find_map(|l| {
            if l == ok {
                Some(Ok(()))
            } else {
                l.strip_prefix(&fail).map(|why| Err(why.to_string()))
            }
        })
    }

    /// The values of metric `name` (`METRIC <name> <value>` lines), in order.
    pub fn metric(&self, name: &str) -> Vec<f64> {
        let prefix = format!("METRIC {name} ");
        self.report
            .lines()
            .filter_map(|l| l.trim_end().strip_prefix(&prefix))
            .filter_map(|v| v.trim().parse().ok())
            .collect()
    }

    /// Assert that check `name` reported ok, with the report's tail when it did not.
    pub fn assert_ok(&self, name: &str) {
        match self.check(name) {
            Some(Ok(())) => {}
            Some(Err(why)) => panic!("guest check {name} failed: {why}\n{}", self.tail()),
            None => panic!(
                "guest check {name} never reported (payload finished: {})\n{}",
                self.finished(),
                self.tail()
            ),
        }
    }

    /// The last lines of the report and of the console, for a failure message.
    pub fn tail(&self) -> String {
        let last = |s: &str, n: usize| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        };
        format!(
            "--- report (last 60 lines) ---\n{}\n--- console (last 40 lines) ---\n{}",
            last(&self.report, 60),
            last(&self.console, 40)
        )
    }
}

/// Boot the guest with `payload` (its `run` script runs once the system is up) and wait until it
/// powers off, or `timeout`. `memory_mb` of RAM, 2 CPUs.
pub fn boot(payload: &Payload, payload_mb: u32, memory_mb: u32, timeout: Duration) -> Report {
    let image = image();
    let disk = payload.image(payload_mb);
    let accel = crate::vm::accel();
    let console = payload.dir.join("console.log");
    let report = payload.dir.join("report.log");
    let mut qemu = Command::new("qemu-system-x86_64");
    if accel == "tcg" {
        qemu.args(["-accel", "tcg,thread=multi", "-M", "pc", "-cpu", "max"]);
    } else {
        qemu.args(["-accel", "kvm", "-M", "pc", "-cpu", "host"]);
    }
    qemu.args(["-m", &memory_mb.to_string(), "-smp", "2", "-nic", "none"])
        .args(["-display", "none", "-monitor", "none", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-serial")
        .arg(format!("file:{}", report.display()))
        .arg("-drive")
        .arg(format!(
            "file={},format=raw,if=virtio,snapshot=on",
            image.join("root.img").display()
        ))
        .arg("-drive")
        .arg(format!("file={},format=raw,if=virtio", disk.display()))
        .arg("-kernel")
        .arg(image.join("vmlinuz"))
        .arg("-initrd")
        .arg(image.join("initrd.img"))
        .arg("-append")
        .arg(
            "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=0 panic=-1 \
             systemd.unified_cgroup_hierarchy=1 net.ifnames=0",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = qemu
        .spawn()
        .unwrap_or_else(|e| panic!("qemu-system-x86_64: {e} (apt-get install qemu-system-x86)"));
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(200))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
        }
    }
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    Report {
        console: read(&console),
        report: read(&report),
        took: started.elapsed(),
        accel,
    }
}
