//! Signals: resetting dispositions for the container process, sending signals, and what a
//! foreground `run` or `exec` needs to forward them (a blocked mask and a signalfd).
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::{check, check_long, check_size, SysResult};

/// Reset every catchable signal to its default action and unblock all signals, so the container
/// process does not inherit the runtime's dispositions (Rust ignores SIGPIPE, for one).
pub fn reset_signals() {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL (no handler function) is always valid; errors for reserved
        // numbers are ignored.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let _ = set_signal_mask(libc::SIG_SETMASK, &sigset(&[]));
}

/// `kill(2)`.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> SysResult<()> {
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// `pidfd_send_signal(2)`.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: libc::c_int) -> SysResult<()> {
    // SAFETY: plain syscall on a live pidfd; a NULL siginfo is allowed.
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

/// The set of `signals` (numbers the kernel does not know are left out).
pub fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is a valid value; sigemptyset and sigaddset only write into
    // the set they are given.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

/// `sigprocmask(how, set)` on the calling thread; returns the previous mask.
pub fn set_signal_mask(how: libc::c_int, set: &libc::sigset_t) -> SysResult<libc::sigset_t> {
    let mut old = sigset(&[]);
    // SAFETY: set is a valid sigset_t read by the call, old a valid one written by it.
    check(unsafe { libc::sigprocmask(how, set, &mut old) })?;
    Ok(old)
}

/// `signalfd(2)` (close-on-exec) for the signals in `set`, which the caller blocks.
pub fn signalfd(set: &libc::sigset_t) -> SysResult<OwnedFd> {
    // SAFETY: set is a valid sigset_t; -1 asks for a new signalfd.
    let fd = check(unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) })?;
    // SAFETY: signalfd returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Read one `signalfd_siginfo` from the signalfd `sfd`: the signal's number, or `None` when
/// nothing was read.
pub fn read_signal(sfd: BorrowedFd<'_>) -> SysResult<Option<libc::c_int>> {
    // SAFETY: signalfd_siginfo is plain integers: all zeros is a valid value.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    // SAFETY: info is writable for its size, which is what is passed.
    let n = check_size(unsafe {
        libc::read(
            sfd.as_raw_fd(),
            (&mut info as *mut libc::signalfd_siginfo).cast(),
            std::mem::size_of::<libc::signalfd_siginfo>(),
        )
    })?;
    Ok((n > 0).then_some(info.ssi_signo as libc::c_int))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_blocked_signal_is_read_from_a_signalfd() {
        let set = sigset(&[libc::SIGUSR2]);
        let old = set_signal_mask(libc::SIG_BLOCK, &set).expect("block");
        let sfd = signalfd(&set).expect("signalfd");
        // SAFETY: pthread_self and pthread_kill on our own live thread, with a signal blocked on
        // it, so it stays pending for the signalfd.
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR2) };
        let got = read_signal(sfd.as_fd());
        set_signal_mask(libc::SIG_SETMASK, &old).expect("restore");
        assert_eq!(got, Ok(Some(libc::SIGUSR2)));
    }
}
