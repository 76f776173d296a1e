//! Thin wrappers over the few syscalls the benchmark needs beyond std: the private mount namespace,
//! the child subreaper, pidfds, `wait4` with rusage, memfds. The crate's other `unsafe` is in `floor.rs`
//! (the raw clone and its child) and `spawner.rs` (one fork).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// A path as a C string (paths from the OS never hold NUL; ours neither).
pub fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// `-1` ⇒ the last OS error.
fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Enters a private mount namespace (`unshare(CLONE_NEWNS)`, `/` made recursively private so nothing
/// leaks back to the host) and, unless `keep_unified`, lazily unmounts `/sys/fs/cgroup/unified`: crun 1.8
/// refuses a hybrid cgroup host, so every runtime sees plain cgroup v1. Must run before any thread starts
/// (a process with threads shares its fs struct and cannot unshare a mount namespace).
/// Returns whether the unified hierarchy was unmounted.
pub fn private_mount_namespace(keep_unified: bool) -> io::Result<bool> {
    // SAFETY: plain syscall with a flag argument; no memory is passed.
    check(unsafe { libc::unshare(libc::CLONE_NEWNS) }.into())?;
    let root = cpath(Path::new("/"))?;
    // SAFETY: `root` is a valid NUL-terminated string that outlives the call; null source, type and data
    // are allowed for a propagation change.
    let ret = unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    check(ret.into())?;
    if keep_unified {
        return Ok(false);
    }
    let unified = cpath(Path::new("/sys/fs/cgroup/unified"))?;
    // SAFETY: `unified` is a valid NUL-terminated string that outlives the call.
    match check(unsafe { libc::umount2(unified.as_ptr(), libc::MNT_DETACH) }.into()) {
        Ok(_) => Ok(true),
        // Not a mount point (pure v1 or pure v2 host): nothing to hide.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOENT)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Makes this process the reaper of its orphaned descendants, as containerd's shim and conmon are: a
/// container init outlives `create` and is reparented here, so the benchmark reaps it and reads its rusage.
pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }.into()).map(|_| ())
}

/// `pidfd_open(pid, 0)`.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: integer arguments only; the kernel returns a new fd or -1.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    let fd = i32::try_from(fd).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    // SAFETY: the kernel just gave us this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits until the process behind `pidfd` has exited (POLLIN), at most `timeout`. `Ok(false)` on timeout.
pub fn poll_exit(pidfd: &OwnedFd, timeout: Duration) -> io::Result<bool> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        let mut pfd = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is a valid pollfd for the duration of the call; nfds = 1 matches.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        match n {
            1.. => return Ok(true),
            0 => return Ok(false),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// What `wait4` reports about a reaped child.
#[derive(Debug, Clone, Copy)]
pub struct Reaped {
    /// Raw wait status.
    pub status: i32,
    /// `ru_maxrss` in KiB: the largest RSS of the child itself and of every descendant it (transitively)
    /// waited for — a max over processes, not the sum of processes alive at once.
    pub maxrss_kib: i64,
}

impl Reaped {
    /// Exit code, or 128 + signal as a shell would say.
    pub fn code(&self) -> i32 {
        if libc::WIFEXITED(self.status) {
            libc::WEXITSTATUS(self.status)
        } else if libc::WIFSIGNALED(self.status) {
            128 + libc::WTERMSIG(self.status)
        } else {
            -1
        }
    }
}

/// `wait4(pid, …, __WALL)` with rusage; `flags` may add `WNOHANG` (then `Ok(None)` if still running).
pub fn wait4(pid: i32, flags: i32) -> io::Result<Option<Reaped>> {
    loop {
        let mut status = 0;
        // SAFETY: rusage is plain old data; all-zero is a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `status` and `ru` are valid for writes for the duration of the call.
        let r = unsafe { libc::wait4(pid, &mut status, flags | libc::__WALL, &mut ru) };
        if r > 0 {
            return Ok(Some(Reaped {
                status,
                maxrss_kib: ru.ru_maxrss,
            }));
        }
        if r == 0 {
            return Ok(None);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Reaps every exited child (orphans reparented to us included) without blocking; returns how many.
/// Call only where no child is being waited for elsewhere (single-threaded points between sections).
pub fn reap_strays() -> usize {
    let mut n = 0;
    while let Ok(Some(_)) = wait4(-1, libc::WNOHANG) {
        n += 1;
    }
    n
}

/// `kill(pid, sig)`, ignoring a process that is already gone.
pub fn kill(pid: i32, sig: i32) {
    // SAFETY: integer arguments only; only ever called with pids of processes this program started.
    let _ = unsafe { libc::kill(pid, sig) };
}

/// Effective uid.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and takes no arguments.
    unsafe { libc::geteuid() }
}

/// An anonymous in-memory file (close-on-exec).
pub fn memfd() -> io::Result<std::fs::File> {
    let name = c"sangja-bench-stderr";
    // SAFETY: `name` is a valid NUL-terminated string; flags are plain integers.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}
