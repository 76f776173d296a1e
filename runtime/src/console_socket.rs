//! Terminals, the parent's side: connect to `--console-socket` before the clone, or make the
//! socket pair through which a foreground `run` keeps the pty master itself, and receive it.
//! The child's side is crate::console.
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::error::{Error, Result};
use crate::sys;

/// Connect to the console socket (parent side, before clone: the path is a host path).
pub fn connect(path: &Path) -> Result<OwnedFd> {
    UnixStream::connect(path)
        .map(OwnedFd::from)
        .map_err(|source| Error::Sys {
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
pub fn pair() -> Result<(OwnedFd, OwnedFd)> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|source| Error::Sys {
            call: "open",
            path: "/dev/tty".into(),
            source,
        })?;
    UnixStream::pair()
        .map(|(a, b)| (OwnedFd::from(a), OwnedFd::from(b)))
        .map_err(|source| Error::Sys {
            call: "socketpair",
            path: Default::default(),
            source,
        })
}

/// Receive the pty master the init sent on our end of [`pair`].
pub fn receive(sock: &OwnedFd) -> Result<OwnedFd> {
    sys::recv_fd(sock.as_fd()).map_err(|e| Error::Sys {
        call: "receive console",
        path: Default::default(),
        source: e.into(),
    })
}
