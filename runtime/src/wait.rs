//! Waiting for a foreground container (`run` without `--detach`) while forwarding signals to it.
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use crate::sys::{self, Errno};

/// Signals a foreground `run` forwards to the container instead of dying from them.
const FORWARDED: [libc::c_int; 7] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a zeroed sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

/// Convert a wait status to a shell-style exit code.
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// Block the forwarded signals, then poll a signalfd and a pidfd of `pid` (a child of ours):
/// forward each signal, reap the child when it exits. Restores the signal mask before returning.
pub fn forward_until_exit(pid: libc::pid_t) -> Result<i32, Errno> {
    let set = sigset(&FORWARDED);
    let mut old: libc::sigset_t = sigset(&[]);
    // SAFETY: set and old are valid sigset_t values.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old) };
    let result = forward_loop(pid, &set);
    // SAFETY: restoring the mask saved above.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    result
}

fn forward_loop(pid: libc::pid_t, set: &libc::sigset_t) -> Result<i32, Errno> {
    // SAFETY: set is a valid sigset_t; -1 asks for a new signalfd.
    let sfd = unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) };
    if sfd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: signalfd returned a new fd nothing else owns.
    let sfd = unsafe { OwnedFd::from_raw_fd(sfd) };
    // Our child cannot have been reaped by anyone else, so the pidfd always refers to it.
    let pidfd = sys::pidfd_open(pid)?;
    loop {
        let mut fds = [
            libc::pollfd {
                fd: sfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is an array of two valid pollfd.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            let e = Errno::last();
            if e == Errno::EINTR {
                continue;
            }
            return Err(e);
        }
        if fds[0].revents & libc::POLLIN != 0 {
            // SAFETY: an all-zero signalfd_siginfo is valid to be overwritten.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            // SAFETY: info is valid for its size.
            let n = unsafe {
                libc::read(
                    sfd.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    std::mem::size_of::<libc::signalfd_siginfo>(),
                )
            };
            if n > 0 {
                let _ = sys::pidfd_send_signal(pidfd.as_fd(), info.ssi_signo as libc::c_int);
            }
        }
        if fds[1].revents & libc::POLLIN != 0 {
            let (_, status) = sys::waitpid(pid, 0)?;
            return Ok(exit_code(status));
        }
    }
}
