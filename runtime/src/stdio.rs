//! The process's stdin, stdout and stderr as fds the caller gives ([`Stdio`]), instead of the
//! caller's own fds 0–2 (which a process otherwise inherits, as with runc).
//!
//! Before the clone the parent duplicates each given fd above every fd the process keeps
//! (`3 + LISTEN_FDS + preserve_fds`), close-on-exec: so a caller's fd 1 given as stdin cannot be
//! overwritten by an earlier `dup2`, and the caller keeps its own fds. The child `dup2`s them onto
//! 0–2 first thing (no allocation: the fds are already in its table), and the copies are closed
//! with every other fd it does not pass on.
use std::os::fd::{AsFd, IntoRawFd, OwnedFd};

use crate::sys::{self, Errno};

/// Fds to give the process as its stdin, stdout and stderr; `None` leaves the caller's own fd
/// (0, 1 or 2) in place, as runc does. The fds stay the caller's: the container gets copies, so
/// close yours of a pipe's write end after `create` to see end-of-file when the process exits.
#[derive(Debug, Default)]
pub struct Stdio {
    /// Becomes fd 0.
    pub stdin: Option<OwnedFd>,
    /// Becomes fd 1.
    pub stdout: Option<OwnedFd>,
    /// Becomes fd 2.
    pub stderr: Option<OwnedFd>,
}

impl Stdio {
    /// Is any fd given?
    pub fn is_set(&self) -> bool {
        self.stdin.is_some() || self.stdout.is_some() || self.stderr.is_some()
    }

    /// Refuse fds given for a `terminal` process (`process.terminal: true`): its stdio is its
    /// terminal. The error is the usage message, for the caller's [`crate::Error::Usage`].
    pub(crate) fn check_terminal(&self, terminal: bool) -> Result<(), &'static str> {
        if terminal && self.is_set() {
            return Err("process.terminal: the process's stdio is its terminal: give no stdio fds");
        }
        Ok(())
    }

    /// The parent's half: copies above `keep` (the fds the process keeps, 0..keep), close-on-exec.
    pub(crate) fn for_child(&self, keep: u32) -> Result<ChildStdio, Errno> {
        let min = keep.max(3) as i32;
        let dup = |fd: &Option<OwnedFd>| {
            fd.as_ref()
                .map(|fd| sys::dup_above(fd.as_fd(), min))
                .transpose()
        };
        Ok(ChildStdio([
            dup(&self.stdin)?,
            dup(&self.stdout)?,
            dup(&self.stderr)?,
        ]))
    }
}

/// What a child (the init, or an exec'd process) takes from its parent besides its plan: its
/// stdio copies and the pty's way out. The parent drops its own once the child is cloned.
#[derive(Debug, Default)]
pub(crate) struct ChildFds {
    /// Where the pty master goes (`--console-socket`, or the parent's end for a foreground run).
    pub console: Option<OwnedFd>,
    /// The caller's stdio, for fds 0–2.
    pub stdio: ChildStdio,
}

/// The copies a child installs as its fds 0–2 (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct ChildStdio([Option<OwnedFd>; 3]);

impl ChildStdio {
    /// In the child: `dup2` each copy onto its number (the result is not close-on-exec). The
    /// copies become plain numbers, closed with every fd the process does not keep
    /// (`close_from_except`): never dropped here, which would close them a second time.
    /// Async-signal-safe.
    pub(crate) fn install(self) -> Result<(), Errno> {
        for (target, fd) in self.0.into_iter().enumerate() {
            if let Some(fd) = fd {
                sys::dup2_raw(fd.into_raw_fd(), target as i32)?;
            }
        }
        Ok(())
    }

    /// The fd numbers of the copies (for tests and the close step).
    #[cfg(test)]
    fn raw(&self) -> [i32; 3] {
        use std::os::fd::AsRawFd;
        let r = |f: &Option<OwnedFd>| f.as_ref().map_or(-1, |f| f.as_raw_fd());
        [r(&self.0[0]), r(&self.0[1]), r(&self.0[2])]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn copies_go_above_the_kept_fds_and_leave_the_callers() {
        let (r, w) = sys::pipe().expect("pipe");
        let (r_raw, w_raw) = (r.as_raw_fd(), w.as_raw_fd());
        let stdio = Stdio {
            stdin: Some(r),
            stdout: Some(w),
            stderr: None,
        };
        let child = stdio.for_child(40).expect("dup");
        let [i, o, e] = child.raw();
        assert!(i >= 40 && o >= 40, "{i} {o}");
        assert_eq!(e, -1);
        assert_ne!(i, r_raw);
        assert_ne!(o, w_raw);
        drop(child);
        // The caller's fds are still open.
        assert!(sys::write(stdio.stdout.as_ref().expect("w").as_fd(), b"x").is_ok());
    }

    #[test]
    fn a_terminal_takes_no_stdio_fds() {
        let (r, _w) = sys::pipe().expect("pipe");
        let given = Stdio {
            stdin: Some(r),
            ..Stdio::default()
        };
        assert!(given.check_terminal(false).is_ok());
        assert!(Stdio::default().check_terminal(true).is_ok());
        let e = given.check_terminal(true).map_err(|e| e.to_string());
        assert_eq!(
            e,
            Err("process.terminal: the process's stdio is its terminal: give no stdio fds".into())
        );
    }
}
