//! ④ Parent side of `create`: one clone into every new namespace, then wait for the init's
//! single `Ready` (or its error) on the channel.
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use crate::channel::{self, Message, Step};
use crate::plan::Plan;
use crate::sys::{self, Errno, Forked};

/// Starting the container process failed.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A syscall in the parent failed.
    #[error("{call}: {source}")]
    Parent {
        /// The syscall.
        call: &'static str,
        /// The error.
        source: Errno,
    },
    /// Joining an existing pid namespace failed.
    #[error("{field}: join pid namespace {}: {source}", path.display())]
    JoinPid {
        /// JSON path of the namespace entry.
        field: String,
        /// The namespace file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The init reported a failed step.
    #[error("unable to start container process: {step}{}: {errno}", if detail.is_empty() { String::new() } else { format!(" {detail}") })]
    Init {
        /// The step, described.
        step: &'static str,
        /// The path or name it acted on.
        detail: String,
        /// The OS error.
        errno: Errno,
    },
    /// `args[0]` is not in the container.
    #[error("unable to start container process: exec: {arg0:?}: {reason}")]
    Exec {
        /// `process.args[0]`.
        arg0: String,
        /// runc's wording of why.
        reason: String,
    },
    /// The init died without reporting.
    #[error(
        "unable to start container process: init exited before reporting (wait status {0:#x})"
    )]
    Died(i32),
}

/// Clone the init per `plan`. Returns its pid (in our pid namespace) once it reported `Ready`;
/// on failure the init has been killed and reaped.
pub fn spawn(plan: &Plan, cgroup_procs: Vec<OwnedFd>) -> Result<libc::pid_t, LaunchError> {
    let (parent_sock, child_sock) =
        sys::seqpacket_pair().map_err(|source| LaunchError::Parent {
            call: "socketpair",
            source,
        })?;
    // setns(CLONE_NEWPID) only changes the namespace of our *children*: join around the clone and
    // restore, so the init is born in the target namespace without a second fork.
    let restore_pid = match &plan.join_pid {
        None => None,
        Some((path, field)) => Some(join_pid_ns(path, field)?),
    };
    // SAFETY: the child only runs `init::run`, which executes the prepared plan with raw syscalls
    // and never returns; sangja's CLI is single-threaded, so no lock can be held by another thread.
    let forked = unsafe { sys::clone_fork(plan.clone_flags) };
    if let Some(own) = restore_pid {
        let _ = sys::setns(own.as_fd(), libc::CLONE_NEWPID);
    }
    let pid = match forked {
        Ok(Forked::Child) => {
            drop(parent_sock);
            crate::init::run(plan, child_sock, cgroup_procs)
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(source) => {
            return Err(LaunchError::Parent {
                call: "clone3",
                source,
            })
        }
    };
    drop(child_sock);
    drop(cgroup_procs);
    let mut buf = [0u8; channel::MSG_MAX];
    let n = loop {
        match sys::read(parent_sock.as_fd(), &mut buf) {
            Err(Errno::EINTR) => continue,
            Ok(n) => break n,
            Err(_) => break 0,
        }
    };
    let err = match channel::decode(&buf[..n]) {
        Some(Message::Ready) => return Ok(pid),
        Some(Message::Error {
            step: Step::Exec,
            errno,
            detail,
        }) => {
            let arg0 = String::from_utf8_lossy(detail).into_owned();
            let reason = if errno == libc::ENOENT && !arg0.contains('/') {
                "executable file not found in $PATH".to_string()
            } else {
                format!(
                    "stat {arg0}: {}",
                    Errno::from_raw(errno).desc().to_lowercase()
                )
            };
            LaunchError::Exec { arg0, reason }
        }
        Some(Message::Error {
            step,
            errno,
            detail,
        }) => LaunchError::Init {
            step: step.describe(),
            detail: String::from_utf8_lossy(detail).into_owned(),
            errno: Errno::from_raw(errno),
        },
        None => {
            let status = sys::waitpid(pid, 0).map(|(_, s)| s).unwrap_or(-1);
            return Err(LaunchError::Died(status));
        }
    };
    let _ = sys::kill(pid, libc::SIGKILL);
    let _ = sys::waitpid(pid, 0);
    Err(err)
}

fn join_pid_ns(path: &std::path::Path, field: &str) -> Result<OwnedFd, LaunchError> {
    let err = |source: std::io::Error| LaunchError::JoinPid {
        field: field.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let own = std::fs::File::open("/proc/self/ns/pid_for_children").map_err(err)?;
    let target = std::fs::File::open(path).map_err(err)?;
    sys::setns(target.as_fd(), libc::CLONE_NEWPID).map_err(|e| err(std::io::Error::from(e)))?;
    Ok(OwnedFd::from(own))
}
