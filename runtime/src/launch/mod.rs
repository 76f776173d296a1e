//! ④ Parent side of a child's start: for `create`, one clone into every new namespace, then the
//! init's single `Ready` (or its error) on the channel; for `exec`, the same pieces around one
//! fork ([`exec`]). What both share lives here: the late cgroup join, the receive that forwards a
//! seccomp listener first ([`next_message`]), the kill-and-reap after a failure, and the errors
//! ([`LaunchError`], built from the child's report by [`init_error`]).
use std::os::fd::{AsFd, BorrowedFd};

use crate::channel::{self, Message};
use crate::plan::Plan;
use crate::stdio::ChildFds;
use crate::sys::{self, Errno, Forked};

mod error;
pub(crate) mod exec;
pub(crate) mod idmap;
mod maps;
mod stage;

pub use error::LaunchError;
pub(crate) use error::{init_error, origin};

/// A started init, ready: it waits on the exec fifo and no longer dies with us.
#[derive(Debug)]
pub struct Spawned {
    /// Its pid in our pid namespace.
    pub pid: libc::pid_t,
    /// Trace instants the init reported (mounts done, pivot_root done, ready).
    pub init_times: Option<[u64; 3]>,
    /// When the parent finished joining it to its cgroup (0 unless tracing).
    pub joined_ns: u64,
}

/// Clone the init per `plan` and call `cloned(pid)` at once: the caller records the pid and
/// puts the state on disk while the init sets up (the init keeps its parent-death signal until
/// then: see crate::channel), and starts a systemd unit with the init in it, or says which step
/// failed. Returns once the init reported
/// `Ready`; on failure (of `cloned` too) the init has been killed and reaped.
pub fn spawn(
    plan: &Plan,
    join: &crate::join::Join,
    fds: ChildFds,
    hooks: Option<&RuntimeHooks<'_>>,
    cloned: &mut dyn FnMut(libc::pid_t) -> Result<(), LaunchError>,
) -> Result<Spawned, LaunchError> {
    let pair = || {
        sys::seqpacket_pair().map_err(|source| LaunchError::Parent {
            call: "socketpair",
            source,
        })
    };
    let (parent_sock, child_sock) = pair()?;
    // A channel of its own for `Saved`, which the init may never read (if it fails first): an
    // unread message on the main channel would reset it under our read of the init's error.
    let (saved_ours, saved_theirs) = pair()?;
    let pid_ns = match &plan.join_pid {
        None => None,
        Some((path, field)) => Some(open_pid_ns(path, field)?),
    };
    // The clone's contract (`sys::clone_fork`): the child only runs `init::run`, which executes
    // the prepared plan with raw syscalls on memory prepared before the clone and never returns:
    // it allocates, locks and logs nothing, so a lock another thread of an embedder held at the
    // clone cannot block it (runtime/tests/threads.rs runs containers beside busy allocators).
    let trees = idmap::prepare(plan)?;
    let forked = join.fork(plan.clone_flags, pid_ns.as_ref());
    let (pid, v2_pending) = match forked {
        Ok((Forked::Child, _)) => {
            drop(parent_sock);
            drop(saved_ours);
            crate::init::run(plan, child_sock, saved_theirs, fds, join, &trees)
        }
        Ok((Forked::Parent(pid), pending)) => (pid, pending),
        Err(("setns pid", source)) => {
            let (path, field) = plan.join_pid.clone().unwrap_or_default();
            return Err(LaunchError::JoinPid {
                field,
                path,
                source: source.into(),
            });
        }
        Err((call, source)) => return Err(LaunchError::Parent { call, source }),
    };
    drop(child_sock);
    drop(saved_theirs);
    drop(fds);
    drop(trees);
    let pid = match (&plan.staged, &plan.user) {
        (Some(staged), _) => match stage::serve(plan, staged, pid, parent_sock.as_fd()) {
            Ok(init) => init,
            Err(e) => return reap_on_error(pid, Err(e)),
        },
        (None, Some(maps)) => match if maps.unprivileged() {
            stage::await_ask(plan, pid, parent_sock.as_fd())
        } else {
            Ok(())
        }
        .and_then(|()| maps::map_user_ns(plan, maps, pid, parent_sock.as_fd()))
        {
            Ok(()) => pid,
            Err(e) => return reap_on_error(pid, Err(e)),
        },
        (None, None) => pid,
    };
    if let Err(e) = cloned(pid) {
        return reap_on_error(pid, Err(e));
    }
    // An init that failed already cannot take `Saved` (EPIPE): its message on the channel is
    // what to report, so go on and read it.
    let _ = channel::send_saved(saved_ours.as_fd());
    drop(saved_ours);
    let result = await_ready(plan, join, hooks, parent_sock.as_fd(), pid, v2_pending);
    reap_on_error(pid, result)
}

/// After a failure, the child (an init or an exec child) is killed and reaped here, and only here (a pid reaped twice could
/// name another process by then); a death it did not explain reports its wait status.
fn reap_on_error<T>(pid: libc::pid_t, result: Result<T, LaunchError>) -> Result<T, LaunchError> {
    let e = match result {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    let _ = sys::kill(pid, libc::SIGKILL);
    let status = sys::waitpid(pid, 0).map(|(_, s)| s).unwrap_or(-1);
    Err(match e {
        LaunchError::Died(_) => LaunchError::Died(status),
        e => e,
    })
}

/// The parent's side of the init's set-up: the cgroup join it may owe, then the messages until
/// `Ready` (serving `NeedHooks` on the way).
fn await_ready(
    plan: &Plan,
    join: &crate::join::Join,
    hooks: Option<&RuntimeHooks<'_>>,
    sock: BorrowedFd<'_>,
    pid: libc::pid_t,
    v2_pending: bool,
) -> Result<Spawned, LaunchError> {
    let mut buf = [0u8; channel::MSG_MAX];
    // The init joined its v1 hierarchies itself and was born in its v2 cgroup; only when the
    // kernel refused CLONE_INTO_CGROUP does the parent move it (it runs no user code before
    // `start`, so this overlaps its set-up).
    if v2_pending {
        join_v2_late(join, sock, pid, &mut buf, &|step, at| {
            origin(plan, step, at)
        })?;
    }
    let joined_ns = if plan.trace {
        crate::trace::now_ns()
    } else {
        0
    };
    // Only an init that waits for its join reads this (see `Plan::joined_at`): an unread message
    // would make its close of the channel reset the connection under our read of `Ready`.
    if plan.joined_at.is_some() {
        let _ = channel::send_joined(sock);
    }
    loop {
        let n = next_message(sock, &mut buf, plan.seccomp.as_ref(), pid, "creating")?;
        match channel::decode(&buf[..n]) {
            Some(Message::Ready) => {
                return Ok(Spawned {
                    pid,
                    init_times: channel::ready_times(&buf[..n]),
                    joined_ns,
                })
            }
            Some(Message::NeedHooks) => match hooks {
                Some(h) => run_runtime_hooks(h, pid, sock)?,
                None => {
                    return Err(LaunchError::Init {
                        field: None,
                        step: "hooks",
                        detail: "unexpected request".into(),
                        errno: Errno::EPROTO,
                    })
                }
            },
            Some(Message::Error {
                step,
                errno,
                at,
                detail,
            }) => return Err(init_error(step, errno, detail, origin(plan, step, at))),
            // EOF or a broken channel: the caller reports how the init ended.
            None => return Err(LaunchError::Died(0)),
        }
    }
}

/// Put the child in its v2 cgroup from here, when the kernel refused CLONE_INTO_CGROUP. A child
/// that died early explains itself better than ESRCH does: its message is preferred, its step
/// named by `field` (see [`origin`]).
fn join_v2_late(
    join: &crate::join::Join,
    sock: BorrowedFd<'_>,
    pid: libc::pid_t,
    buf: &mut [u8],
    field: &dyn Fn(channel::Step, u16) -> Option<String>,
) -> Result<(), LaunchError> {
    let Err(source) = join.join_v2_from_parent(pid) else {
        return Ok(());
    };
    let said = sys::poll_one(sock, libc::POLLIN, 100).unwrap_or(false);
    let n = if said {
        sys::read(sock, buf).unwrap_or(0)
    } else {
        0
    };
    Err(match channel::decode(&buf[..n]) {
        Some(Message::Error {
            step,
            errno,
            at,
            detail,
        }) => init_error(step, errno, detail, field(step, at)),
        _ => LaunchError::Parent {
            call: "write cgroup.procs",
            source,
        },
    })
}

/// Read the child's next message into `buf` (its length; 0 at end-of-file or on a broken
/// channel). A notifying seccomp filter's listener comes first: it is handed to the agent at
/// `listenerPath` at once, with the container's `status` in the state it gets (`creating` while an
/// init sets up, `running` for an exec).
pub(crate) fn next_message(
    sock: std::os::fd::BorrowedFd<'_>,
    buf: &mut [u8],
    seccomp: Option<&crate::seccomp::Program>,
    pid: libc::pid_t,
    status: &str,
) -> Result<usize, LaunchError> {
    loop {
        match channel::recv(sock, buf) {
            Err(Errno::EINTR) => continue,
            Ok((_, Some(listener))) => {
                seccomp
                    .ok_or(Errno::EPROTO)
                    .and_then(|s| crate::agent::forward(s, &listener, pid, status))
                    .map_err(|source| LaunchError::Parent {
                        call: "send the seccomp listener to listenerPath",
                        source,
                    })?;
            }
            Ok((n, None)) => return Ok(n),
            Err(_) => return Ok(0),
        }
    }
}

/// What the parent needs to serve the init's `NeedHooks`: the runtime-side hooks and the state
/// they (and the init's hooks) get on stdin.
#[derive(Debug)]
pub struct RuntimeHooks<'a> {
    /// `hooks.prestart` (deprecated, run with createRuntime as runc does).
    pub prestart: &'a [oci_spec::runtime::Hook],
    /// `hooks.createRuntime`.
    pub create_runtime: &'a [oci_spec::runtime::Hook],
    /// The state, with the pid filled in here.
    pub state: crate::state::State,
}

/// Run prestart and createRuntime hooks for the init `pid`, then send it the hook state.
fn run_runtime_hooks(
    h: &RuntimeHooks<'_>,
    pid: libc::pid_t,
    sock: std::os::fd::BorrowedFd<'_>,
) -> Result<(), LaunchError> {
    let mut state = h.state.clone();
    state.pid = pid;
    state.status = crate::state::Status::Creating;
    let creating = serde_json::to_vec(&state).unwrap_or_default();
    crate::hooks::run("prestart", h.prestart, &creating, &state.bundle)?;
    crate::hooks::run("createRuntime", h.create_runtime, &creating, &state.bundle)?;
    state.status = crate::state::Status::Created;
    let created = serde_json::to_vec(&state).unwrap_or_default();
    if 5 + creating.len() + created.len() > channel::HOOK_STATE_MAX {
        return Err(LaunchError::Parent {
            call: "send hook state (state JSON over 64 KiB)",
            source: Errno::E2BIG,
        });
    }
    channel::send_hooks_done(sock, &creating, &created).map_err(|source| LaunchError::Parent {
        call: "send hook state",
        source,
    })
}

/// Open our `pid_for_children` and the pid namespace at `path` (`linux.namespaces[i].path`).
fn open_pid_ns(path: &std::path::Path, field: &str) -> Result<crate::join::PidNs, LaunchError> {
    let err = |source: std::io::Error| LaunchError::JoinPid {
        field: field.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let own = std::fs::File::open("/proc/self/ns/pid_for_children").map_err(err)?;
    let target = std::fs::File::open(path).map_err(err)?;
    Ok(crate::join::PidNs {
        own: own.into(),
        target: target.into(),
    })
}
