//! State of a container: the runtime-spec state JSON with runc's extra keys, the on-disk record,
//! and the status derived from the live process.
use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Default directory holding one state directory per container (as root).
pub const DEFAULT_ROOT: &str = "/run/sangja";

/// The state root when none is given, as runc picks its own: `$XDG_RUNTIME_DIR/sangja` for a
/// caller other than root with `XDG_RUNTIME_DIR` set, else [`DEFAULT_ROOT`].
pub fn default_root() -> PathBuf {
    let root = nix::unistd::geteuid().is_root();
    root_for(root, std::env::var_os("XDG_RUNTIME_DIR"))
}

/// [`default_root`] for a caller that is root or not, with `XDG_RUNTIME_DIR` `xdg`.
fn root_for(root: bool, xdg: Option<std::ffi::OsString>) -> PathBuf {
    match xdg.filter(|d| !d.is_empty()) {
        Some(dir) if !root => PathBuf::from(dir).join("sangja"),
        _ => PathBuf::from(DEFAULT_ROOT),
    }
}

/// Lifecycle status, as runtime-spec names it (plus runc's `paused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The container is being created.
    Creating,
    /// The init waits on the exec fifo for `start`.
    Created,
    /// The user process runs.
    Running,
    /// The container's cgroup is frozen.
    Paused,
    /// The init has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// The state JSON printed by `state` and listed by `list --format json`, key for key as runc prints it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// runtime-spec version of the state.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the init; 0 once stopped (as runc).
    pub pid: i32,
    /// Derived status.
    pub status: Status,
    /// Absolute path of the bundle.
    pub bundle: PathBuf,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 with nanoseconds, UTC.
    pub created: String,
    /// Annotations of config.json.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// Owner (user name of the creator; runc prints "" for root).
    pub owner: String,
}

/// State directory or state.json failure.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A filesystem operation on the state root failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was done.
        op: &'static str,
        /// Path acted on.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// state.json could not be parsed.
    #[error("parse {}: {source}", path.display())]
    Parse {
        /// Path of state.json.
        path: PathBuf,
        /// Parser error.
        source: serde_json::Error,
    },
}

/// What sangja keeps in `<root>/<id>/state.json`: enough to derive the status and to clean up.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// `ociVersion` of the bundle's config (runc reports it in `state`).
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the init.
    pub pid: i32,
    /// Start time of the init (field 22 of `/proc/<pid>/stat`), to detect pid reuse.
    pub pid_start: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    /// Annotations from config.json.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The container's cgroup.
    pub cgroup: Option<crate::cgroups::Cgroup>,
    /// The container has its own pid namespace (killing the init kills everything).
    pub own_pid_ns: bool,
    /// `process` of config.json: the base of `exec` from command-line flags, as runc.
    #[serde(default)]
    pub process: Option<oci_spec::runtime::Process>,
    /// `hooks` of config.json (poststart runs at `start`, poststop at `delete`).
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// `linux.seccomp` of config.json (an exec'd process gets the same filter, as runc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// `linux.resources.memory.checkBeforeUpdate` of config.json: every later `update` of the
    /// memory limit is checked against the usage, as runc keeps it in the container's config.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check_before_update: bool,
}

/// File names inside a container's state directory.
pub const STATE_FILE: &str = "state.json";
/// The exec fifo the init blocks on until `start`.
pub const FIFO_FILE: &str = "exec.fifo";
/// The fifo `start` waits on: closed by the init's execve, or carrying why it did not exec.
pub const RESULT_FILE: &str = "exec.result";

impl Record {
    /// Write atomically (temp file + rename) into `dir`.
    pub fn save(&self, dir: &std::path::Path) -> Result<(), StateError> {
        let tmp = dir.join(".state.json.tmp");
        let data = serde_json::to_vec(self).map_err(|source| StateError::Parse {
            path: tmp.clone(),
            source,
        })?;
        std::fs::write(&tmp, data).map_err(|source| StateError::Io {
            op: "write",
            path: tmp.clone(),
            source,
        })?;
        let dst = dir.join(STATE_FILE);
        std::fs::rename(&tmp, &dst).map_err(|source| StateError::Io {
            op: "rename",
            path: dst,
            source,
        })
    }

    /// Read `dir/state.json`. `Ok(None)` when it does not exist.
    pub fn load(dir: &std::path::Path) -> Result<Option<Record>, StateError> {
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(|source| StateError::Parse { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io {
                op: "read",
                path,
                source,
            }),
        }
    }
}

/// Liveness of a pid as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Running (any state but zombie/dead) with this start time.
    Alive(u64),
    /// Gone, a zombie, or dead.
    Gone,
}

/// Read state and start time of `pid` from `/proc/<pid>/stat`.
pub fn liveness(pid: i32) -> Liveness {
    if pid <= 0 {
        return Liveness::Gone;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Liveness::Gone;
    };
    parse_stat(&stat)
}

fn parse_stat(stat: &str) -> Liveness {
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return Liveness::Gone;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    match (fields.first(), fields.get(19).and_then(|s| s.parse().ok())) {
        (Some(&"Z"), _) | (Some(&"X"), _) | (_, None) => Liveness::Gone,
        (_, Some(start)) => Liveness::Alive(start),
    }
}

/// Is the init of `rec` still the process we created?
pub fn init_alive(rec: &Record) -> bool {
    matches!(liveness(rec.pid), Liveness::Alive(s) if s == rec.pid_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_root_is_the_users_runtime_dir_when_not_root() {
        let xdg = || Some(std::ffi::OsString::from("/run/user/1000"));
        assert_eq!(
            root_for(false, xdg()),
            PathBuf::from("/run/user/1000/sangja")
        );
        assert_eq!(root_for(true, xdg()), PathBuf::from(DEFAULT_ROOT));
        assert_eq!(root_for(false, None), PathBuf::from(DEFAULT_ROOT));
        assert_eq!(
            root_for(false, Some("".into())),
            PathBuf::from(DEFAULT_ROOT)
        );
    }

    #[test]
    fn stat_parsing_survives_odd_comm_names() {
        let s = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10";
        assert_eq!(parse_stat(s), Liveness::Alive(123456));
        let z = "42 (x) Z 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10";
        assert_eq!(parse_stat(z), Liveness::Gone);
    }

    #[test]
    fn state_json_has_runcs_keys_in_order() {
        let s = State {
            oci_version: "1.0.2-dev".into(),
            id: "x".into(),
            pid: 1,
            status: Status::Created,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "t".into(),
            annotations: HashMap::new(),
            owner: String::new(),
        };
        let j = serde_json::to_string(&s).expect("json");
        assert_eq!(
            j,
            r#"{"ociVersion":"1.0.2-dev","id":"x","pid":1,"status":"created","bundle":"/b","rootfs":"/b/rootfs","created":"t","owner":""}"#
        );
    }
}
