//! # sangja — an OCI container runtime
//!
//! sangja turns an [OCI bundle](https://github.com/opencontainers/runtime-spec/blob/main/bundle.md) into a
//! running, isolated process. The data flows one way:
//!
//! ```text
//! bundle dir ──► Spec (validated) ──► Plan (pure data) ──► clone ──► init ──► execve
//!     ①               ②                    ③                ④         ⑤        ⑥
//! ```
//!
//! Everything that can fail cheaply fails in ①–③, in the calling process, before any side effect.
//! The container init is **one clone** of the caller: no re-exec, no intermediate process.
//! The init prepares the rootfs, then waits on the `exec.fifo` in the state directory until
//! [`Container::start`] releases it, and finally calls `execve`.
//!
//! ```no_run
//! use sangja::{Container, CreateOptions};
//! # fn main() -> sangja::Result<()> {
//! let opts = CreateOptions::default();
//! let mut c = Container::create("demo", "/path/to/bundle", &opts)?;
//! c.start()?;
//! let code = c.wait()?;
//! c.delete(false)?;
//! # let _ = code; Ok(()) }
//! ```
//!
//! The state of each container lives in `<root>/<id>/state.json` (default root `/run/sangja`);
//! its status is derived from the live process, never trusted from the file.

#![cfg(target_os = "linux")]
#![warn(missing_docs)]

mod bundle;
mod cgroups;
mod channel;
mod console;
mod container;
mod creating;
mod error;
pub mod exe;
mod exec;
pub mod features;
/// Entry points for the fuzz targets and their seed tests; not API.
#[doc(hidden)]
pub mod fuzz;
mod hooks;
mod init;
mod join;
mod launch;
mod lsm;
mod plan;
mod procfs;
mod resources;
pub mod seccomp;
pub mod signal;
mod spec;
mod state;
mod sys;
pub mod template;
pub mod time;
pub mod trace;
mod wait;

pub use cgroups::stats::{Event, Stats};
pub use cgroups::OomWatch;
pub use container::{Container, CreateOptions};
pub use error::{Error, Result};
pub use exec::{process_from_file, ExecArgs, ExecOptions, ExecProcess};
pub use oci_spec::runtime::LinuxResources;
pub use resources::parse_resources;
pub use spec::SpecError;
pub use state::{State, Status};

/// The runtime-spec version sangja implements and reports (`ociVersion` in `state`, `spec:` in `--version`).
pub const OCI_VERSION: &str = "1.2.0";

/// Default directory holding one state directory per container.
pub const DEFAULT_ROOT: &str = "/run/sangja";
