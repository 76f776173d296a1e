//! A busybox-static root filesystem, built by the tests from the host's `/bin/busybox` (Debian's
//! `busybox-static`), once per uid into a cache directory that every test binary shares.
//!
//! Layout: `bin/busybox` plus one symlink per applet, `/etc/passwd` (root, nobody, tester = 1000),
//! `/etc/group`, empty `proc sys dev tmp root home/tester mnt/{a,b,c}`. The mount points under `/mnt` exist
//! so that tests can mount there while the shared rootfs stays read-only and untouched.

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Bump when the layout changes so stale caches are not reused.
const LAYOUT_VERSION: u32 = 1;

/// The busybox binary the rootfs is built from: `$SANGJA_BUSYBOX` or `/bin/busybox`.
pub fn busybox() -> PathBuf {
    std::env::var_os("SANGJA_BUSYBOX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/bin/busybox"))
}

/// Contents of `/etc/passwd` in the rootfs.
pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
tester:x:1000:1000:tester:/home/tester:/bin/sh\n";

/// Contents of `/etc/group` in the rootfs.
pub const GROUP: &str = "root:x:0:\ntty:x:5:\ntester:x:1000:\nnogroup:x:65534:\n";

/// The shared, read-only-by-convention rootfs (built on first use). Never write into it from a test.
/// Panics if it cannot be built; [`try_shared`] returns the error instead.
pub fn shared() -> &'static Path {
    try_shared().unwrap_or_else(|e| panic!("{e}"))
}

/// [`shared`], with an error instead of a panic (for the benchmark, built with `panic = "abort"`).
pub fn try_shared() -> Result<&'static Path, String> {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    if let Some(p) = ROOTFS.get() {
        return Ok(p);
    }
    // Concurrent first callers may both build; `build_cached` lets the first rename win.
    let p = build_cached()?;
    Ok(ROOTFS.get_or_init(|| p))
}

fn build_cached() -> Result<PathBuf, String> {
    let bb = busybox();
    let meta = fs::metadata(&bb).map_err(|e| {
        format!(
            "{}: {e}: the spec tests build their rootfs from a static busybox \
             (apt-get install busybox-static)",
            bb.display()
        )
    })?;
    let uid = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
    let tmp = std::env::temp_dir();
    // Key the cache on the busybox binary too, so an upgraded busybox gets a fresh rootfs.
    let final_dir = tmp.join(format!(
        "sangja-spec-rootfs-{uid}-v{LAYOUT_VERSION}-{}-{}",
        meta.len(),
        meta.mtime()
    ));
    if final_dir.join("bin/busybox").exists() {
        return Ok(final_dir);
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let staging = tmp.join(format!(
        ".sangja-spec-rootfs-{uid}.{}.{nanos}",
        std::process::id()
    ));
    if let Err(e) = try_build(&staging, &bb) {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    // rename(2) is atomic: the first builder wins, later ones discard their copy.
    match fs::rename(&staging, &final_dir) {
        Ok(()) => {}
        Err(_) if final_dir.join("bin/busybox").exists() => {
            let _ = fs::remove_dir_all(&staging);
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(format!(
                "rename {} -> {}: {e}",
                staging.display(),
                final_dir.display()
            ));
        }
    }
    Ok(final_dir)
}

/// Builds a busybox rootfs at `dest` (which must not exist); panics on failure.
pub fn build(dest: &Path, busybox: &Path) {
    try_build(dest, busybox).unwrap_or_else(|e| panic!("{e}"));
}

/// [`build`], with an error instead of a panic.
pub fn try_build(dest: &Path, busybox: &Path) -> Result<(), String> {
    let bin = dest.join("bin");
    fs::create_dir_all(&bin).map_err(|e| format!("mkdir {}: {e}", bin.display()))?;
    let target = bin.join("busybox");
    fs::copy(busybox, &target)
        .map_err(|e| format!("copy {} -> {}: {e}", busybox.display(), target.display()))?;
    fs::set_permissions(&target, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod busybox: {e}"))?;
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|e| format!("{} --list: {e}", busybox.display()))?;
    if !list.status.success() {
        return Err(format!("{} --list failed", busybox.display()));
    }
    let applets = String::from_utf8_lossy(&list.stdout);
    let mut count = 0;
    for applet in applets.lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        symlink("busybox", bin.join(applet))
            .map_err(|e| format!("symlink applet {applet}: {e}"))?;
        count += 1;
    }
    if count <= 100 {
        return Err(format!(
            "{} lists only {count} applets: is it busybox-static?",
            busybox.display()
        ));
    }
    for dir in [
        "proc",
        "sys",
        "dev",
        "tmp",
        "etc",
        "root",
        "home/tester",
        "mnt/a",
        "mnt/b",
        "mnt/c",
    ] {
        fs::create_dir_all(dest.join(dir)).map_err(|e| format!("mkdir {dir}: {e}"))?;
    }
    fs::set_permissions(dest.join("tmp"), fs::Permissions::from_mode(0o1777))
        .map_err(|e| format!("chmod tmp: {e}"))?;
    fs::write(dest.join("etc/passwd"), PASSWD).map_err(|e| format!("write etc/passwd: {e}"))?;
    fs::write(dest.join("etc/group"), GROUP).map_err(|e| format!("write etc/group: {e}"))?;
    Ok(())
}

/// Copies the shared rootfs to `dest` (created), for tests that change the rootfs or need a relative
/// `root.path`. Regular files are copied, not hard-linked, so the cache cannot be modified through the copy.
pub fn copy_shared_to(dest: &Path) {
    copy_tree(shared(), dest);
}

fn copy_tree(src: &Path, dest: &Path) {
    fs::create_dir_all(dest).unwrap_or_else(|e| panic!("mkdir {}: {e}", dest.display()));
    let mode = fs::metadata(src).expect("stat src dir").mode();
    fs::set_permissions(dest, fs::Permissions::from_mode(mode & 0o7777)).expect("chmod dir");
    for entry in fs::read_dir(src).unwrap_or_else(|e| panic!("read {}: {e}", src.display())) {
        let entry = entry.expect("dir entry");
        let from = entry.path();
        let to = dest.join(entry.file_name());
        let ft = entry.file_type().expect("file type");
        if ft.is_symlink() {
            let link = fs::read_link(&from).expect("readlink");
            symlink(link, &to).unwrap_or_else(|e| panic!("symlink {}: {e}", to.display()));
        } else if ft.is_dir() {
            copy_tree(&from, &to);
        } else {
            fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        }
    }
}
