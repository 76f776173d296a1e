//! Putting a new process (the init, or an exec'd process) into its container's cgroup without
//! waiting for the kernel's global cgroup lock.
//!
//! Writing a pid to `cgroup.procs` takes `cgroup_threadgroup_rwsem` for writing, which waits for
//! an RCU grace period when the lock is cold: 5–20 ms per create on this machine kind, the
//! largest single cost of `create` on cgroup v1. Two paths avoid it:
//! - cgroup v2: `clone3(CLONE_INTO_CGROUP)` — the process is born in its cgroup;
//! - cgroup v1: the process moves *itself*, writing `0` to each hierarchy's `tasks` file. For a
//!   single thread moving itself the kernel skips the global lock (it cannot exit or exec under
//!   the writer). The init and the exec child are single-threaded at that point.
//!
//! If the kernel refuses `CLONE_INTO_CGROUP`, the parent falls back to writing `cgroup.procs`.
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::cgroups::{Cgroup, CgroupError};
use crate::sys::{self, Errno, Forked};

/// Pre-opened handles to join one cgroup.
#[derive(Debug, Default)]
pub struct Join {
    /// `tasks` of every v1 hierarchy, open for writing.
    tasks: Vec<OwnedFd>,
    /// The v2 cgroup directory (for `CLONE_INTO_CGROUP`).
    v2_dir: Option<OwnedFd>,
    /// Its `cgroup.procs`, for the fallback.
    v2_procs: Option<PathBuf>,
    /// Paused container (`exec --ignore-paused`): the frozen hierarchies' `cgroup.procs`, written
    /// by the parent only once the child is ready to exec (it would freeze mid-set-up otherwise).
    deferred: Vec<PathBuf>,
}

fn open_err(path: PathBuf) -> impl FnOnce(std::io::Error) -> CgroupError {
    move |source| CgroupError::Io {
        op: "open",
        path,
        source,
    }
}

/// A v1 hierarchy's `tasks` file, open for writing.
fn open_tasks(dir: &std::path::Path) -> Result<OwnedFd, CgroupError> {
    let p = dir.join("tasks");
    fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&p)
        .map(OwnedFd::from)
        .map_err(open_err(p))
}

/// A pid namespace to create a child in: ours (`pid_for_children`, to restore) and the target.
/// `setns` on a pid namespace only affects children, so the parent joins it around the fork and
/// no second fork is needed.
#[derive(Debug)]
pub struct PidNs {
    /// Our own `pid_for_children`.
    pub own: OwnedFd,
    /// The namespace the child is born in.
    pub target: OwnedFd,
}

impl Join {
    /// Open the handles for `cg` (before the clone).
    pub fn open(cg: &Cgroup) -> Result<Join, CgroupError> {
        let mut j = Join::default();
        for (controllers, dir) in &cg.dirs {
            if controllers.is_empty() {
                let d = fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
                    .open(dir)
                    .map_err(open_err(dir.clone()))?;
                j.v2_dir = Some(OwnedFd::from(d));
                j.v2_procs = Some(dir.join("cgroup.procs"));
            } else {
                j.tasks.push(open_tasks(dir)?);
            }
        }
        Ok(j)
    }

    /// Like [`Join::open`] for a paused container: the freezer (v1) and the v2 cgroup are joined
    /// last, by the parent, see [`Join::join_deferred`].
    pub fn open_paused(cg: &Cgroup) -> Result<Join, CgroupError> {
        let mut j = Join::default();
        for (controllers, dir) in &cg.dirs {
            let freezer = controllers.is_empty() || controllers.split(',').any(|c| c == "freezer");
            if freezer {
                j.deferred.push(dir.join("cgroup.procs"));
                continue;
            }
            j.tasks.push(open_tasks(dir)?);
        }
        Ok(j)
    }

    /// Some joins wait for the child to be ready (see [`Join::open_paused`]).
    pub fn is_deferred(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Parent side for a paused container: join the frozen hierarchies (the child freezes there).
    pub fn join_deferred(&self, pid: libc::pid_t) -> Result<(), Errno> {
        let mut digits = [0u8; 16];
        let text = crate::sys::format_pid(pid, &mut digits);
        for path in &self.deferred {
            let f = fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(path)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
            sys::write(f.as_fd(), text)?;
        }
        Ok(())
    }

    /// Child side, first thing after the clone: move ourselves into every v1 hierarchy.
    /// No allocation.
    pub fn join_self(&self) -> Result<(), Errno> {
        for fd in &self.tasks {
            sys::write(fd.as_fd(), b"0")?;
        }
        Ok(())
    }

    /// Clone (see [`sys::clone_fork_into`]) born into the v2 cgroup when there is one. Returns
    /// whether the child still needs [`Join::join_v2_from_parent`].
    ///
    /// Same contract as [`sys::clone_fork`]: in the child, the caller allocates, locks and logs
    /// nothing until `execve` or `_exit` (the log line below is the parent's, after a refusal).
    pub(crate) fn clone(&self, flags: u64) -> Result<(Forked, bool), Errno> {
        if let Some(dir) = &self.v2_dir {
            match sys::clone_fork_into(flags, Some(dir.as_fd())) {
                Ok(f) => return Ok((f, false)),
                Err(e) => log::debug!("clone3 into cgroup refused ({e}); joining from the parent"),
            }
        }
        let f = sys::clone_fork(flags)?;
        Ok((f, self.v2_dir.is_some()))
    }

    /// The one fork of `create` and `exec`: in `pid_ns` when given, born non-dumpable (nothing
    /// in the namespaces it enters may open its `/proc/<pid>/exe`, the runtime binary), and in
    /// its cgroup (see [`Join::clone`]). The parent's pid namespace and dumpable flag are
    /// restored; the child keeps both. Errors name the failing call (`setns pid`, `clone3`).
    ///
    /// Same contract as [`sys::clone_fork`]; its callers are the init's clone (launch.rs) and the
    /// exec child's (exec.rs). The child side here only forgets the dumpable guard.
    pub(crate) fn fork(
        &self,
        flags: u64,
        pid_ns: Option<&PidNs>,
    ) -> Result<(Forked, bool), (&'static str, Errno)> {
        if let Some(ns) = pid_ns {
            sys::setns(ns.target.as_fd(), libc::CLONE_NEWPID).map_err(|e| ("setns pid", e))?;
        }
        let not_dumpable = sys::NotDumpable::new();
        let forked = self.clone(flags).map_err(|e| ("clone3", e));
        if let Ok((Forked::Child, _)) = forked {
            std::mem::forget(not_dumpable);
            return forked;
        }
        drop(not_dumpable);
        if let Some(ns) = pid_ns {
            let _ = sys::setns(ns.own.as_fd(), libc::CLONE_NEWPID);
        }
        forked
    }

    /// Parent side fallback: write the child's pid to the v2 `cgroup.procs`.
    pub fn join_v2_from_parent(&self, pid: libc::pid_t) -> Result<(), Errno> {
        let Some(path) = &self.v2_procs else {
            return Ok(());
        };
        let f = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        let mut digits = [0u8; 16];
        sys::write(f.as_fd(), crate::sys::format_pid(pid, &mut digits)).map(drop)
    }
}
