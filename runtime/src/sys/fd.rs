//! fds and the cwd: closing what the container process must not inherit, entering the cwd by fd and
//! checking where it ended up. Used between clone and execve: no allocation.
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{check, check_long, Errno, SysResult};

/// `open_tree(2)`'s flag for a detached copy of the tree (a bind mount not yet attached).
pub const OPEN_TREE_CLONE: libc::c_uint = 1;

/// Most fds [`close_from_except`] keeps.
pub const KEEP_MAX: usize = 8;

/// `dup2(2)` of an fd given by number, which this process no longer owns as an [`OwnedFd`] (a
/// child's inherited copy that `close_from_except` closes later). A closed `fd` is `EBADF`.
pub fn dup2_raw(fd: RawFd, target: RawFd) -> SysResult<()> {
    // SAFETY: dup2 only reads the fd table; `target` is replaced, as the caller asks.
    check(unsafe { libc::dup2(fd, target) }).map(drop)
}

/// A close-on-exec copy of `fd` numbered `min` or above (`fcntl(F_DUPFD_CLOEXEC)`): the parent's
/// copy of a stdio fd, above every fd the container process keeps.
pub fn dup_above(fd: BorrowedFd<'_>, min: RawFd) -> SysResult<OwnedFd> {
    // SAFETY: fcntl on a live borrowed fd; on success the new fd is ours alone.
    let new = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: `new` was just returned by the kernel and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Close (not only mark close-on-exec) every fd numbered `first` or above, except those in `keep`
/// (any order, at most [`KEEP_MAX`]; numbers below `first` are ignored). `close_range(2)` over each
/// gap between the kept fds. After this, nothing the runtime opened, inherited or was handed by a
/// library can reach the container process: a directory fd left open would give it a way out of the
/// container's root through `/proc/self/fd/N` (CVE-2024-21626).
pub fn close_from_except(first: RawFd, keep: &[RawFd]) -> SysResult<()> {
    let mut sorted = [RawFd::MAX; KEEP_MAX];
    let n = keep.len().min(KEEP_MAX);
    sorted[..n].copy_from_slice(&keep[..n]);
    // Insertion sort: a handful of numbers, no allocation.
    for i in 1..n {
        let mut j = i;
        while j > 0 && sorted[j - 1] > sorted[j] {
            sorted.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut lo = first.max(0);
    for &k in &sorted[..n] {
        if k < lo {
            continue;
        }
        if k > lo {
            close_range(lo as libc::c_uint, (k - 1) as libc::c_uint)?;
        }
        lo = k + 1;
    }
    close_range(lo as libc::c_uint, libc::c_uint::MAX)
}

fn close_range(first: libc::c_uint, last: libc::c_uint) -> SysResult<()> {
    // SAFETY: plain syscall; it closes fds of this process only, none of which Rust code here still
    // uses by number (the caller keeps the ones it needs).
    check(unsafe { libc::close_range(first, last, 0) }).map(drop)
}

/// Whether the cwd is inside this process's root: the kernel's `getcwd` answers a path starting with
/// `(unreachable)` (not `/`) for a cwd outside it (a host directory entered through a leaked fd or a
/// racing rename), which is how runc checks it too.
pub fn cwd_is_inside_root() -> SysResult<bool> {
    let mut buf = [0u8; 4096];
    // SAFETY: buf is writable for its length; the raw syscall (not libc's getcwd, which would turn
    // the unreachable answer into ENOENT) only writes into it.
    let n = check_long(unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) })?;
    Ok(n > 0 && buf[0] == b'/')
}

/// `fstat(2)`.
pub fn fstat(fd: BorrowedFd<'_>) -> SysResult<libc::stat> {
    // SAFETY: st is a plain struct the kernel fills.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is live, st writable.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// `fstatfs(2)`'s filesystem type.
pub fn fstatfs_type(fd: BorrowedFd<'_>) -> SysResult<i64> {
    // SAFETY: st is a plain struct the kernel fills.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fd is live, st writable.
    check(unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) })?;
    Ok(st.f_type as i64)
}

/// `openat2(2)` relative to `dir` with the given `RESOLVE_*` flags (`O_CLOEXEC` always).
pub fn openat2(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_int,
    resolve: u64,
) -> SysResult<OwnedFd> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    // SAFETY: how is a valid open_how of the size passed; path is a valid C string.
    let fd = check_long(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `open_tree(2)` of the object `fd` refers to (`AT_EMPTY_PATH`), with `flags`
/// (`OPEN_TREE_CLONE`, `AT_RECURSIVE`): a detached mount of it, or the mount itself.
pub fn open_tree_fd(fd: BorrowedFd<'_>, flags: libc::c_uint) -> SysResult<OwnedFd> {
    // SAFETY: an empty C string with AT_EMPTY_PATH on a live fd.
    let r = check_long(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags | libc::AT_EMPTY_PATH as libc::c_uint | libc::O_CLOEXEC as libc::c_uint,
        )
    })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// `move_mount(2)` of the detached (or attached) mount `from` onto the object `to` refers to, both
/// by fd: no path is looked up, so nothing can be swapped between the check and the mount.
pub fn move_mount_fd(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> SysResult<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: empty C strings with the EMPTY_PATH flags on live fds.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// `mount_setattr(2)` on the mount `fd` refers to (`AT_EMPTY_PATH`; `AT_RECURSIVE` for its
/// submounts too).
pub fn mount_setattr_fd(
    fd: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clear: u64,
) -> SysResult<()> {
    let flags = libc::AT_EMPTY_PATH as libc::c_uint
        | if recursive {
            libc::AT_RECURSIVE as libc::c_uint
        } else {
            0
        };
    // SAFETY: fd is live; the empty path with AT_EMPTY_PATH names it.
    super::mount_setattr(fd.as_raw_fd(), c"", flags, set, clear)
}

/// The errno for "this is not the object it must be" (a `/dev/null` that is not the null device, a
/// procfs that is not procfs).
pub const WRONG_OBJECT: Errno = Errno::EXDEV;

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn close_from_except_keeps_exactly_the_kept_fds() {
        // In a child process, so that the test harness's own fds are not touched.
        // SAFETY: the child only makes raw syscalls and exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            use std::os::fd::IntoRawFd;
            let mut raw = [0 as RawFd; 6];
            for r in raw.iter_mut() {
                match super::super::open(c"/", libc::O_PATH, 0) {
                    Ok(fd) => *r = fd.into_raw_fd(),
                    Err(_) => super::super::exit_now(2),
                }
            }
            if close_from_except(raw[0], &[raw[4], raw[1]]).is_err() {
                super::super::exit_now(3);
            }
            for (i, r) in raw.iter().enumerate() {
                // SAFETY: F_GETFD only queries the fd.
                let open = unsafe { libc::fcntl(*r, libc::F_GETFD) } >= 0;
                if open != (i == 1 || i == 4) {
                    super::super::exit_now(10 + i as i32);
                }
            }
            super::super::exit_now(0);
        }
        let (_, status) = super::super::waitpid(pid, 0).unwrap_or((0, -1));
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "status {status:#x}"
        );
    }

    #[test]
    fn the_cwd_is_inside_our_root() {
        assert_eq!(cwd_is_inside_root(), Ok(true));
    }

    /// A cwd left outside by a `chroot` (what a leaked directory fd gives) is seen as outside.
    #[test]
    fn a_cwd_outside_the_root_is_seen() {
        if !nix::unistd::geteuid().is_root() {
            spec_tests::skip!("a cwd outside the root", "chroot needs root");
        }
        let dir = std::env::temp_dir().join(format!("sangja-cwd-unit-{}", std::process::id()));
        let inner = dir.join("root");
        std::fs::create_dir_all(&inner).unwrap_or_else(|e| panic!("{e}"));
        let inner_c =
            std::ffi::CString::new(inner.as_os_str().as_encoded_bytes()).unwrap_or_default();
        let dir_c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap_or_default();
        // SAFETY: the child only makes raw syscalls and exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let code = match (super::super::chdir(&dir_c), super::super::chroot(&inner_c)) {
                (Ok(()), Ok(())) => match cwd_is_inside_root() {
                    Ok(false) => 0,
                    Ok(true) => 1,
                    Err(_) => 2,
                },
                _ => 3,
            };
            super::super::exit_now(code);
        }
        let (_, status) = super::super::waitpid(pid, 0).unwrap_or((0, -1));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "status {status:#x}"
        );
    }

    #[test]
    fn fstat_sees_a_directory() {
        let fd = super::super::open(c"/", libc::O_PATH, 0).unwrap_or_else(|e| panic!("{e}"));
        let st = fstat(fd.as_fd()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFDIR);
    }
}
