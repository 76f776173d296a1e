//! Files: opening them (also inside a root, with `openat2`'s `RESOLVE_IN_ROOT`), making nodes,
//! links, directories and fifos, their owners, modes and metadata, memfds and their seals, and
//! `access` as `execve` will judge it. The init uses these between clone and execve: no
//! allocation (paths come prepared from the plan; `/proc/self/fd/N` is formatted on the stack).
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{check, check_long, check_size, openat2, Errno, SysResult};

/// `openat2(2)` with `RESOLVE_IN_ROOT`: resolve `path` as if `root` were `/` (symlinks and `..`
/// cannot leave it).
pub fn open_in_root(root: BorrowedFd<'_>, path: &CStr, flags: libc::c_int) -> SysResult<OwnedFd> {
    openat2(
        root,
        path,
        flags,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    )
}

/// `open(2)`.
pub fn open(path: &CStr, flags: libc::c_int, mode: libc::mode_t) -> SysResult<OwnedFd> {
    // SAFETY: path is a valid C string.
    let fd = check(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat(2)` relative to `dirfd` (which may be an `O_PATH` fd).
pub fn openat(
    dirfd: BorrowedFd<'_>,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> SysResult<OwnedFd> {
    // SAFETY: name is a valid C string, dirfd a live fd.
    let fd = check(unsafe {
        libc::openat(
            dirfd.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode,
        )
    })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `readlinkat(2)` into `buf`; returns the target's length.
pub fn readlinkat(dirfd: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: name is a valid C string and buf is writable for buf.len() bytes.
    check_size(unsafe {
        libc::readlinkat(
            dirfd.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    })
}

/// `mkdirat(2)`.
pub fn mkdirat(dirfd: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: name is a valid C string, dirfd a live fd.
    check(unsafe { libc::mkdirat(dirfd.as_raw_fd(), name.as_ptr(), mode) }).map(drop)
}

/// `mknodat(2)`.
pub fn mknodat(
    dirfd: BorrowedFd<'_>,
    name: &CStr,
    mode: libc::mode_t,
    dev: libc::dev_t,
) -> SysResult<()> {
    // SAFETY: name is a valid C string, dirfd a live fd.
    check(unsafe { libc::mknodat(dirfd.as_raw_fd(), name.as_ptr(), mode, dev) }).map(drop)
}

/// `symlinkat(2)`.
pub fn symlinkat(target: &CStr, dirfd: BorrowedFd<'_>, name: &CStr) -> SysResult<()> {
    // SAFETY: both strings are valid C strings, dirfd a live fd.
    check(unsafe { libc::symlinkat(target.as_ptr(), dirfd.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// `fchownat(2)` without following a final symlink.
pub fn fchownat(
    dirfd: BorrowedFd<'_>,
    name: &CStr,
    uid: libc::uid_t,
    gid: libc::gid_t,
) -> SysResult<()> {
    // SAFETY: name is a valid C string, dirfd a live fd.
    check(unsafe {
        libc::fchownat(
            dirfd.as_raw_fd(),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// `fchmodat(2)`.
pub fn fchmodat(dirfd: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: name is a valid C string, dirfd a live fd.
    check(unsafe { libc::fchmodat(dirfd.as_raw_fd(), name.as_ptr(), mode, 0) }).map(drop)
}

/// `stat(2)`.
pub fn stat(path: &CStr) -> SysResult<libc::stat> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is a valid C string and st a valid out-pointer.
    check(unsafe { libc::stat(path.as_ptr(), &mut st) })?;
    Ok(st)
}

/// `statvfs(3)` (mount flags in `f_flag`).
pub fn statvfs(path: &CStr) -> SysResult<libc::statvfs> {
    // SAFETY: an all-zero statvfs is a valid value to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: path is a valid C string and st a valid out-pointer.
    check(unsafe { libc::statvfs(path.as_ptr(), &mut st) })?;
    Ok(st)
}

/// `fcntl(F_GET_SEALS)`.
pub fn get_seals(fd: BorrowedFd<'_>) -> SysResult<libc::c_int> {
    // SAFETY: integer-argument fcntl on a live fd.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) })
}

/// `fcntl(F_ADD_SEALS)`.
pub fn add_seals(fd: BorrowedFd<'_>, seals: libc::c_int) -> SysResult<()> {
    // SAFETY: integer-argument fcntl on a live fd.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) }).map(drop)
}

/// `memfd_create(2)`.
pub fn memfd_create(name: &CStr, flags: libc::c_uint) -> SysResult<OwnedFd> {
    // SAFETY: name is a valid C string.
    let fd = check(unsafe { libc::memfd_create(name.as_ptr(), flags) })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `sendfile(2)` of up to `count` bytes from the current offset of `src`; returns bytes copied.
pub fn sendfile(dst: BorrowedFd<'_>, src: BorrowedFd<'_>, count: usize) -> SysResult<usize> {
    // SAFETY: both fds are live; a NULL offset uses and advances src's file offset.
    check_size(unsafe {
        libc::sendfile(
            dst.as_raw_fd(),
            src.as_raw_fd(),
            std::ptr::null_mut(),
            count,
        )
    })
}

/// `fchown(2)`; `u32::MAX` leaves that id as it is.
pub fn fchown(fd: BorrowedFd<'_>, uid: libc::uid_t, gid: libc::gid_t) -> SysResult<()> {
    // SAFETY: plain syscall on a live fd.
    check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map(drop)
}

/// Is `st` the null device (character device 1:3)?
pub fn is_null_device(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3)
}

/// `access(2)` as `execve` will see it: with the effective ids and capabilities
/// (`faccessat2(AT_EACCESS)`; plain `access` checks the real ids with the effective
/// capabilities dropped, which refuses what CAP_DAC_OVERRIDE allows). Kernels before 5.8 lack
/// faccessat2: `access` then. Raw syscall: glibc emulates AT_EACCESS in user space where the
/// kernel cannot.
pub fn access(path: &CStr, mode: libc::c_int) -> SysResult<()> {
    // SAFETY: path is a valid C string; the kernel only reads it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_faccessat2,
            libc::AT_FDCWD,
            path.as_ptr(),
            mode,
            libc::AT_EACCESS,
        )
    };
    match check_long(r) {
        // Older kernel, or a seccomp profile without faccessat2 (which denies with ENOSYS or
        // EPERM; an X_OK check itself never fails with EPERM).
        Err(Errno::ENOSYS) | Err(Errno::EPERM) => {
            // SAFETY: path is a valid C string.
            check(unsafe { libc::access(path.as_ptr(), mode) }).map(drop)
        }
        r => r.map(drop),
    }
}

/// `mkfifo(3)`.
pub fn mkfifo(path: &CStr, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: path is a valid C string.
    check(unsafe { libc::mkfifo(path.as_ptr(), mode) }).map(drop)
}

/// Format `/proc/self/fd/<fd>` into `buf` (NUL-terminated) without allocating.
pub fn proc_fd_path(fd: RawFd, buf: &mut [u8; 32]) -> &CStr {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 12];
    let mut n = fd.max(0) as u32;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[PREFIX.len() + i] = digits[len - 1 - i];
    }
    buf[PREFIX.len() + len] = 0;
    CStr::from_bytes_until_nul(&buf[..]).unwrap_or(c"/proc/self/fd/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fd_path_formats_without_allocating() {
        let mut buf = [0u8; 32];
        assert_eq!(proc_fd_path(7, &mut buf).to_bytes(), b"/proc/self/fd/7");
        assert_eq!(
            proc_fd_path(1234, &mut buf).to_bytes(),
            b"/proc/self/fd/1234"
        );
        assert_eq!(proc_fd_path(0, &mut buf).to_bytes(), b"/proc/self/fd/0");
    }
}
