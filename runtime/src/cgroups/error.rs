//! The cgroup error: names the file or directory, and for resources the JSON field.
use std::path::{Path, PathBuf};

/// A cgroup failure, naming the file or directory, and for resources the JSON field.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A cgroup file or directory operation failed.
    #[error("cgroup: {op} {}: {source}", path.display())]
    Io {
        /// What was done (mkdir, write, open, rmdir).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A resource value the kernel refused.
    #[error("cgroup: {field}: writing {value:?} to {}: {source}", path.display())]
    Resource {
        /// JSON path of the resource (`linux.resources.memory.limit`).
        field: String,
        /// The value written.
        value: String,
        /// The file written.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A resource value refused before anything was written.
    #[error("cgroup: {field}: {reason}")]
    Invalid {
        /// JSON path of the resource.
        field: String,
        /// Why.
        reason: String,
    },
    /// A resource this kernel has no file for in the cgroup (e.g. a blkio weight without the BFQ I/O
    /// scheduler: neither `blkio.weight` nor `blkio.bfq.weight` exists). runc fails the same way, on
    /// the `open`; this names the field and every file tried.
    #[error("cgroup: {field}: this kernel offers {files} in {}", dir.display())]
    Unsupported {
        /// JSON path of the resource.
        field: String,
        /// The files tried: `no a`, or `neither a nor b`.
        files: String,
        /// The cgroup directory.
        dir: PathBuf,
    },
    /// A resource whose controller is not mounted on this host.
    #[error("cgroup: {field}: the {controller} controller is not mounted on this host")]
    NoController {
        /// JSON path of the resource.
        field: String,
        /// The controller.
        controller: &'static str,
    },
    /// The cgroup exists and is frozen: runc refuses to join it.
    #[error(
        "cgroup: linux.cgroupsPath: {} is frozen: refusing to create a container in it",
        path.display()
    )]
    Frozen {
        /// The freezer directory.
        path: PathBuf,
    },
    /// The cgroup exists and it or a descendant holds processes (another container's, or the
    /// host's): refused, never joined, signalled or removed (runc >= 1.2 refuses it too).
    #[error(
        "cgroup: linux.cgroupsPath: {} is not empty ({held}): refusing to create a container in it",
        path.display()
    )]
    Occupied {
        /// The container's cgroup directory in that hierarchy.
        path: PathBuf,
        /// What holds processes: `3 process(es)`, or `2 process(es) in <descendant>`.
        held: String,
    },
    /// Freezing did not complete.
    #[error("cgroup: unable to freeze {}: still {state}", path.display())]
    Freeze {
        /// The freezer file.
        path: PathBuf,
        /// The last state read.
        state: String,
    },
    /// The host's cgroup setup could not be read (or does not suit the driver).
    #[error("cgroup: {0}")]
    Host(String),
    /// systemd refused or failed a unit operation (systemd driver).
    #[error("cgroup: systemd: {op} {unit}: {source}")]
    Systemd {
        /// What was asked (`start`, `stop`, …).
        op: &'static str,
        /// The unit.
        unit: String,
        /// The bus's answer.
        source: crate::dbus::BusError,
    },
}

/// `map_err` adapter: a [`CgroupError::Io`] for `op` on `path`.
pub(super) fn io<'p>(
    op: &'static str,
    path: &'p Path,
) -> impl FnOnce(std::io::Error) -> CgroupError + 'p {
    move |source| CgroupError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}
