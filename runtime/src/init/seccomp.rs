//! ⑤⑥ Loading the seccomp filter `crate::seccomp` compiled, in the init or an exec child: raw
//! syscalls on the prepared program, no allocation.
//!
//! When: as late as possible, right after `start` released the init (before the startContainer
//! hooks, which run binaries from the container's image, and `execve`); for an exec child, just
//! before its `execve`. Two exceptions, both as runc:
//! - without `noNewPrivileges`, loading a filter needs CAP_SYS_ADMIN, so when the process's
//!   effective set lacks it the filter is loaded in the middle of the identity switch, before the
//!   capabilities are dropped (`ProcessPlan::seccomp_before_identity`, `identity::apply`);
//! - a profile with `SCMP_ACT_NOTIFY` is loaded by the init before it reports `Ready`, since
//!   `create` must hand the listener to the agent before it returns ([`load_notifying`]).
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::channel::{self, Fail, Step};
use crate::seccomp::Program;
use crate::sys::{self, Errno};

/// Load `prog` into the calling thread: `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`.
/// Returns the notification listener when the program notifies. Allocates nothing.
pub(crate) fn install(prog: &Program) -> Result<Option<OwnedFd>, Errno> {
    sys::seccomp_load_filter(prog.instructions(), prog.flags(), prog.notifies())
}

/// In the init, before `Ready`: load a notifying filter now (unless the identity switch loaded it
/// already: then `listener` is its listener) and hand the listener to the parent over `sock`.
/// Nothing for a filter that does not notify (it is loaded after `start`).
pub(crate) fn load_notifying(
    prog: Option<&Program>,
    mut listener: Option<OwnedFd>,
    sock: BorrowedFd<'_>,
) -> Result<(), Fail<'static>> {
    let Some(prog) = prog.filter(|p| p.notifies()) else {
        return Ok(());
    };
    if listener.is_none() {
        listener = install(prog).map_err(|e| fail(e, b"linux.seccomp"))?;
    }
    match listener {
        Some(l) => channel::send_listener(sock, l.as_fd()).map_err(|e| fail(e, b"listener")),
        None => Ok(()),
    }
}

/// In an exec child, the last step before `execve`: load the filter unless it was loaded early
/// (`loaded_early`: then `early_listener` is its listener), and hand a listener to the parent over
/// `sock`.
pub(crate) fn load_last(
    prog: Option<&Program>,
    loaded_early: bool,
    early_listener: Option<OwnedFd>,
    sock: BorrowedFd<'_>,
) -> Result<(), Fail<'static>> {
    let Some(prog) = prog else {
        return Ok(());
    };
    let listener = if loaded_early {
        early_listener
    } else {
        install(prog).map_err(|e| fail(e, b"linux.seccomp"))?
    };
    match listener {
        Some(l) => channel::send_listener(sock, l.as_fd()).map_err(|e| fail(e, b"listener")),
        None => Ok(()),
    }
}

fn fail(errno: Errno, detail: &'static [u8]) -> Fail<'static> {
    Fail {
        step: Step::Seccomp,
        errno: errno as i32,
        detail,
        at: Fail::NOWHERE,
    }
}
