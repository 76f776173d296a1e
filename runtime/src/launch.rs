//! ④ Parent side of `create`: one clone into every new namespace, then wait for the init's
//! single `Ready` (or its error) on the channel.
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use crate::channel::{self, Message, Step};
use crate::plan::Plan;
use crate::stdio::ChildFds;
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
    #[error("unable to start container process: {}{step}{}: {}", field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default(), if detail.is_empty() { String::new() } else { format!(" {detail}") }, errno.desc().to_lowercase())]
    Init {
        /// The config field the step came from (`mounts[3]`, `linux.sysctl.net.ipv4.ip_forward`),
        /// when known.
        field: Option<String>,
        /// The step, described.
        step: &'static str,
        /// The path or name it acted on.
        detail: String,
        /// The OS error.
        errno: Errno,
    },
    /// `process.cwd` (or `exec --cwd`) was entered but lies outside the container's root: runc's
    /// message for the CVE-2024-21626 class.
    #[error("unable to start container process: process.cwd {cwd:?}: current working directory is outside of container mount namespace root -- possible container breakout detected")]
    CwdOutsideRoot {
        /// The cwd asked for.
        cwd: String,
    },
    /// The container's `/dev/null` is not the null device, so masking would bind something else.
    #[error("unable to start container process: linux.maskedPaths: /dev/null in the container is not the null device (character device 1:3): refusing to mask with it")]
    NotNullDevice,
    /// The image's `/dev/console` is neither a regular file nor a character device (a symlink,
    /// say): the pty is never bound through it (CVE-2025-52565 class).
    #[error("unable to start container process: process.terminal: /dev/console in the container is not a regular file or character device: refusing to bind the pty onto it")]
    BadConsoleTarget,
    /// A mount destination that the image's symlinks lead onto procfs (CVE-2023-27561 class).
    #[error("unable to start container process: {}mount destination {dest}: leads into /proc through a symlink in the image: only procfs may be mounted there", field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default())]
    MountIntoProc {
        /// The `mounts[]` entry.
        field: Option<String>,
        /// The destination as configured.
        dest: String,
    },
    /// `args[0]` is not in the container.
    #[error("unable to start container process: exec: {arg0:?}: {reason}")]
    Exec {
        /// `process.args[0]`.
        arg0: String,
        /// runc's wording of why.
        reason: String,
    },
    /// Applying `process.apparmorProfile` or `process.selinuxLabel` failed.
    #[error("unable to start container process: {field} {value:?}: {step}: {reason}")]
    Lsm {
        /// The JSON field.
        field: &'static str,
        /// The profile or label.
        value: String,
        /// The step, described.
        step: &'static str,
        /// Why.
        reason: String,
    },
    /// A createContainer hook run by the init failed.
    #[error("unable to start container process: createContainer hook {detail}")]
    InitHook {
        /// The hook path and why.
        detail: String,
    },
    /// A runtime-side hook failed.
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// The init was OOM-killed while setting up: the memory limit is below what it needs.
    #[error("unable to start container process: the init was OOM-killed during set-up: linux.resources.memory.limit ({limit} bytes) is too low")]
    OomKilled {
        /// The configured limit.
        limit: i64,
    },
    /// The init died without reporting.
    #[error(
        "unable to start container process: init exited before reporting (wait status {0:#x})"
    )]
    Died(i32),
}

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
/// then: see crate::channel), or says which step failed. Returns once the init reported
/// `Ready`; on failure (of `cloned` too) the init has been killed and reaped.
pub fn spawn(
    plan: &Plan,
    join: &crate::join::Join,
    fds: ChildFds,
    hooks: Option<&RuntimeHooks<'_>>,
    cloned: &mut dyn FnMut(libc::pid_t) -> Result<(), (&'static str, Errno)>,
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
    let forked = join.fork(plan.clone_flags, pid_ns.as_ref());
    let (pid, v2_pending) = match forked {
        Ok((Forked::Child, _)) => {
            drop(parent_sock);
            drop(saved_ours);
            crate::init::run(plan, child_sock, saved_theirs, fds, join)
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
    if let Err((call, source)) = cloned(pid) {
        return reap_on_error(pid, Err(LaunchError::Parent { call, source }));
    }
    // An init that failed already cannot take `Saved` (EPIPE): its message on the channel is
    // what to report, so go on and read it.
    let _ = channel::send_saved(saved_ours.as_fd());
    drop(saved_ours);
    let result = await_ready(plan, join, hooks, parent_sock.as_fd(), pid, v2_pending);
    reap_on_error(pid, result)
}

/// After a failure, the init is killed and reaped here, and only here (a pid reaped twice could
/// name another process by then); a death it did not explain reports its wait status.
fn reap_on_error(
    pid: libc::pid_t,
    result: Result<Spawned, LaunchError>,
) -> Result<Spawned, LaunchError> {
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
        if let Err(source) = join.join_v2_from_parent(pid) {
            // An init that died early explains itself better than ESRCH does: prefer its message.
            let said = sys::poll_one(sock, libc::POLLIN, 100).unwrap_or(false);
            let n = if said {
                sys::read(sock, &mut buf).unwrap_or(0)
            } else {
                0
            };
            return Err(match channel::decode(&buf[..n]) {
                Some(Message::Error {
                    step,
                    errno,
                    at,
                    detail,
                }) => init_error(step, errno, detail, origin(plan, step, at)),
                _ => LaunchError::Parent {
                    call: "write cgroup.procs",
                    source,
                },
            });
        }
    }
    let joined_ns = if plan.trace {
        crate::trace::now_ns()
    } else {
        0
    };
    // Only an init that unshares a cgroup namespace reads this: an unread message would make its
    // close of the channel reset the connection under our read of `Ready`.
    if plan.cgroupns_at.is_some() {
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
        match crate::seccomp::notify::recv(sock, buf) {
            Err(Errno::EINTR) => continue,
            Ok((_, Some(listener))) => {
                seccomp
                    .ok_or(Errno::EPROTO)
                    .and_then(|s| s.forward(&listener, pid, status))
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

/// The config field a failed init step came from: entry `at` of the plan list the step works
/// through, else the one field the step always comes from. `None` for steps of the runtime's
/// own making (the state fifos, `lo`, the keyring).
pub(crate) fn origin(plan: &Plan, step: Step, at: u16) -> Option<String> {
    let i = usize::from(at);
    let entry = match step {
        Step::Mount
        | Step::MountTarget
        | Step::MountAttr
        | Step::MountPropagation
        | Step::MountIntoProc
        | Step::DevSymlink => plan.mounts.get(i).map(|m| format!("mounts[{}]", m.origin)),
        Step::Device => plan
            .devices
            .get(i)
            .and_then(|d| d.origin)
            .map(|k| format!("linux.devices[{k}]")),
        Step::MaskPath => (i < plan.masked.len()).then(|| format!("linux.maskedPaths[{i}]")),
        Step::ReadonlyPath => {
            (i < plan.readonly.len()).then(|| format!("linux.readonlyPaths[{i}]"))
        }
        Step::Sysctl => plan.sysctl.get(i).map(|s| s.2.clone()),
        Step::Rlimit => (i < plan.process.rlimits.len()).then(|| format!("process.rlimits[{i}]")),
        Step::JoinNamespace => plan
            .join
            .get(i)
            .map(|j| format!("linux.namespaces[{}].path", j.origin)),
        _ => None,
    };
    entry.or_else(|| step_field(step).map(str::to_string))
}

/// The config field behind a step that has only one.
fn step_field(step: Step) -> Option<&'static str> {
    Some(match step {
        Step::Hostname => "hostname",
        Step::Domainname => "domainname",
        Step::RootPropagation => "linux.rootfsPropagation",
        Step::BindRootfs | Step::PivotRoot | Step::Chroot => "root.path",
        Step::ReadonlyRoot => "root.readonly",
        Step::OomScoreAdj => "process.oomScoreAdj",
        Step::CapBounding => "process.capabilities.bounding",
        Step::Capset => "process.capabilities",
        Step::CapAmbient => "process.capabilities.ambient",
        Step::Setgroups => "process.user.additionalGids",
        Step::Setgid => "process.user.gid",
        Step::Setuid => "process.user.uid",
        Step::NoNewPrivs => "process.noNewPrivileges",
        Step::Cwd => "process.cwd",
        Step::Console => "process.terminal",
        Step::Seccomp => "linux.seccomp",
        _ => return None,
    })
}

/// The error for a failed init step; `args[0]` not found gets runc's wording. `field`: the
/// config entry the step came from ([`origin`]).
pub(crate) fn init_error(
    step: Step,
    errno: i32,
    detail: &[u8],
    field: Option<String>,
) -> LaunchError {
    let detail = String::from_utf8_lossy(detail).into_owned();
    if step == Step::CreateContainerHook {
        let why = match errno {
            libc::ETIMEDOUT => "timed out".to_string(),
            libc::ECHILD => "exited unsuccessfully".to_string(),
            e => Errno::from_raw(e).desc().to_lowercase(),
        };
        return LaunchError::InitHook {
            detail: format!("{detail}: {why}"),
        };
    }
    if matches!(
        step,
        Step::AppArmor | Step::SelinuxLabel | Step::SelinuxKeyLabel
    ) {
        let desc = Errno::from_raw(errno).desc().to_lowercase();
        let (field, reason) = match (step, errno) {
            (Step::AppArmor, libc::ENOENT) => (
                crate::lsm::APPARMOR_FIELD,
                format!("no such profile is loaded ({desc})"),
            ),
            (Step::AppArmor, _) => (crate::lsm::APPARMOR_FIELD, desc),
            _ => (crate::lsm::SELINUX_FIELD, desc),
        };
        return LaunchError::Lsm {
            field,
            value: detail,
            step: step.describe(),
            reason,
        };
    }
    if step == Step::NotNullDevice {
        return LaunchError::NotNullDevice;
    }
    if step == Step::MountIntoProc {
        return LaunchError::MountIntoProc {
            field,
            dest: detail,
        };
    }
    if step == Step::Console && errno == sys::WRONG_OBJECT as i32 && detail == "/dev/console" {
        return LaunchError::BadConsoleTarget;
    }
    if step == Step::CwdOutsideRoot {
        return LaunchError::CwdOutsideRoot { cwd: detail };
    }
    if step != Step::Exec {
        return LaunchError::Init {
            field,
            step: step.describe(),
            detail,
            errno: Errno::from_raw(errno),
        };
    }
    let reason = if errno == libc::ENOENT && !detail.contains('/') {
        "executable file not found in $PATH".to_string()
    } else if errno == libc::EACCES {
        // runc's lookup finds the file but not its x bit: Go's bare ErrPermission, no "stat".
        "permission denied".to_string()
    } else {
        format!(
            "stat {detail}: {}",
            Errno::from_raw(errno).desc().to_lowercase()
        )
    };
    LaunchError::Exec {
        arg0: detail,
        reason,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_errors_use_runcs_wording() {
        let e = init_error(Step::Exec, libc::ENOENT, b"nope", None).to_string();
        assert_eq!(
            e,
            "unable to start container process: exec: \"nope\": executable file not found in $PATH"
        );
        // As runc 1.1.5 (seen through podman and containerd).
        let e = init_error(Step::Exec, libc::ENOENT, b"/nonexistent", None).to_string();
        assert!(
            e.ends_with(r#"exec: "/nonexistent": stat /nonexistent: no such file or directory"#),
            "{e}"
        );
        let e = init_error(Step::Exec, libc::EACCES, b"/etc/passwd", None).to_string();
        assert!(
            e.ends_with(r#"exec: "/etc/passwd": permission denied"#),
            "{e}"
        );
        let e =
            init_error(Step::Mount, libc::EPERM, b"/proc", Some("mounts[1]".into())).to_string();
        assert_eq!(
            e,
            "unable to start container process: mounts[1]: mount /proc: operation not permitted"
        );
    }
}
