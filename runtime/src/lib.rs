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
//! The container init is **one clone** of the caller: no intermediate process. The init prepares
//! the rootfs, then waits on the `exec.fifo` in the state directory until [`Container::start`]
//! releases it, and finally calls `execve`. (The CLI re-executes itself once from a sealed copy
//! before any of this, against CVE-2019-5736: see [`exe::ensure_sealed`], which an embedding
//! program should call first thing in `main` too, since the init's `/proc/self/exe` is its
//! binary.)
//!
//! ## Layers
//!
//! Each stage is a module that only calls the ones below it (checked with the import graph: no
//! circle, no import running back up):
//! - ② `spec`: parse and validate the config, naming the JSON field of a bad value;
//! - ③ `plan`: the spec turned into pure data for this host (clone flags, joins, mounts,
//!   process, hooks, LSM writes; cgroup writes from `cgroups`, the seccomp program from
//!   [`seccomp`]), unit-tested without root;
//! - ④ `launch`: the parent's side of a child's start (clone or fork, cgroup join, the channel
//!   messages, a seccomp listener forwarded by `agent`), for `create` and `exec`;
//! - ⑤⑥ `init`: the child's side, the container's init and an exec child, which share their
//!   first and last steps and allocate, lock and log nothing;
//! - `sys`: the system calls, the only module with `unsafe`.
//!
//! `container` and `exec` are the API on top, `state` and `creating` the state directory.
//!
//! ## Embedding
//!
//! [`ContainerBuilder`] creates a container from a bundle directory or from a
//! [`Spec`](oci_spec::runtime::Spec) held in memory, with the process's stdin, stdout and stderr
//! as fds the caller passes ([`Stdio`]); [`ContainerBuilder::validate`] checks everything without
//! a side effect. A [`Container`] then has the verbs of runc's command line as methods: `start`,
//! `state`, `kill`, `wait`, `exec` (a runtime-spec process), `pause`/`resume`, `update`, `stats`,
//! `oom_watch` (events), `processes`, `delete`; [`Container::load`] and [`Container::list`] find
//! containers in a state root.
//!
//! ```no_run
//! use std::io::Read;
//! # fn main() -> sangja::Result<()> {
//! let (mut out, w) = std::io::pipe().expect("pipe");
//! let mut c = sangja::ContainerBuilder::new("demo")
//!     .bundle("/path/to/bundle")
//!     .stdout(w)
//!     .create()?;
//! c.start()?;
//! let mut text = String::new();
//! out.read_to_string(&mut text).expect("read");
//! let code = c.wait()?;
//! c.delete(false)?;
//! # let _ = code; Ok(()) }
//! ```
//!
//! Runnable examples: `examples/lifecycle.rs` (a bundle directory) and `examples/in_memory.rs`
//! (a spec built in memory, output read through a pipe).
//!
//! **Threads.** The library may be called from several threads at once (each create clones its own
//! init). Between the clone and `execve` the child allocates nothing, takes no lock and logs nothing
//! (everything it needs is prepared in the plan, as C strings, before the clone), so a lock another
//! thread held at the clone cannot hang it; `runtime/tests/threads.rs` runs containers from four
//! threads beside two busy allocating threads. [`Container::wait`] touches no signal mask;
//! [`Container::wait_forwarding_signals`] is for a single-threaded CLI.
//!
//! The state of each container lives in `<root>/<id>/state.json` (default root `/run/sangja`);
//! its status is derived from the live process, never trusted from the file.

#![cfg(target_os = "linux")]
#![warn(missing_docs)]

mod agent;
mod bundle;
mod cgroups;
mod channel;
mod console;
mod console_socket;
mod container;
mod creating;
mod dbus;
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
pub mod seccomp;
mod signal;
mod spec;
mod state;
mod stdio;
mod sys;
mod template;
mod time;
mod trace;
mod wait;

pub use cgroups::stats::{Event, Stats};
pub use cgroups::OomWatch;
pub use container::builder::ContainerBuilder;
pub use container::create::{CgroupDriver, CreateOptions, Rootless};
pub use container::resources::parse_resources;
pub use container::{validate_id, Container};
pub use error::{Error, Result};
pub use exec::{process_from_file, ExecArgs, ExecOptions, ExecProcess};
pub use oci_spec::runtime::LinuxResources;
pub use signal::{parse_signal, signal_name, SignalError};
pub use spec::{SpecError, OCI_VERSION};
pub use state::{default_root, State, Status, DEFAULT_ROOT};
pub use stdio::Stdio;
pub use template::default_spec;
pub use trace::Trace;

/// The current time as RFC 3339 with nanoseconds, as runc's log lines and `created` have it.
#[doc(hidden)]
pub use time::rfc3339_now;
