//! Every write to `/proc` goes through a verified procfs handle (the CVE-2025-52881 class).
//!
//! A container's mounts can put anything at `/proc` or below it: a bind mount of a host file over
//! `/proc/sys/kernel/...`, a tmpfs, a symlink in the image. A write by path would then land wherever
//! the container's config or image pointed it. So the runtime opens the procfs root once
//! ([`open_root`]: `O_NOFOLLOW`, checked to be a procfs instance's root with `fstatfs` and the root
//! inode), and opens each file relative to it ([`open_at`]) with `openat2`: beneath the root, no magic
//! links, no crossing into another mount; the file is checked to be on procfs too.
//!
//! Used between clone and execve: no allocation.
use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::sys::{self, Errno};

/// `statfs.f_type` of procfs.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// The inode number of a procfs instance's root directory.
const PROC_ROOT_INO: u64 = 1;

/// Is `fd` on a procfs instance? (An error answers yes: the caller refuses then.)
pub(crate) fn is_procfs(fd: BorrowedFd<'_>) -> bool {
    sys::fstatfs_type(fd).map_or(true, |t| t == PROC_SUPER_MAGIC)
}

/// Open `path` (`/proc`, as this process sees it) as the root of a procfs instance, or fail with
/// [`sys::WRONG_OBJECT`] when it is anything else (a symlink, a bind of a procfs subdirectory, another
/// filesystem).
pub(crate) fn open_root(path: &CStr) -> Result<OwnedFd, Errno> {
    let fd = sys::open(path, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
    if sys::fstatfs_type(fd.as_fd())? != PROC_SUPER_MAGIC
        || sys::fstat(fd.as_fd())?.st_ino != PROC_ROOT_INO
    {
        return Err(sys::WRONG_OBJECT);
    }
    Ok(fd)
}

/// Open `path` below the procfs root `proc` with `flags`. `path` may be written as `/proc/...`
/// (the prefix is dropped) or relative to the root. Symlinks are followed only beneath the root
/// (`self`, `thread-self`); magic links and other mounts are refused; the file must be on procfs.
pub(crate) fn open_at(
    proc: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_int,
) -> Result<OwnedFd, Errno> {
    let rel = relative(path);
    let fd = sys::openat2(
        proc,
        rel,
        flags | libc::O_NOCTTY,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_XDEV,
    )?;
    if sys::fstatfs_type(fd.as_fd())? != PROC_SUPER_MAGIC {
        return Err(sys::WRONG_OBJECT);
    }
    Ok(fd)
}

/// This process's `/proc` (the host's, before `pivot_root`), opened and verified on first use and
/// then shared by the writes made there (`oom_score_adj`, the LSM attributes).
#[derive(Debug, Default)]
pub(crate) struct HostProc(Option<OwnedFd>);

impl HostProc {
    /// Open `path` (`/proc/...`) for writing below the verified root.
    pub(crate) fn open_write(&mut self, path: &CStr) -> Result<OwnedFd, Errno> {
        self.open(path, libc::O_WRONLY)
    }

    /// Open `path` (`/proc/...`) with `flags` below the verified root.
    pub(crate) fn open(&mut self, path: &CStr, flags: libc::c_int) -> Result<OwnedFd, Errno> {
        let proc = match self.0.take() {
            Some(proc) => proc,
            None => open_root(c"/proc")?,
        };
        let fd = open_at(proc.as_fd(), path, flags);
        self.0 = Some(proc);
        fd
    }
}

/// `path` without a leading `/proc/` (the rest is still NUL-terminated, so no copy is needed).
fn relative(path: &CStr) -> &CStr {
    let bytes = path.to_bytes_with_nul();
    match bytes.strip_prefix(b"/proc/") {
        Some(rest) => CStr::from_bytes_with_nul(rest).unwrap_or(path),
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_dropped() {
        assert_eq!(
            relative(c"/proc/sys/net/ipv4/ip_forward"),
            c"sys/net/ipv4/ip_forward"
        );
        assert_eq!(relative(c"self/oom_score_adj"), c"self/oom_score_adj");
        assert_eq!(relative(c"/procfoo"), c"/procfoo");
    }

    #[test]
    fn proc_is_procfs_and_other_places_are_not() {
        let proc = open_root(c"/proc").unwrap_or_else(|e| panic!("{e}"));
        assert!(open_at(proc.as_fd(), c"/proc/self/status", libc::O_RDONLY).is_ok());
        // A subdirectory of procfs is not its root; /sys is not procfs.
        assert_eq!(open_root(c"/proc/sys").err(), Some(sys::WRONG_OBJECT));
        assert_eq!(open_root(c"/sys").err(), Some(sys::WRONG_OBJECT));
        // Magic links are refused; so is walking out with `..`.
        assert_eq!(
            open_at(proc.as_fd(), c"self/cwd/x", libc::O_RDONLY).err(),
            Some(Errno::ELOOP)
        );
        assert_eq!(
            open_at(proc.as_fd(), c"../etc/passwd", libc::O_RDONLY).err(),
            Some(Errno::EXDEV)
        );
    }
}
