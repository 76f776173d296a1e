//! Check-then-use races a second container can run against `create`: it shares a volume with the
//! victim and swaps a path the victim's config names, between a directory and a symlink, while the
//! victim is created. Played here by a host thread flipping the path in the shared directory as
//! fast as it can (the attacker container's view of the volume is the same directory).
//!
//! - CVE-2024-21626 (race variant): `process.cwd` checked before `pivot_root` but entered by path
//!   after it; the swap to `/proc/self/fd/N` gave a host cwd (52 of 200 tries at 61d1793).
//! - CVE-2021-30465: a mount destination checked, then mounted by path: the swap sends the mount
//!   outside the container's root.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;
use spec_tests::{harness, Bundle};

use super::{assert_cwd_inside, WHERE_IS_CWD};

/// Rounds per race test.
const ROUNDS: usize = 200;

/// Flips `path` between a directory and a symlink to each of `targets` in turn until stopped.
/// `exchange`: swap the two with `renameat2(RENAME_EXCHANGE)`, never removing the directory, so
/// that a mount the victim made on it stays attached (it moves with the directory to the other
/// name); otherwise the directory is removed and made again, as a plain attacker would.
struct Flipper {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

fn exchange(a: &Path, b: &Path) -> bool {
    let (Ok(a), Ok(b)) = (
        std::ffi::CString::new(a.as_os_str().as_encoded_bytes()),
        std::ffi::CString::new(b.as_os_str().as_encoded_bytes()),
    ) else {
        return false;
    };
    // SAFETY: two valid NUL-terminated paths; renameat2 reads them and touches nothing else.
    unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        ) == 0
    }
}

impl Flipper {
    fn start(path: PathBuf, targets: Vec<String>, swap: bool) -> Flipper {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let tmp = path.with_extension("flip");
            let _ = fs::create_dir(&path);
            let mut flips = 0u64;
            while !flag.load(Ordering::Relaxed) {
                for t in &targets {
                    if swap {
                        // `path` is the directory: put the symlink there, then swap back.
                        let _ = fs::remove_file(&tmp);
                        let _ = symlink(t, &tmp);
                        exchange(&tmp, &path);
                        exchange(&tmp, &path);
                    } else {
                        let _ = fs::remove_file(&tmp);
                        let _ = symlink(t, &tmp);
                        let _ = fs::remove_dir(&path);
                        let _ = fs::rename(&tmp, &path);
                        let _ = fs::remove_file(&path);
                        let _ = fs::create_dir(&path);
                    }
                    flips += 1;
                }
            }
            flips
        });
        Flipper {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map_or(0, |t| t.join().unwrap_or(0))
    }
}

impl Drop for Flipper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A bundle with a host directory shared at `/vol` (the volume the attacker also has).
fn with_volume(b: &mut Bundle, vol: &Path) {
    b.add_mount(json!({"destination": "/vol", "type": "bind",
        "source": vol.to_str().unwrap(), "options": ["rbind", "rw"]}));
}

/// `process.cwd = /vol/w` while `w` flips between a directory and symlinks to magic links of
/// every fd number the runtime could hold, and to a path climbing out: every process that starts
/// has its cwd inside the container (runc 1.1.12: 0 of 195).
#[test]
fn cve_2024_21626_cwd_swapped_during_create() {
    let h = harness!();
    let vol = h.tempdir("vol");
    let mut b = h.bundle();
    with_volume(&mut b, &vol);
    b.set("/process/cwd", json!("/vol/w"));
    b.args(&["sh", "-c", WHERE_IS_CWD]);
    let mut targets: Vec<String> = (3..=24).map(|fd| format!("/proc/self/fd/{fd}")).collect();
    targets.push("../../../../../../../..".into());
    let flipper = Flipper::start(vol.join("w"), targets, true);
    let mut started = 0;
    for round in 0..ROUNDS {
        let out = h.run(&b);
        assert_cwd_inside(&format!("round {round}: process.cwd /vol/w"), &out);
        if out.success() {
            started += 1;
        }
    }
    let flips = flipper.stop();
    eprintln!("cwd race: {started} of {ROUNDS} containers started, {flips} flips");
    assert!(
        flips > ROUNDS as u64,
        "the flipper hardly ran ({flips} flips)"
    );
}

/// `mounts[]`: the volume at `/vol`, then a tmpfs at `/vol/x` while `x` is swapped with a symlink
/// leading out of the root (the directory is only ever renamed, so a mount on it stays attached
/// and visible in the container, at `/vol/x` or `/vol/x.flip`). The tmpfs (recognised by its
/// size) must then be in the container's mount table, or the create must fail; never mounted
/// where the container cannot see it: outside its root. (The root itself is a read-only shared
/// rootfs here, so a symlink resolved inside it cannot be created and fails the create.)
#[test]
fn cve_2021_30465_mount_destination_swapped_during_create() {
    let h = harness!();
    let vol = h.tempdir("vol");
    let outside = h.tempdir("outside");
    let mut b = h.bundle();
    with_volume(&mut b, &vol);
    b.add_mount(
        json!({"destination": "/vol/x", "type": "tmpfs", "source": "tmpfs",
        "options": ["size=1232k"]}),
    );
    b.args(&[
        "sh",
        "-c",
        "grep -c 'size=1232k' /proc/self/mountinfo; true",
    ]);
    let flipper = Flipper::start(
        vol.join("x"),
        vec![
            "/".into(),
            "../../../../../../../..".into(),
            outside.to_str().unwrap().into(),
        ],
        true,
    );
    let (mut started, mut refused) = (0, 0);
    for round in 0..ROUNDS {
        let out = h.run(&b);
        if out.success() {
            started += 1;
            assert_eq!(
                out.stdout.trim(),
                "1",
                "round {round}: the tmpfs for /vol/x is not in the container:\n{out}"
            );
        } else {
            refused += 1;
        }
    }
    let flips = flipper.stop();
    eprintln!("mount race: {started} started, {refused} refused, {flips} flips");
    assert!(
        started > 0,
        "no container started: the test checked nothing"
    );
    assert!(
        fs::read_dir(&outside).unwrap().next().is_none(),
        "something was written outside the container"
    );
}
