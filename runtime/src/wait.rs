//! Waiting for a foreground container (`run` without `--detach`) while forwarding signals to it.
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

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
    let set = sigset(&FORWARDED);
    let mut old: libc::sigset_t = sigset(&[]);
    // SAFETY: set and old are valid sigset_t values.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old) };
    let raw = console.and_then(|_| RawTerminal::enter());
    let result = forward_loop(pid, &set, console);
    drop(raw);
    // SAFETY: restoring the mask saved above.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    result
}

/// Our stdin terminal in raw mode for the life of the value (restored on drop).
struct RawTerminal(libc::termios);

impl RawTerminal {
    fn enter() -> Option<RawTerminal> {
        // SAFETY: an all-zero termios is valid to be overwritten by tcgetattr.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: saved is a valid out-pointer; fails harmlessly when stdin is not a tty.
        if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        // SAFETY: raw is a valid termios.
        unsafe {
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(0, libc::TCSANOW, &raw);
        }
        Some(RawTerminal(saved))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes read in `enter`.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.0) };
    }
}

/// Copy our terminal's window size to the container's pty.
fn mirror_winsize(master: BorrowedFd<'_>) {
    // SAFETY: an all-zero winsize is valid; TIOCGWINSZ/TIOCSWINSZ take a pointer to one.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
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

fn forward_loop(
    pid: libc::pid_t,
    set: &libc::sigset_t,
    console: Option<BorrowedFd<'_>>,
) -> Result<i32, Errno> {
    // SAFETY: set is a valid sigset_t; -1 asks for a new signalfd.
    let sfd = unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) };
    if sfd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: signalfd returned a new fd nothing else owns.
    let sfd = unsafe { OwnedFd::from_raw_fd(sfd) };
    // Our child cannot have been reaped by anyone else, so the pidfd always refers to it.
    let pidfd = sys::pidfd_open(pid)?;
    // SAFETY: fds 0 and 1 are our stdio for the whole call; borrowed only.
    let (stdin, stdout) = unsafe { (BorrowedFd::borrow_raw(0), BorrowedFd::borrow_raw(1)) };
    let mut stdin_open = console.is_some();
    let mut master_open = console.is_some();
    if let Some(m) = console {
        mirror_winsize(m);
    }
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
            libc::pollfd {
                fd: if stdin_open { 0 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: match console {
                    Some(m) if master_open => m.as_raw_fd(),
                    _ => -1,
                },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is an array of four valid pollfd (negative fds are ignored by poll).
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
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
                let sig = info.ssi_signo as libc::c_int;
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
