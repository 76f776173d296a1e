//! Identity: groups, user and group ids, capabilities, and a fresh session keyring, set by the
//! init (and the exec child) on their way to `execve`. Raw syscalls where glibc's wrappers would
//! coordinate with threads the child does not have.
use std::ffi::CStr;

use super::{check_long, SysResult};

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

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, name)`: a fresh session keyring.
pub fn join_session_keyring(name: &CStr) -> SysResult<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    // SAFETY: name is a valid C string.
    check_long(unsafe {
        libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr())
    })
    .map(drop)
}
