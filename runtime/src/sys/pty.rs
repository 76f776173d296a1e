//! Terminals: a pty pair opened inside the container's root, the controlling terminal and
//! stdio of the init, `ONLCR`, window sizes; and, for a foreground `run` or `exec` in the caller,
//! its own terminal in raw mode and the window size mirrored onto the container's pty.
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::{check, fstat, openat2, SysResult, WRONG_OBJECT};

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

/// The process's stdio, fds 0-2, borrowed (`[stdin, stdout, stderr]`).
pub fn stdio() -> [BorrowedFd<'static>; 3] {
    // SAFETY: fds 0-2 stay open for the life of the process by convention, the one std's own
    // stdin, stdout and stderr rely on: the runtime never closes them (it only replaces them with
    // dup2, which keeps each number open; `close_from_except` starts at 3). The borrows are for
    // syscalls on them (read, write, poll, ioctl, fstat, fchown), never to take ownership.
    unsafe {
        [
            BorrowedFd::borrow_raw(0),
            BorrowedFd::borrow_raw(1),
            BorrowedFd::borrow_raw(2),
        ]
    }
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

/// Copy the window size of the terminal `from` to `to` (a foreground client's terminal to the
/// container's pty).
pub fn copy_winsize(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: winsize is plain integers: all zeros is a valid value.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize through the pointer, which is valid for it.
    check(unsafe { libc::ioctl(from.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) })?;
    // SAFETY: TIOCSWINSZ reads one winsize through the pointer, which is valid for it.
    check(unsafe { libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &ws) }).map(drop)
}

/// Our stdin's terminal in raw mode for the life of the value (its attributes restored on drop).
#[derive(Debug)]
pub struct RawTerminal(libc::termios);

impl RawTerminal {
    /// Put fd 0 in raw mode; `None` (and nothing changed) when it is not a terminal.
    pub fn enter() -> Option<RawTerminal> {
        // SAFETY: termios is plain integers: all zeros is a valid value for tcgetattr to overwrite.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: saved is a valid out-pointer; fails harmlessly when stdin is not a tty.
        if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        // SAFETY: raw is a valid termios, which cfmakeraw edits and tcsetattr reads.
        unsafe {
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(0, libc::TCSANOW, &raw);
        }
        Some(RawTerminal(saved))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes read in `enter`, a valid termios.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.0) };
    }
}
