//! ⑤⑥ The child of an `exec`: the same first and last steps as the init (`super::process`), and
//! between them it joins the running container instead of building one: its namespaces (the pid
//! namespace was joined by the parent around the fork) and its root.
//!
//! Never returns: it ends in `execve`, or reports the failed step on the channel and exits. The
//! channel is close-on-exec, so the parent reads end-of-file once the process runs.
use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::channel::{self, Fail, Step};
use crate::plan::ProcessPlan;
use crate::procfs::HostProc;
use crate::seccomp::Program;
use crate::stdio::ChildFds;
use crate::sys;

use super::process::{self, fail, Become};

/// Everything an exec child needs, opened by the parent before the fork.
#[derive(Debug)]
pub(crate) struct ExecPlan {
    /// The process to become.
    pub process: ProcessPlan,
    /// The container's namespaces that differ from ours, with their `CLONE_NEW*` type, in setns
    /// order (mount last).
    pub namespaces: Vec<(OwnedFd, libc::c_int)>,
    /// The container's root (`/proc/<pid>/root`), whether it was entered with pivot_root or
    /// chroot.
    pub root: OwnedFd,
    /// Fds 3..3+N the process keeps (`LISTEN_FDS` and `--preserve-fds`).
    pub preserve_fds: u32,
    /// The container's `linux.seccomp`, compiled.
    pub seccomp: Option<Program>,
}

/// Exit code of an exec child that failed (its reason went to the parent).
const EXEC_FAILED: i32 = 255;

/// The exec child's life: set up, load seccomp, `execve`.
pub(crate) fn run(
    plan: &ExecPlan,
    sock: BorrowedFd<'_>,
    fds: ChildFds,
    join: &crate::join::Join,
) -> ! {
    let chan = channel::ChildSide::new(sock, None, true);
    let f = match setup(plan, &chan, fds, join) {
        // Seccomp last (unless it had to be loaded before the capabilities were dropped).
        Ok((exe, early_listener)) => match super::seccomp::load_last(
            plan.seccomp.as_ref(),
            plan.process.seccomp_before_identity(),
            early_listener,
            sock,
        ) {
            Err(f) => f,
            Ok(()) => {
                let e = sys::execve(exe, &plan.process.argv_ptrs, &plan.process.env_ptrs);
                fail(Step::Exec, e, plan.process.arg0.to_bytes())
            }
        },
        Err(f) => f,
    };
    chan.fail(&f);
    sys::exit_now(EXEC_FAILED);
}

/// Every step before seccomp: returns `args[0]` resolved and the listener of a filter loaded
/// during the identity switch.
fn setup<'a>(
    plan: &'a ExecPlan,
    chan: &channel::ChildSide<'_>,
    fds: ChildFds,
    join: &crate::join::Join,
) -> Result<(&'a CStr, Option<OwnedFd>), Fail<'a>> {
    let lsm_fds = process::enter(
        &plan.process,
        chan,
        fds.stdio,
        join,
        &mut HostProc::default(),
    )?;
    let ns = &plan.namespaces;
    super::stage::join_in_order(ns.len(), |i| ns.get(i).map(|(fd, f)| (fd.as_fd(), *f)))
        .map_err(|(_, e)| fail(Step::JoinNamespace, e, b"namespace"))?;
    // The container's root, whether it was entered with pivot_root or chroot.
    sys::fchdir(plan.root.as_fd()).map_err(|e| fail(Step::Chroot, e, b"/"))?;
    sys::chroot(c".").map_err(|e| fail(Step::Chroot, e, b"/"))?;
    sys::chdir(c"/").map_err(|e| fail(Step::Chroot, e, b"/"))?;
    let b = Become {
        root: plan.root.as_fd(),
        console: fds.console,
        bind_console: false,
        lsm_fds,
        keep: [chan.sock().as_raw_fd(), -1, -1, -1],
        preserve_fds: plan.preserve_fds,
        keyring: None,
        seccomp: plan.seccomp.as_ref(),
    };
    let (exe, listener) = process::become_process(&plan.process, b, chan.sock())?;
    // Run no user code before the parent has put us in the container's cgroup.
    if join.is_deferred() {
        // Paused container: tell the parent we are ready; it joins us to the frozen cgroup and
        // exits, so stop dying with it first.
        let _ = sys::prctl(libc::PR_SET_PDEATHSIG, 0, 0);
        channel::send_ready(chan.sock(), None).map_err(|e| fail(Step::JoinCgroup, e, b"cgroup"))?;
    }
    chan.wait_joined()
        .map_err(|e| fail(Step::JoinCgroup, e, b"cgroup"))?;
    // The exec'd process must not die with `sangja exec -d`, which exits right away.
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, 0, 0);
    Ok((exe, listener))
}
