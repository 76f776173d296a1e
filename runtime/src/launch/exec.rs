//! ④ Parent side of `exec`: one fork (the pid namespace joined around it: setns on a pid
//! namespace only affects children), the cgroup join the child may be owed, then end-of-file on
//! the channel (the child exec'd: the channel is close-on-exec) or its error. The child's side is
//! `crate::init::exec`.
use std::os::fd::{AsFd, BorrowedFd};

use crate::channel::{self, Message};
use crate::init::exec::ExecPlan;
use crate::join::{Join, PidNs};
use crate::stdio::ChildFds;
use crate::sys::{self, Errno, Forked};

use super::{init_error, next_message, reap_on_error, LaunchError};

/// Fork the exec child for `plan` and return its pid once it has exec'd (or, in a paused
/// container, once it waits in the frozen cgroup); on failure it has been killed and reaped.
pub(crate) fn spawn(
    plan: &ExecPlan,
    pid_ns: Option<PidNs>,
    fds: ChildFds,
    join: &Join,
) -> Result<libc::pid_t, LaunchError> {
    let (parent_sock, child_sock) =
        sys::seqpacket_pair().map_err(|source| LaunchError::Parent {
            call: "socketpair",
            source,
        })?;
    // The clone's contract (`sys::clone_fork`): the child only runs `init::exec::run`, which uses
    // raw syscalls on prepared data and ends in execve or _exit: it allocates, locks and logs
    // nothing, so no lock another thread of the caller held at the fork is ever taken.
    let (pid, v2_pending) = match join.fork(0, pid_ns.as_ref()) {
        Ok((Forked::Child, _)) => {
            drop(parent_sock);
            crate::init::exec::run(plan, child_sock.as_fd(), fds, join)
        }
        Ok((Forked::Parent(pid), pending)) => (pid, pending),
        Err((call, source)) => return Err(LaunchError::Parent { call, source }),
    };
    drop(child_sock);
    drop(fds);
    let result = await_exec(plan, join, parent_sock.as_fd(), pid, v2_pending);
    reap_on_error(pid, result).map(|()| pid)
}

/// The parent's side of the exec child's set-up: the cgroup join it may owe, then the child's
/// last word (none: it exec'd).
fn await_exec(
    plan: &ExecPlan,
    join: &Join,
    sock: BorrowedFd<'_>,
    pid: libc::pid_t,
    v2_pending: bool,
) -> Result<(), LaunchError> {
    let mut buf = [0u8; channel::MSG_MAX];
    // The child joins its v1 hierarchies itself and was born in its v2 cgroup (see `join`); the
    // parent only steps in when the kernel refused CLONE_INTO_CGROUP. exec's process comes from
    // flags or a process file: no config field to name.
    if v2_pending {
        super::join_v2_late(join, sock, pid, &mut buf, &|_, _| None)?;
    }
    if join.is_deferred() {
        return finish_paused(sock, pid, join);
    }
    let _ = channel::send_joined(sock);
    let n = next_message(sock, &mut buf, plan.seccomp.as_ref(), pid, "running")?;
    match channel::decode(&buf[..n]) {
        None | Some(Message::Ready) => Ok(()),
        Some(Message::NeedHooks) => Err(protocol_error()),
        Some(Message::Error {
            step,
            errno,
            detail,
            ..
        }) => Err(init_error(step, errno, detail, None)),
    }
}

/// `exec --ignore-paused` into a paused container: once the child is ready to exec, put it in
/// the frozen cgroup and return; it execs when the container resumes (so a failure of its exec
/// itself cannot be reported here).
fn finish_paused(sock: BorrowedFd<'_>, pid: libc::pid_t, join: &Join) -> Result<(), LaunchError> {
    let mut buf = [0u8; channel::MSG_MAX];
    let n = sys::read(sock, &mut buf).unwrap_or(0);
    match channel::decode(&buf[..n]) {
        Some(Message::Ready) => {}
        Some(Message::Error {
            step,
            errno,
            detail,
            ..
        }) => return Err(init_error(step, errno, detail, None)),
        _ => return Err(protocol_error()),
    }
    join.join_deferred(pid)
        .map_err(|source| LaunchError::Parent {
            call: "write cgroup.procs",
            source,
        })?;
    let _ = channel::send_joined(sock);
    Ok(())
}

fn protocol_error() -> LaunchError {
    LaunchError::Parent {
        call: "read exec child",
        source: Errno::EPROTO,
    }
}
