//! Thin typed wrappers over the syscalls the runtime needs: the only place with `unsafe`.
//!
//! Every wrapper takes already-prepared C strings (built in the plan, before clone) and returns
//! `Result<_, Errno>`, so the init can call them between clone and execve without allocating.
use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

pub use nix::errno::Errno;

mod fd;
mod fmt;
pub use fd::*;
pub use fmt::format_pid;

/// Result of a raw syscall wrapper.
pub type SysResult<T> = Result<T, Errno>;

/// `mount_setattr(2)` attribute bits.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// `mount_setattr(2)`: nosuid.
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
/// `mount_setattr(2)`: nodev.
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
/// `mount_setattr(2)`: noexec.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
/// `mount_setattr(2)`: the atime mode field (set it in `attr_clr` to change the mode).
pub const MOUNT_ATTR_ATIME: u64 = 0x70;
/// `mount_setattr(2)` atime mode: relatime (the zero value of the field).
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
/// `mount_setattr(2)` atime mode: noatime.
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
/// `mount_setattr(2)` atime mode: strictatime.
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
/// `mount_setattr(2)`: nodiratime.
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
/// `mount_setattr(2)`: nosymfollow.
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

fn check(ret: libc::c_int) -> SysResult<libc::c_int> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

fn check_long(ret: libc::c_long) -> SysResult<libc::c_long> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

fn ptr_or_null(s: Option<&CStr>) -> *const libc::c_char {
    s.map_or(std::ptr::null(), CStr::as_ptr)
}

/// What `clone3` returned in the calling process.
#[derive(Debug)]
pub enum Forked {
    /// We are the parent; the child's pid in our pid namespace.
    Parent(libc::pid_t),
    /// We are the child.
    Child,
}

/// `clone3` without `CLONE_VM`: fork-like, with namespace flags. Falls back to `clone` when the
/// kernel lacks `clone3`.
///
/// # Safety
/// The caller must be single-threaded (or only call async-signal-safe code in the child), as after
/// `fork(2)`.
pub unsafe fn clone_fork(flags: u64) -> SysResult<Forked> {
    // SAFETY: forwarded contract.
    unsafe { clone_fork_into(flags, None) }
}

/// `CLONE_INTO_CGROUP` (libc's constant evaluates to 0 on this target).
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// [`clone_fork`], born into the cgroup v2 directory `cgroup` (`CLONE_INTO_CGROUP`): no migration
/// afterwards, so no wait for the global cgroup lock. No legacy fallback with a cgroup: the caller
/// retries without it.
///
/// # Safety
/// As [`clone_fork`].
pub unsafe fn clone_fork_into(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> SysResult<Forked> {
    let (flags, cgroup) = match cgroup {
        Some(fd) => (flags | CLONE_INTO_CGROUP, fd.as_raw_fd() as u64),
        None => (flags, 0),
    };
    let mut args = libc::clone_args {
        flags,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup,
    };
    // SAFETY: clone_args is a valid, initialised struct of the size passed; without CLONE_VM the
    // child gets a copy of our address space, so returning twice is sound as for fork(2).
    let mut ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    if ret < 0 && Errno::last() == Errno::ENOSYS && flags & CLONE_INTO_CGROUP == 0 {
        // SAFETY: legacy clone with a NULL stack behaves like fork(2) with extra flags.
        ret = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags as libc::c_ulong) | libc::SIGCHLD as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
    }
    match check_long(ret)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// Make this process non-dumpable for the life of the guard, so that a child forked meanwhile is
/// born non-dumpable: from its first instruction, nothing in the namespaces it enters can open its
/// `/proc/<pid>/exe` (the runtime binary, CVE-2019-5736) or ptrace it. The previous setting is
/// restored on drop (library callers keep theirs).
#[derive(Debug)]
pub struct NotDumpable(libc::c_int);

impl NotDumpable {
    /// Clear the dumpable flag.
    pub fn new() -> NotDumpable {
        // SAFETY: integer-argument prctl calls.
        let old = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
        // SAFETY: as above.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        NotDumpable(old.max(0))
    }
}

impl Default for NotDumpable {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NotDumpable {
    fn drop(&mut self) {
        // SAFETY: integer-argument prctl restoring the value read in `new`.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, self.0 as libc::c_ulong, 0, 0, 0) };
    }
}

/// `mount(2)`.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> SysResult<()> {
    // SAFETY: all pointers are NUL-terminated strings or NULL, valid for the call.
    check(unsafe {
        libc::mount(
            ptr_or_null(source),
            target.as_ptr(),
            ptr_or_null(fstype),
            flags,
            ptr_or_null(data).cast(),
        )
    })
    .map(drop)
}

/// `umount2(2)`.
pub fn umount2(target: &CStr, flags: libc::c_int) -> SysResult<()> {
    // SAFETY: target is a valid C string.
    check(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(2)` on `dirfd`/`path`: set `attr_set` bits (recursively with `AT_RECURSIVE`).
pub fn mount_setattr(
    dirfd: RawFd,
    path: &CStr,
    flags: libc::c_uint,
    attr_set: u64,
    attr_clr: u64,
) -> SysResult<()> {
    let attr = MountAttr {
        attr_set,
        attr_clr,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: attr is a valid mount_attr of the size passed; path is a valid C string.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

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
    let n = unsafe {
        libc::readlinkat(
            dirfd.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// Bring the loopback interface of the current network namespace up (as runc does for a new
/// network namespace), with two ioctls on a throwaway socket.
pub fn loopback_up() -> SysResult<()> {
    // SAFETY: plain socket creation.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero ifreq is valid; the name is set below.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo".iter().enumerate() {
        ifr.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: ifr is a valid ifreq for SIOCGIFFLAGS.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) })?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: ifr is a valid ifreq for SIOCSIFFLAGS.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) }).map(drop)
}

/// Send `fd` over the unix socket `sock` in one `SCM_RIGHTS` message whose payload is `name`
/// (runc sends the pty master this way, named `/dev/ptmx`).
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>, name: &[u8]) -> SysResult<()> {
    // Control buffer for one fd, 8-byte aligned as cmsghdr requires.
    #[repr(C, align(8))]
    struct Cmsg([u8; 64]);
    let mut cbuf = Cmsg([0; 64]);
    let mut iov = libc::iovec {
        iov_base: name.as_ptr() as *mut libc::c_void,
        iov_len: name.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the sendmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure size computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    // SAFETY: msg_control points to a buffer large enough for one cmsg carrying one fd; the
    // CMSG_* macros stay within it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd.as_raw_fd());
    }
    // SAFETY: msg is fully initialised above.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `recvmsg(2)` of one message into `buf`, taking the file descriptor passed with it, if any
/// (`SCM_RIGHTS`, received close-on-exec). No allocation.
pub fn recv_with_fd(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
) -> Result<(usize, Option<OwnedFd>), Errno> {
    #[repr(C, align(8))]
    struct Cmsg([u8; 64]);
    let mut cbuf = Cmsg([0; 64]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the recvmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len();
    // SAFETY: msg describes valid buffers (`buf`, `cbuf`) for the duration of the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(Errno::last());
    }
    let mut fd = None;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within
    // msg_controllen; an SCM_RIGHTS payload holds ints, read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let raw: RawFd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                // The kernel installed this fd for us: we own it.
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, fd))
}

/// Receive one fd sent with [`send_fd`] (the message payload is discarded).
pub fn recv_fd(sock: BorrowedFd<'_>) -> SysResult<OwnedFd> {
    let mut data = [0u8; 256];
    match recv_with_fd(sock, &mut data)? {
        (_, Some(fd)) => Ok(fd),
        (_, None) => Err(Errno::EPROTO),
    }
}

/// Open a new pty pair through `/dev/ptmx` of the root directory `root`: (master, slave).
pub fn open_pty(root: BorrowedFd<'_>) -> SysResult<(OwnedFd, OwnedFd)> {
    // Inside the container's root (its symlinks, e.g. /dev/ptmx -> pts/ptmx, followed only
    // there; no magic links), and it must be the pty multiplexer (5:2), not what an image put there.
    let master = openat2(
        root,
        c"/dev/ptmx",
        libc::O_RDWR | libc::O_NOCTTY,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    )?;
    let st = fstat(master.as_fd())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(5, 2) {
        return Err(WRONG_OBJECT);
    }
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to an int.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) })?;
    // TIOCGPTPEER opens the slave through the master's own devpts instance, so a path lookup
    // cannot be redirected.
    // SAFETY: TIOCGPTPEER takes open flags and returns a new fd.
    let slave = check(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok((master, unsafe { OwnedFd::from_raw_fd(slave) }))
}

/// Make `tty` our controlling terminal in a new session and our stdin, stdout and stderr.
pub fn make_controlling_tty(tty: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: plain syscalls on a live fd.
    unsafe {
        check(libc::setsid())?;
        check(libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0))?;
        for target in 0..3 {
            check(libc::dup2(tty.as_raw_fd(), target))?;
        }
    }
    Ok(())
}

/// Turn off `ONLCR` (`\n` → `\r\n` on output), which Linux ptys start with: clients relay the
/// container's output to a terminal or a log of their own, where the extra `\r` shows up (runc
/// clears it too).
pub fn clear_onlcr(tty: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: termios is plain data; TCGETS fills it, TCSETS reads it.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: TCGETS takes a pointer to a termios.
    check(unsafe { libc::ioctl(tty.as_raw_fd(), libc::TCGETS, &mut t) })?;
    t.c_oflag &= !libc::ONLCR;
    // SAFETY: TCSETS takes a pointer to a termios.
    check(unsafe { libc::ioctl(tty.as_raw_fd(), libc::TCSETS, &t) }).map(drop)
}

/// The process's stdio, fds 0-2, borrowed.
pub fn stdio() -> [BorrowedFd<'static>; 3] {
    // SAFETY: fds 0-2 stay open for the life of the process by convention (the runtime never
    // closes them); the borrows are used for fstat/fchown-like calls only.
    unsafe {
        [
            BorrowedFd::borrow_raw(0),
            BorrowedFd::borrow_raw(1),
            BorrowedFd::borrow_raw(2),
        ]
    }
}

/// Is `st` the null device (character device 1:3)?
pub fn is_null_device(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3)
}

/// `fchown(2)`; `u32::MAX` leaves that id as it is.
pub fn fchown(fd: BorrowedFd<'_>, uid: libc::uid_t, gid: libc::gid_t) -> SysResult<()> {
    // SAFETY: plain syscall on a live fd.
    check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map(drop)
}

/// Set a terminal's window size (`consoleSize`).
pub fn set_winsize(tty: BorrowedFd<'_>, rows: u16, cols: u16) -> SysResult<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ takes a pointer to a winsize.
    check(unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) }).map(drop)
}

/// `pipe2(O_CLOEXEC)`: (read end, write end).
pub fn pipe() -> SysResult<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out-array of two ints.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: the kernel returned two new fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `dup2(2)` (the new fd is not close-on-exec).
pub fn dup2(fd: BorrowedFd<'_>, target: RawFd) -> SysResult<()> {
    // SAFETY: plain syscall on a live fd.
    check(unsafe { libc::dup2(fd.as_raw_fd(), target) }).map(drop)
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
    let n = unsafe {
        libc::sendfile(
            dst.as_raw_fd(),
            src.as_raw_fd(),
            std::ptr::null_mut(),
            count,
        )
    };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// `fsopen(2)` with `FSOPEN_CLOEXEC`: a filesystem context for `fstype`.
pub fn fsopen(fstype: &CStr) -> SysResult<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    // SAFETY: fstype is a valid C string.
    let fd =
        check_long(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `fsconfig(FSCONFIG_SET_STRING)`: set `key=value` on a filesystem context.
pub fn fsconfig_string(ctx: BorrowedFd<'_>, key: &CStr, value: &CStr) -> SysResult<()> {
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    // SAFETY: key and value are valid C strings, ctx a live fs context fd.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// `fsconfig(FSCONFIG_CMD_CREATE)`: make the superblock of a filesystem context.
pub fn fsconfig_create(ctx: BorrowedFd<'_>) -> SysResult<()> {
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    // SAFETY: integer and NULL arguments on a live fs context fd.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })
    .map(drop)
}

/// `fsmount(2)` with `FSMOUNT_CLOEXEC`: a detached mount of a created context, with `MOUNT_ATTR_*`.
pub fn fsmount(ctx: BorrowedFd<'_>, attrs: u64) -> SysResult<OwnedFd> {
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: integer arguments on a live fs context fd.
    let fd = check_long(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            ctx.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            attrs as libc::c_uint,
        )
    })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: execute the file `fd` refers to (an `O_PATH`
/// fd or a memfd). `argv` and `envp` must end with a NULL pointer (else EINVAL). Only returns on
/// failure.
pub fn execveat_fd(
    fd: BorrowedFd<'_>,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> Errno {
    // The kernel reads both arrays up to their NULL: without one it would read past them.
    if argv.last().is_none_or(|p| !p.is_null()) || envp.last().is_none_or(|p| !p.is_null()) {
        return Errno::EINVAL;
    }
    // SAFETY: argv and envp are NULL-terminated (checked above) arrays of pointers into C strings
    // the caller keeps alive; the path is an empty C string.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::last()
}

/// `write(2)` of the whole buffer (one call; short writes are errors here).
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> SysResult<usize> {
    // SAFETY: buf is valid for buf.len() bytes.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// `send(2)` with `MSG_NOSIGNAL`: a peer that is gone is `EPIPE`, never a SIGPIPE that would kill
/// an embedder that does not ignore it.
pub fn send(sock: BorrowedFd<'_>, buf: &[u8]) -> SysResult<usize> {
    // SAFETY: buf is valid for buf.len() bytes.
    let n = unsafe {
        libc::send(
            sock.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// `read(2)`.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: buf is valid and writable for buf.len() bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// `setns(2)`.
pub fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> SysResult<()> {
    // SAFETY: plain syscall on a live fd.
    check(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

/// `unshare(2)`.
pub fn unshare(flags: libc::c_int) -> SysResult<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::unshare(flags) }).map(drop)
}

/// `sethostname(2)`.
pub fn sethostname(name: &[u8]) -> SysResult<()> {
    // SAFETY: name is valid for its length.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// `setdomainname(2)`.
pub fn setdomainname(name: &[u8]) -> SysResult<()> {
    // SAFETY: name is valid for its length.
    check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// `pivot_root(2)`.
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> SysResult<()> {
    // SAFETY: both are valid C strings.
    check_long(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
        .map(drop)
}

/// `chdir(2)`.
pub fn chdir(path: &CStr) -> SysResult<()> {
    // SAFETY: path is a valid C string.
    check(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

/// `fchdir(2)`.
pub fn fchdir(fd: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: plain syscall on a live fd.
    check(unsafe { libc::fchdir(fd.as_raw_fd()) }).map(drop)
}

/// `chroot(2)`.
pub fn chroot(path: &CStr) -> SysResult<()> {
    // SAFETY: path is a valid C string.
    check(unsafe { libc::chroot(path.as_ptr()) }).map(drop)
}

/// `prctl(2)` with integer arguments.
pub fn prctl(option: libc::c_int, a2: libc::c_ulong, a3: libc::c_ulong) -> SysResult<libc::c_int> {
    // SAFETY: only integer-argument prctl options are passed through this wrapper.
    check(unsafe { libc::prctl(option, a2, a3, 0 as libc::c_ulong, 0 as libc::c_ulong) })
}

/// `setrlimit(2)` (via prlimit on ourselves).
pub fn setrlimit(resource: libc::c_int, soft: u64, hard: u64) -> SysResult<()> {
    let lim = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: lim is a valid rlimit64; a NULL old-limit pointer is allowed.
    check(unsafe { libc::prlimit64(0, resource as _, &lim, std::ptr::null_mut()) }).map(drop)
}

/// `setgroups(2)`.
pub fn setgroups(groups: &[libc::gid_t]) -> SysResult<()> {
    // Raw syscall, not glibc's wrapper: that one broadcasts the change to every thread glibc
    // knows of (`__nptl_setxid`) and waits for them; in a child cloned from a multi-threaded
    // embedder those threads do not exist here, and it would wait forever.
    // SAFETY: groups is valid for its length; the kernel only reads it.
    check_long(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) })
        .map(drop)
}

/// `setresgid(2)` with all three ids equal. Raw syscall: glibc's wrapper would broadcast to
/// threads with signals, which we neither need nor want in the init.
pub fn setgid_all(gid: libc::gid_t) -> SysResult<()> {
    // SAFETY: plain syscall.
    check_long(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(drop)
}

/// `setresuid(2)` with all three ids equal (raw syscall, see [`setgid_all`]).
pub fn setuid_all(uid: libc::uid_t) -> SysResult<()> {
    // SAFETY: plain syscall.
    check_long(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(drop)
}

/// `capset(2)` with 64-bit masks (version 3 header).
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> SysResult<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let data = [
        Data {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        Data {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: header and data match the kernel's v3 layout (two data elements).
    check_long(unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) }).map(drop)
}

/// `umask(2)`.
pub fn umask(mask: libc::mode_t) {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask) };
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

/// Reset every catchable signal to its default action and unblock all signals, so the container
/// process does not inherit the runtime's dispositions (Rust ignores SIGPIPE, for one).
pub fn reset_signals() {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL is always valid; errors for reserved numbers are ignored.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    // SAFETY: an empty set is valid for SIG_SETMASK.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, name)`: a fresh session keyring.
pub fn join_session_keyring(name: &CStr) -> SysResult<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    // SAFETY: name is a valid C string.
    check_long(unsafe {
        libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr())
    })
    .map(drop)
}

/// `execve(2)`: only returns on failure.
pub fn execve(path: &CStr, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> Errno {
    // SAFETY: argv and envp are NULL-terminated arrays of pointers into C strings the caller
    // keeps alive (the plan).
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Errno::last()
}

/// `_exit(2)`: leave the child without running Rust or libc exit handlers.
pub fn exit_now(code: libc::c_int) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// `pidfd_open(2)`.
pub fn pidfd_open(pid: libc::pid_t) -> SysResult<OwnedFd> {
    // SAFETY: plain syscall.
    let fd = check_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(2)`.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: libc::c_int) -> SysResult<()> {
    // SAFETY: plain syscall on a live pidfd; NULL siginfo is allowed.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

/// `kill(2)`.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> SysResult<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// `eventfd(2)` (close-on-exec): cgroup v1 OOM notification.
pub fn eventfd() -> SysResult<OwnedFd> {
    // SAFETY: plain syscall.
    let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `poll(2)` on one fd for `events`; returns true when ready before `timeout_ms`.
pub fn poll_one(
    fd: BorrowedFd<'_>,
    events: libc::c_short,
    timeout_ms: libc::c_int,
) -> SysResult<bool> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    loop {
        // SAFETY: p is one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r < 0 {
            let e = Errno::last();
            if e == Errno::EINTR {
                continue;
            }
            return Err(e);
        }
        return Ok(r > 0);
    }
}

/// `waitpid(2)`, retried on EINTR; returns the raw wait status.
pub fn waitpid(pid: libc::pid_t, flags: libc::c_int) -> SysResult<(libc::pid_t, libc::c_int)> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r < 0 {
            let e = Errno::last();
            if e == Errno::EINTR {
                continue;
            }
            return Err(e);
        }
        return Ok((r, status));
    }
}

/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`: the parent↔init channel.
pub fn seqpacket_pair() -> SysResult<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out-array of two ints.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: the kernel returned two new fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
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

/// One eBPF instruction (`struct bpf_insn`): opcode, destination register in the low nibble and
/// source register in the high nibble of `regs`, offset, immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    /// Opcode (class | size/op | mode/source).
    pub code: u8,
    /// `dst | src << 4`.
    pub regs: u8,
    /// Jump offset (instructions after the next) or memory offset.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

/// `bpf(2)` commands and constants used for cgroup device programs.
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE` attach type.
const BPF_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`: programs attached below (or already here) keep running too.
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The `BPF_PROG_LOAD` part of `union bpf_attr` (up to `expected_attach_type`).
#[repr(C)]
struct BpfProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH` part of `union bpf_attr`.
#[repr(C)]
struct BpfProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `bpf(BPF_PROG_LOAD)` of a `BPF_PROG_TYPE_CGROUP_DEVICE` program named `name` (at most 15
/// bytes are kept). With `log`, the verifier writes its log there (level 1).
pub fn bpf_load_cgroup_device(
    insns: &[BpfInsn],
    license: &CStr,
    name: &str,
    log: Option<&mut [u8]>,
) -> SysResult<OwnedFd> {
    let mut prog_name = [0u8; 16];
    for (d, s) in prog_name.iter_mut().take(15).zip(name.bytes()) {
        *d = s;
    }
    let (log_level, log_size, log_buf) = match log {
        Some(l) => (
            1,
            u32::try_from(l.len()).unwrap_or(u32::MAX),
            l.as_mut_ptr() as u64,
        ),
        None => (0, 0, 0),
    };
    let attr = BpfProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len()).map_err(|_| Errno::E2BIG)?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level,
        log_size,
        log_buf,
        kern_version: 0,
        prog_flags: 0,
        prog_name,
        prog_ifindex: 0,
        expected_attach_type: BPF_CGROUP_DEVICE,
    };
    // SAFETY: attr is a fully initialised bpf_attr prefix of the size passed; the instruction
    // array, license string and log buffer it points to outlive the call (borrowed here).
    let fd = check_long(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const BpfProgLoadAttr,
            std::mem::size_of::<BpfProgLoadAttr>(),
        )
    })?;
    // SAFETY: the kernel returned a new fd (BPF fds are close-on-exec) that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `bpf(BPF_PROG_ATTACH)` of a loaded device program to the cgroup2 directory `cgroup`, with
/// `BPF_F_ALLOW_MULTI`. The attachment holds its own reference: `prog` may be closed afterwards.
pub fn bpf_attach_cgroup_device(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> SysResult<()> {
    let attr = BpfProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: attr is a fully initialised bpf_attr prefix of the size passed; both fds are live.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const BpfProgAttachAttr,
            std::mem::size_of::<BpfProgAttachAttr>(),
        )
    })
    .map(drop)
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
