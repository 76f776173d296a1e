//! ④ Errors of starting a container process, and how a child's failure report becomes one:
//! the failed step, named by the config field it came from ([`origin`]) and in runc's wording
//! where clients match on it.
use std::path::PathBuf;

use crate::channel::Step;
use crate::plan::Plan;
use crate::sys::{self, Errno};

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
    /// `newuidmap` or `newgidmap` refused a rootless container's map, or could not run.
    #[error("unable to start container process: {field}: {helper}: {message}")]
    MapHelper {
        /// `linux.uidMappings` or `linux.gidMappings`.
        field: &'static str,
        /// `newuidmap` or `newgidmap`.
        helper: &'static str,
        /// Its error output, or why it did not run.
        message: String,
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
    /// The parent's cgroup step after the clone failed (the systemd driver's unit).
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
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
        Step::TimeNamespace => "linux.timeOffsets",
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
                crate::plan::lsm::APPARMOR_FIELD,
                format!("no such profile is loaded ({desc})"),
            ),
            (Step::AppArmor, _) => (crate::plan::lsm::APPARMOR_FIELD, desc),
            _ => (crate::plan::lsm::SELINUX_FIELD, desc),
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
