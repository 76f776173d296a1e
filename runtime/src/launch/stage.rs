//! ④ The parent's side of a staged init (`plan::userns::Staged`), between the clone and the
//! `creating` record: the maps of its new user namespace when it asks for them, then, with a new
//! pid namespace, the pid of the container's pid 1 (the first process is reaped here).
use std::os::fd::BorrowedFd;

use super::maps::map_user_ns;
use super::{init_error, next_message, origin, LaunchError};
use crate::channel::{self, Message};
use crate::plan::userns::Staged;
use crate::plan::Plan;
use crate::sys;

/// Serve the staged init `first`; returns the pid of the container's init.
pub(super) fn serve(
    plan: &Plan,
    staged: &Staged,
    first: libc::pid_t,
    sock: BorrowedFd<'_>,
) -> Result<libc::pid_t, LaunchError> {
    let mut buf = [0u8; channel::MSG_MAX];
    if let Some(maps) = plan.user.as_ref().filter(|_| staged.new_user) {
        await_ask(plan, first, sock)?;
        map_user_ns(plan, maps, first, sock)?;
    }
    if !staged.new_pid {
        return Ok(first);
    }
    let n = next_message(sock, &mut buf, None, first, "creating")?;
    let Some(pid) = channel::staged_pid(&buf[..n]) else {
        return Err(unexpected(plan, &buf[..n]));
    };
    // The first process exits once it has said this.
    let _ = sys::waitpid(first, 0);
    Ok(pid)
}

/// Wait until the init `pid` asks for its maps (`U`).
pub(super) fn await_ask(
    plan: &Plan,
    pid: libc::pid_t,
    sock: BorrowedFd<'_>,
) -> Result<(), LaunchError> {
    let mut buf = [0u8; channel::MSG_MAX];
    let n = next_message(sock, &mut buf, None, pid, "creating")?;
    if buf[..n] != *b"U" {
        return Err(unexpected(plan, &buf[..n]));
    }
    Ok(())
}

/// The init's error, or end-of-file (it died), or a message out of turn.
fn unexpected(plan: &Plan, msg: &[u8]) -> LaunchError {
    match channel::decode(msg) {
        Some(Message::Error {
            step,
            errno,
            at,
            detail,
        }) => init_error(step, errno, detail, origin(plan, step, at)),
        None => LaunchError::Died(0),
        Some(_) => LaunchError::Parent {
            call: "staged init: message out of turn",
            source: sys::Errno::EPROTO,
        },
    }
}
