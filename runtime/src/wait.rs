//! Waiting for a foreground container (`run` without `--detach`) while forwarding signals to it.
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

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

/// Wait for our child `pid` to exit, reap it, and return its shell-style exit code.
pub fn reap(pid: libc::pid_t) -> Result<i32, Errno> {
    loop {
        match sys::waitpid(pid, 0) {
            Ok((_, status)) => return Ok(exit_code(status)),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
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
/// forward each signal, reap the child when it exits. With `console` (the master of the
/// process's pty, for a foreground `run` with `terminal: true`), also proxy our stdin to it and
/// its output to our stdout, with our terminal in raw mode and its window size mirrored.
/// Restores the signal mask (and the terminal) before returning.
pub fn forward_until_exit(pid: libc::pid_t, console: Option<BorrowedFd<'_>>) -> Result<i32, Errno> {
    let set = sys::sigset(&FORWARDED);
    let old = sys::set_signal_mask(libc::SIG_BLOCK, &set).unwrap_or_else(|_| sys::sigset(&[]));
    let raw = console.and_then(|_| sys::RawTerminal::enter());
    let result = forward_loop(pid, &set, console);
    drop(raw);
    let _ = sys::set_signal_mask(libc::SIG_SETMASK, &old);
    result
}

/// Copy our terminal's window size to the container's pty.
fn mirror_winsize(master: BorrowedFd<'_>) {
    let [stdin, _, _] = sys::stdio();
    let _ = sys::copy_winsize(stdin, master);
}

/// Copy what `from` has to `to`; false at EOF or error (e.g. EIO once the pty's slave closed).
fn pump(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 8192];
    match sys::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                match sys::write(to, rest) {
                    Ok(w) => rest = &rest[w..],
                    Err(Errno::EINTR) => {}
                    Err(_) => return false,
                }
            }
            true
        }
    }
}

/// A `pollfd` waiting for input on `fd` (a negative `fd` is skipped by poll).
fn pollin(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

fn forward_loop(
    pid: libc::pid_t,
    set: &libc::sigset_t,
    console: Option<BorrowedFd<'_>>,
) -> Result<i32, Errno> {
    let sfd = sys::signalfd(set)?;
    // Our child cannot have been reaped by anyone else, so the pidfd always refers to it.
    let pidfd = sys::pidfd_open(pid)?;
    let [stdin, stdout, _] = sys::stdio();
    let mut stdin_open = console.is_some();
    let mut master_open = console.is_some();
    if let Some(m) = console {
        mirror_winsize(m);
    }
    loop {
        let mut fds = [
            pollin(sfd.as_raw_fd()),
            pollin(pidfd.as_raw_fd()),
            pollin(if stdin_open { stdin.as_raw_fd() } else { -1 }),
            pollin(match console {
                Some(m) if master_open => m.as_raw_fd(),
                _ => -1,
            }),
        ];
        match sys::poll(&mut fds, -1) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        if fds[0].revents & libc::POLLIN != 0 {
            if let Ok(Some(sig)) = sys::read_signal(sfd.as_fd()) {
                match console {
                    Some(m) if sig == libc::SIGWINCH => mirror_winsize(m),
                    _ => {
                        let _ = sys::pidfd_send_signal(pidfd.as_fd(), sig);
                    }
                }
            }
        }
        if let Some(m) = console {
            if fds[2].revents & (libc::POLLIN | libc::POLLHUP) != 0 && !pump(stdin, m) {
                stdin_open = false;
            }
            if fds[3].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
                && !pump(m, stdout)
            {
                master_open = false;
            }
        }
        if fds[1].revents & libc::POLLIN != 0 {
            // Whatever the process wrote last is still in the pty: drain it before reporting.
            if let Some(m) = console {
                while master_open && sys::poll_one(m, libc::POLLIN, 0).unwrap_or(false) {
                    master_open = pump(m, stdout);
                }
            }
            let (_, status) = sys::waitpid(pid, 0)?;
            return Ok(exit_code(status));
        }
    }
}
