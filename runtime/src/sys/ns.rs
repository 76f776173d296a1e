//! Namespaces: joining (`setns`) and creating (`unshare`) them, and what a new UTS or network
//! namespace gets from the init: its host and domain names and the loopback interface up.
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::{check, SysResult};

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
