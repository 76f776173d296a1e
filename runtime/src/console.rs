//! Terminals: the pty of a process with `terminal: true`, its master sent to `--console-socket`
//! in one `SCM_RIGHTS` message, exactly as runc does (containerd's shim and conmon receive it).
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::channel::Step;
use crate::init::Fail;
use crate::sys;

/// Connect to the console socket (parent side, before clone: the path is a host path).
pub fn connect(path: &Path) -> crate::Result<OwnedFd> {
    UnixStream::connect(path)
        .map(OwnedFd::from)
        .map_err(|source| crate::Error::Sys {
            call: "connect console socket",
            path: path.to_path_buf(),
            source,
        })
}

/// A socket pair standing in for `--console-socket` when sangja itself keeps the master (foreground
/// `run`): (our end, the init's end).
///
/// Like runc, this needs a controlling terminal to proxy to: without one (`/dev/tty` does not
/// open) it fails, and the caller undoes what it made.
pub fn pair() -> crate::Result<(OwnedFd, OwnedFd)> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|source| crate::Error::Sys {
            call: "open",
            path: "/dev/tty".into(),
            source,
        })?;
    UnixStream::pair()
        .map(|(a, b)| (OwnedFd::from(a), OwnedFd::from(b)))
        .map_err(|source| crate::Error::Sys {
            call: "socketpair",
            path: Default::default(),
            source,
        })
}

/// Receive the pty master the init sent on our end of [`pair`].
pub fn receive(sock: &OwnedFd) -> crate::Result<OwnedFd> {
    sys::recv_fd(sock.as_fd()).map_err(|e| crate::Error::Sys {
        call: "receive console",
        path: Default::default(),
        source: e.into(),
    })
}

/// In the container (after pivot_root, so the pty comes from its devpts): create the pty, send
/// the master, make the slave our controlling terminal and stdio.
pub fn setup(socket: BorrowedFd<'_>, size: Option<(u16, u16)>) -> Result<(), Fail<'static>> {
    let fail = |e: sys::Errno, what: &'static [u8]| Fail {
        step: Step::Console,
        errno: e as i32,
        detail: what,
    };
    let (master, slave) = sys::open_pty().map_err(|e| fail(e, b"/dev/ptmx"))?;
    if let Some((rows, cols)) = size {
        sys::set_winsize(master.as_fd(), rows, cols).map_err(|e| fail(e, b"consoleSize"))?;
    }
    sys::send_fd(socket, master.as_fd(), b"/dev/ptmx").map_err(|e| fail(e, b"console socket"))?;
    drop(master);
    sys::make_controlling_tty(slave.as_fd()).map_err(|e| fail(e, b"controlling terminal"))
}
