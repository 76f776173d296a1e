//! ⑤ The namespaces of a staged init (`plan::userns::Staged`): a user namespace beside joined
//! ones, built by the init in runc's order, since the clone could make none of them. Before
//! [`join`], the init is in the runtime's namespaces with the host's root ids; after
//! [`unshare_rest`], it is (or its child is) in every namespace of the container, as the
//! container's root.
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::process::{die_with_parent, fail};
use crate::channel::{self, ChildSide, Fail, Step};
use crate::plan::Plan;
use crate::sys::{self, Forked};

/// Most namespaces a container joins by path (one per type but pid, which the parent joins).
const MAX_JOINS: usize = 8;

/// The joins (see [`join_in_order`]); with a new user namespace, then the new one, mapped by the
/// parent on request.
pub(super) fn join<'a>(plan: &'a Plan, chan: &ChildSide<'_>) -> Result<(), Fail<'a>> {
    let Some(staged) = &plan.staged else {
        return Ok(());
    };
    // Every path opened first, in the runtime's mount namespace (one of them may be joined).
    const NONE: Option<OwnedFd> = None;
    let mut fds = [NONE; MAX_JOINS];
    for (i, ns) in plan.join.iter().enumerate().take(MAX_JOINS) {
        let fail = |e| fail(Step::JoinNamespace, e, ns.path.to_bytes()).at(i);
        fds[i] = Some(sys::open(&ns.path, libc::O_RDONLY, 0).map_err(fail)?);
    }
    let get = |i: usize| Some((fds.get(i)?.as_ref()?.as_fd(), plan.join.get(i)?.nstype));
    join_in_order(plan.join.len(), get).map_err(|(i, e)| {
        let path = plan
            .join
            .get(i)
            .map_or(&b"namespace"[..], |j| j.path.to_bytes());
        fail(Step::JoinNamespace, e, path).at(i)
    })?;
    if staged.new_user {
        let failed = |e| fail(Step::UserNamespace, e, b"user");
        sys::unshare(libc::CLONE_NEWUSER).map_err(failed)?;
        super::await_maps(plan, chan).map_err(failed)?;
    }
    Ok(())
}

/// After the init became the user namespace's root: the namespaces it owns, unshared; a new pid
/// namespace last, entered by a second fork. The child (the runtime's child too, by
/// `CLONE_PARENT`) returns and goes on as the container's pid 1; this process reports the child's
/// pid and exits.
pub(super) fn unshare_rest<'a>(plan: &'a Plan, chan: &ChildSide<'_>) -> Result<(), Fail<'a>> {
    let Some(staged) = &plan.staged else {
        return Ok(());
    };
    let failed = |what| move |e| fail(Step::UnshareNamespaces, e, what);
    if staged.unshare != 0 {
        sys::unshare(staged.unshare).map_err(failed(b"unshare"))?;
    }
    if !staged.new_pid {
        return Ok(());
    }
    sys::unshare(libc::CLONE_NEWPID).map_err(failed(b"pid"))?;
    match sys::clone_fork(libc::CLONE_PARENT as u64).map_err(failed(b"fork"))? {
        // A parent-death signal is not inherited: set it again.
        Forked::Child => {
            die_with_parent(chan.sock());
            Ok(())
        }
        Forked::Parent(pid) => {
            let code = match channel::send_pid(chan.sock(), pid) {
                Ok(()) => 0,
                Err(_) => super::SETUP_FAILED,
            };
            sys::exit_now(code)
        }
    }
}

/// `setns` into namespaces `0..n` (`get(i)`: the fd and its type) as runc 1.2 does: each one we
/// may join from here first (the host's root may join any; a namespace joined by path may belong
/// to a user namespace above the container's), then the user namespace, then those that refused
/// us before it (`EPERM`: owned by it). The init and an exec child share it. The error names the
/// index that failed.
pub(super) fn join_in_order<'f>(
    n: usize,
    get: impl Fn(usize) -> Option<(BorrowedFd<'f>, libc::c_int)>,
) -> Result<(), (usize, sys::Errno)> {
    // Bit i: namespace i refused us before the user namespace.
    let mut deferred: u32 = 0;
    for i in 0..n {
        let Some((fd, flag)) = get(i).filter(|(_, f)| *f != libc::CLONE_NEWUSER) else {
            continue;
        };
        match sys::setns(fd, flag) {
            Ok(()) => {}
            Err(sys::Errno::EPERM) if i < 32 => deferred |= 1 << i,
            Err(e) => return Err((i, e)),
        }
    }
    for i in 0..n {
        if let Some((fd, flag)) = get(i).filter(|(_, f)| *f == libc::CLONE_NEWUSER) {
            sys::setns(fd, flag).map_err(|e| (i, e))?;
        }
    }
    for i in (0..n).filter(|&i| i < 32 && deferred & (1 << i) != 0) {
        if let Some((fd, flag)) = get(i) {
            sys::setns(fd, flag).map_err(|e| (i, e))?;
        }
    }
    Ok(())
}
