//! ⑤⑥ The steps every child runs, the container's init and an `exec` child alike: the first ones
//! ([`enter`]: die with the parent, the caller's stdio, not dumpable, into the cgroup, the LSM
//! files opened) and the last ones before the seccomp load and `execve` ([`become_process`]:
//! console, LSM labels, cwd, every other fd closed, identity, `args[0]` resolved).
//!
//! What lies between differs: the init builds the container (namespaces, mounts, pivot_root);
//! an exec child joins the running one (`super::exec`). Like the rest of the init, no step here
//! allocates, locks or logs.
use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::channel::{ChildSide, Fail, Step};
use crate::plan::ProcessPlan;
use crate::procfs::HostProc;
use crate::seccomp::Program;
use crate::stdio::ChildStdio;
use crate::sys::{self, Errno};

use super::identity;

/// Exit code of a child that failed before exec.
pub(crate) const SETUP_FAILED: i32 = 1;

/// The child's first steps, before it joins or builds anything. Returns the LSM attribute files,
/// opened now while `/proc` is still the host's (see `crate::lsm`); `host_proc` stays usable for
/// the init's other `/proc/self` writes.
pub(crate) fn enter<'a>(
    p: &'a ProcessPlan,
    chan: &ChildSide<'_>,
    stdio: ChildStdio,
    join: &crate::join::Join,
    host_proc: &mut HostProc,
) -> Result<[Option<OwnedFd>; 3], Fail<'a>> {
    // Die with the parent while it still waits for us (a killed `sangja create` leaves nothing).
    die_with_parent(chan.sock());
    // The caller's stdio first: every later step may write to fd 2 (hooks inherit it).
    stdio.install().map_err(|e| fail(Step::Fds, e, b"stdio"))?;
    // Until execve, this process is the sangja binary: keep /proc/<pid>/exe and friends out of
    // reach of anything already in the namespaces we join (execve resets it).
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0, 0);
    // Into the container's cgroup before anything else (see `join`): accounted from the start,
    // and a cgroup namespace unshared later is rooted there.
    join.join_self()
        .map_err(|e| fail(Step::JoinCgroup, e, b"tasks"))?;
    crate::lsm::open(&p.lsm, host_proc)
}

/// What [`become_process`] needs besides the process plan (`'a`: borrowed from the plan, `'r`:
/// the root fd's owner).
pub(crate) struct Become<'a, 'r> {
    /// The container's root: `process.cwd` is resolved beneath it. Closed by the close step like
    /// every fd not in `keep`, so the caller must not close it again.
    pub root: BorrowedFd<'r>,
    /// Where the pty master goes, when the process has a terminal.
    pub console: Option<OwnedFd>,
    /// Also bind the pty onto `/dev/console` (the init; not an exec child).
    pub bind_console: bool,
    /// The LSM attribute files [`enter`] opened.
    pub lsm_fds: [Option<OwnedFd>; 3],
    /// The caller's fds that survive the close step (close-on-exec; -1: none), besides stdio,
    /// the preserved ones and the cwd.
    pub keep: [RawFd; 4],
    /// Fds 3..3+N also survive (`LISTEN_FDS` and `--preserve-fds`).
    pub preserve_fds: u32,
    /// Join a new session keyring of this name.
    pub keyring: Option<&'a CStr>,
    /// The seccomp filter, loaded during the identity switch when it must be (see
    /// `super::seccomp`).
    pub seccomp: Option<&'a Program>,
}

/// The child's last steps before seccomp and `execve`: console, LSM labels, cwd, close, identity.
/// Returns `args[0]` resolved and the listener of a filter the identity switch loaded.
pub(crate) fn become_process<'a>(
    p: &'a ProcessPlan,
    b: Become<'a, '_>,
    sock: BorrowedFd<'_>,
) -> Result<(&'a CStr, Option<OwnedFd>), Fail<'a>> {
    if let Some(console) = b.console {
        crate::console::setup(console.as_fd(), p.console_size, b.root, b.bind_console)?;
    }
    // Profile and labels for the next execve, before the identity switch and seccomp, as runc;
    // in the init before `Ready`, so that a profile that is not loaded fails `create`.
    crate::lsm::apply(&p.lsm, b.lsm_fds)?;
    let cwd = identity::open_cwd(p, b.root)?;
    // Close every fd but stdio, the preserved ones, the caller's and the cwd (all close-on-exec):
    // before the cwd is entered, so that no runtime fd (the root, a namespace, a cgroup) can serve
    // as a way out of the root as `/proc/self/fd/N` (CVE-2024-21626), and before a seccomp
    // filter that may deny close_range is loaded.
    let [a, c, d, e] = b.keep;
    sys::close_from_except(3 + b.preserve_fds as RawFd, &[a, c, d, e, cwd.as_raw_fd()])
        .map_err(|e| fail(Step::Fds, e, b"3"))?;
    let listener = identity::apply(p, b.keyring, b.seccomp, cwd.as_fd())?;
    drop(cwd);
    // A change of uid or gid cleared the parent-death signal: set it again.
    die_with_parent(sock);
    let exe = identity::find_executable(p)?;
    sys::reset_signals();
    Ok((exe, listener))
}

/// Get SIGKILL when the parent dies, and exit now if it died already: the signal only covers a
/// death after the `prctl`, and a parent killed between our clone and it would leave us running.
/// The parent holds the only other end of `sock`, so a hang-up there means it is gone. (A
/// seccomp filter that denies either call leaves the signal as it was; nothing else fails.)
pub(crate) fn die_with_parent(sock: BorrowedFd<'_>) {
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0);
    if sys::poll_one(sock, 0, 0).unwrap_or(false) {
        sys::exit_now(SETUP_FAILED);
    }
}

/// A failure of `step` on `detail`, from no plan entry.
pub(crate) fn fail(step: Step, errno: Errno, detail: &[u8]) -> Fail<'_> {
    Fail {
        step,
        errno: errno as i32,
        detail,
        at: Fail::NOWHERE,
    }
}
