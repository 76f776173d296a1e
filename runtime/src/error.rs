//! The top-level error: one variant per stage, each stage with its own enum naming what failed.
use std::path::PathBuf;

/// Result alias of the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a lifecycle operation.
///
/// The `Display` of the lifecycle variants matches runc's wording, which clients
/// (containerd, conmon, dockerd) match on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No state directory for this id.
    #[error("container does not exist")]
    NotExist,
    /// `create` of an id that is already taken.
    #[error("container with given ID already exists")]
    AlreadyExists,
    /// The operation needs a live container.
    #[error("container not running")]
    NotRunning,
    /// The container id is empty or not `[A-Za-z0-9_+.-]+`.
    #[error("invalid container id {0:?}: must match [A-Za-z0-9_+.-]+ and not be \".\" or \"..\"")]
    InvalidId(String),
    /// The operation is not allowed in the container's current status.
    #[error("{0}")]
    BadStatus(String),
    /// A flag combination or option the runtime does not accept.
    #[error("{0}")]
    Usage(String),
    /// Bundle or config.json problem (names the path or the JSON field).
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// Cgroup setup or removal.
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    /// Starting the container process (names the step, syscall and path).
    #[error(transparent)]
    Launch(#[from] crate::launch::LaunchError),
    /// A signal name or number that is not known.
    #[error(transparent)]
    Signal(#[from] crate::signal::SignalError),
    /// A hook failed.
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// State directory and state.json.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// A syscall outside the stages above.
    #[error("{call} {}: {source}", path.display())]
    Sys {
        /// The syscall or operation.
        call: &'static str,
        /// The path it acted on (empty when none).
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// `map_err` adapter: an [`Error::Sys`] for `call` on `path`.
pub(crate) fn sys_err(
    call: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Sys { call, path, source }
}
