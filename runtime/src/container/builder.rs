//! [`ContainerBuilder`]: how a Rust program creates a container — from a bundle directory or a
//! spec it holds in memory, with its own stdio fds, state root and options — without the CLI.
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use super::create::{prepare, CreateOptions, Source};
use super::Container;
use crate::error::{Error, Result};

/// Builds and creates a [`Container`].
///
/// ```no_run
/// use std::io::Read;
/// # fn main() -> sangja::Result<()> {
/// let (mut out, w) = std::io::pipe().expect("pipe");
/// let mut c = sangja::ContainerBuilder::new("hello")
///     .root("/run/my-tool")
///     .bundle("/path/to/bundle")
///     .stdout(w)
///     .create()?;
/// c.start()?;
/// let mut text = String::new();
/// out.read_to_string(&mut text).expect("read"); // EOF once the process exits
/// let code = c.wait()?;
/// c.delete(false)?;
/// # let _ = code; Ok(()) }
/// ```
///
/// Safe to use from several threads at once: each call clones its own init, whose code between
/// the clone and `execve` allocates, locks and logs nothing.
#[derive(Debug)]
pub struct ContainerBuilder {
    id: String,
    bundle: Option<PathBuf>,
    spec: Option<Box<Spec>>,
    opts: CreateOptions,
}

impl ContainerBuilder {
    /// A container named `id` (`[A-Za-z0-9_+.-]+`), under the default state root
    /// ([`crate::DEFAULT_ROOT`]).
    pub fn new(id: impl Into<String>) -> ContainerBuilder {
        ContainerBuilder {
            id: id.into(),
            bundle: None,
            spec: None,
            opts: CreateOptions::default(),
        }
    }

    /// The state root: one directory per container below it (runc's `--root`).
    pub fn root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.opts.root = dir.into();
        self
    }

    /// The bundle directory. Without [`ContainerBuilder::spec`] its `config.json` is read; with
    /// it, only the spec's relative paths (`root.path`) resolve against it.
    pub fn bundle(mut self, dir: impl Into<PathBuf>) -> Self {
        self.bundle = Some(dir.into());
        self
    }

    /// Create from this spec instead of a `config.json` (validated the same way). Its relative
    /// paths resolve against [`ContainerBuilder::bundle`], else the current directory (runc's
    /// default bundle).
    pub fn spec(mut self, spec: Spec) -> Self {
        self.spec = Some(Box::new(spec));
        self
    }

    /// The process's stdin (by default it inherits this process's fd 0).
    pub fn stdin(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.opts.stdio.stdin = Some(fd.into());
        self
    }

    /// The process's stdout (by default it inherits this process's fd 1). The container gets a
    /// copy: the builder's is closed when [`ContainerBuilder::create`] returns, so a pipe's
    /// reader sees end-of-file once the container's last writer exits.
    pub fn stdout(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.opts.stdio.stdout = Some(fd.into());
        self
    }

    /// The process's stderr (by default it inherits this process's fd 2).
    pub fn stderr(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.opts.stdio.stderr = Some(fd.into());
        self
    }

    /// Send the pty master of a `process.terminal` process to this unix socket
    /// (`--console-socket`).
    pub fn console_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.opts.console_socket = Some(path.into());
        self
    }

    /// Write the init's host pid here once created (`--pid-file`).
    pub fn pid_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.opts.pid_file = Some(path.into());
        self
    }

    /// Pass this process's fds 3..3+n to the container process (`--preserve-fds`).
    pub fn preserve_fds(mut self, n: u32) -> Self {
        self.opts.preserve_fds = n;
        self
    }

    /// Run the config's hooks (the default), or none of them.
    pub fn hooks(mut self, run: bool) -> Self {
        self.opts.no_hooks = !run;
        self
    }

    /// `MS_MOVE` + `chroot` instead of `pivot_root` (`--no-pivot`).
    pub fn no_pivot(mut self, yes: bool) -> Self {
        self.opts.no_pivot = yes;
        self
    }

    /// Keep this process's session keyring (`--no-new-keyring`).
    pub fn no_new_keyring(mut self, yes: bool) -> Self {
        self.opts.no_new_keyring = yes;
        self
    }

    /// Who makes the container's cgroup: the runtime (default) or systemd, a transient scope
    /// unit (runc's `--systemd-cgroup`; `linux.cgroupsPath` is then `slice:prefix:name`).
    pub fn cgroup_driver(mut self, driver: super::create::CgroupDriver) -> Self {
        self.opts.cgroup_driver = driver;
        self
    }

    /// Record per-phase timings ([`Container::trace`]).
    pub fn trace(mut self, yes: bool) -> Self {
        self.opts.trace = yes;
        self
    }

    /// The options as set so far.
    pub fn options(&self) -> &CreateOptions {
        &self.opts
    }

    /// Check the id, the config and the options as `create` would, changing nothing: no state
    /// directory, cgroup or process. Errors name the field (`mounts[2].destination`).
    pub fn validate(&self) -> Result<()> {
        let spec = self.spec.clone();
        prepare(&self.id, self.source(spec)?, &self.opts).map(drop)
    }

    /// Create the container (see [`Container::create`]): its init waits for
    /// [`Container::start`]. On error nothing is left behind.
    pub fn create(mut self) -> Result<Container> {
        let spec = self.spec.take();
        let source = self.source(spec)?;
        Container::create_from(&self.id, source, &self.opts)
    }

    /// Create and start: the process runs when this returns.
    pub fn run(self) -> Result<Container> {
        let mut c = self.create()?;
        if let Err(e) = c.start() {
            let _ = c.delete(true);
            return Err(e);
        }
        Ok(c)
    }

    fn source(&self, spec: Option<Box<Spec>>) -> Result<Source<'_>> {
        Ok(match (spec, &self.bundle) {
            (Some(spec), Some(dir)) => Source::Spec(spec, dir),
            (Some(spec), None) => Source::Spec(spec, Path::new(".")),
            (None, Some(dir)) => Source::Bundle(dir),
            (None, None) => {
                return Err(Error::Usage(
                    "ContainerBuilder: give a bundle directory or a spec".into(),
                ))
            }
        })
    }
}
