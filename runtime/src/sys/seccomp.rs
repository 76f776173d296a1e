//! `seccomp(2)`: loading a classic BPF filter into the calling thread (in the init or the exec
//! child, between clone and execve: no allocation), and asking the kernel which filter flags it
//! knows. The program is compiled in `seccomp/` into [`Insn`]s, defined here with the layout of
//! `struct sock_filter` (checked at compile time).
use std::os::fd::{FromRawFd, OwnedFd};

use super::{check_long, Errno, SysResult};

/// One classic BPF instruction (`struct sock_filter`), as the seccomp compiler emits them.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant.
    pub k: u32,
}

/// `SECCOMP_SET_MODE_FILTER`.
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

// The kernel reads the program as an array of `struct sock_filter`.
const _: () = assert!(
    std::mem::size_of::<Insn>() == std::mem::size_of::<libc::sock_filter>()
        && std::mem::align_of::<Insn>() == std::mem::align_of::<libc::sock_filter>()
);

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)` with the program `insns`. With
/// `listener` (the flags hold `SECCOMP_FILTER_FLAG_NEW_LISTENER`), the notification fd the
/// kernel returns. A program longer than `u16::MAX` instructions is `EINVAL`, as the kernel
/// answers one longer than 4096.
pub fn seccomp_load_filter(
    insns: &[Insn],
    flags: u32,
    listener: bool,
) -> SysResult<Option<OwnedFd>> {
    let len = libc::c_ushort::try_from(insns.len()).map_err(|_| Errno::EINVAL)?;
    let prog = libc::sock_fprog {
        len,
        filter: insns.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points to `len` initialised instructions with the layout of
    // `struct sock_filter` (`Insn` is repr(C) u16/u8/u8/u32, size and alignment asserted above);
    // the kernel only reads them, copying them before returning, and both outlive the call.
    let r = check_long(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    })?;
    if listener {
        // SAFETY: with NEW_LISTENER the kernel returns a new fd that nothing else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(r as libc::c_int) }))
    } else {
        Ok(None)
    }
}

/// Does the kernel accept these filter flags? A NULL program with valid flags fails with EFAULT
/// (the flags are checked before the program is read), with unknown ones EINVAL.
pub fn seccomp_flags_supported(flags: u32) -> bool {
    // SAFETY: a NULL program pointer is never dereferenced by the kernel: it fails the copy with
    // EFAULT (or rejects the flags first with EINVAL); nothing is installed either way.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    r < 0 && Errno::last() == Errno::EFAULT
}
