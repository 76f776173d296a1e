//! `create`: validate, plan, create the cgroup, clone the init and wait until it has set
//! everything up and blocks on the exec fifo. Everything that can fail cheaply fails in
//! [`prepare`], before the first side effect; after it, [`Undo`] removes what was made if a later
//! step fails, and the `creating` record (crate::creating) covers a runtime killed meanwhile.
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use super::{write_pid_file, Container};
use crate::bundle::Bundle;
use crate::cgroups::{systemd, Cgroup, Host, UnitStart, UnitTimes};
use crate::creating::Journal;
use crate::error::{sys_err, Error, Result};
use crate::join::Join;
use crate::launch::{LaunchError, RuntimeHooks, Spawned};
use crate::plan::rootless::Caller;
use crate::plan::{Plan, PlanInput};
use crate::state::{Record, State, StateError, Status, FIFO_FILE};
use crate::stdio::{ChildFds, Stdio};
use crate::sys::{self, Errno};
use crate::trace::Trace;

/// Options of [`Container::create`], mirroring runc's `create` flags; [`crate::ContainerBuilder`]
/// sets them one by one.
#[derive(Debug)]
pub struct CreateOptions {
    /// State root; one directory per container lives below it (runc's `--root`).
    pub root: PathBuf,
    /// Write the init's host pid here once the container is created (`--pid-file`).
    pub pid_file: Option<PathBuf>,
    /// Unix socket to send the pty master to when `process.terminal` is true (`--console-socket`).
    pub console_socket: Option<PathBuf>,
    /// Use `MS_MOVE` + `chroot` instead of `pivot_root` (`--no-pivot`).
    pub no_pivot: bool,
    /// Do not create a fresh session keyring for the container (`--no-new-keyring`).
    pub no_new_keyring: bool,
    /// Pass fds 3..3+N of the caller to the container process (`--preserve-fds`).
    pub preserve_fds: u32,
    /// The caller will wait for the container in the foreground (`run` without `--detach`): a
    /// `terminal: true` process then needs no console socket; sangja proxies the pty itself.
    pub foreground: bool,
    /// Record per-phase timings ([`Container::trace`]).
    pub trace: bool,
    /// Socket activation: the caller's `LISTEN_FDS` (when its `LISTEN_PID` is the caller). These
    /// fds come first (from 3), then the preserved ones; the process gets `LISTEN_FDS` and
    /// `LISTEN_PID=1`, as runc does.
    pub listen_fds: u32,
    /// The process's stdin, stdout and stderr; by default the caller's own fds 0–2.
    pub stdio: Stdio,
    /// Run none of the config's hooks (the embedder does what they would).
    pub no_hooks: bool,
    /// Who makes the container's cgroup (runc's `--systemd-cgroup` picks systemd).
    pub cgroup_driver: CgroupDriver,
    /// runc's `--rootless`: whether the cgroup is made only where it is delegated.
    pub rootless: Rootless,
}

/// runc's `--rootless auto|true|false`: a rootless container's cgroup is made only in the
/// hierarchies delegated to the caller (see [`Cgroup::delegated_to`]), the others left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Rootless {
    /// When the caller is not root.
    #[default]
    Auto,
    /// Always.
    True,
    /// Never: every hierarchy is made, and a cgroup the caller may not make is an error.
    False,
}

impl Rootless {
    /// Does it apply to `caller` (`None`: root)?
    pub fn applies(self, caller: Option<&Caller>) -> bool {
        match self {
            Rootless::Auto => caller.is_some(),
            Rootless::True => true,
            Rootless::False => false,
        }
    }
}

/// Who makes the container's cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CgroupDriver {
    /// The runtime, writing the cgroup filesystem (`linux.cgroupsPath` is a path, default
    /// `/sangja/<id>`).
    #[default]
    Cgroupfs,
    /// systemd: a transient scope unit with the init in it (`linux.cgroupsPath` is
    /// `slice:prefix:name`, default `:sangja:<id>`), over D-Bus; cgroup v2 hosts.
    Systemd,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            root: PathBuf::from(crate::state::DEFAULT_ROOT),
            pid_file: None,
            console_socket: None,
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
            listen_fds: 0,
            foreground: false,
            trace: false,
            stdio: Stdio::default(),
            no_hooks: false,
            cgroup_driver: CgroupDriver::Cgroupfs,
            rootless: Rootless::Auto,
        }
    }
}

/// Where the config comes from.
#[derive(Debug)]
pub(crate) enum Source<'a> {
    /// A bundle directory with `config.json`.
    Bundle(&'a Path),
    /// A spec in memory, and the directory its relative paths resolve against (the bundle).
    Spec(Box<Spec>, &'a Path),
}

/// What `create` decided before its first side effect.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The bundle and its spec (hooks removed with [`CreateOptions::no_hooks`]).
    pub bundle: Bundle,
    /// The container's cgroup, not yet created.
    pub cgroup: Cgroup,
    /// `<root>/<id>`.
    pub dir: PathBuf,
    /// The plan the init executes.
    pub plan: Plan,
    /// `process.terminal`: the init gets a pty.
    pub terminal: bool,
    /// Under the systemd driver: what the unit is started with, checked already.
    pub unit: Option<UnitStart>,
}

/// Validate the id, the config and the options and build the plan: reads, but changes nothing.
pub(crate) fn prepare(id: &str, source: Source<'_>, opts: &CreateOptions) -> Result<Prepared> {
    super::validate_id(id)?;
    let mut bundle = match source {
        Source::Bundle(dir) => Bundle::load(dir)?,
        Source::Spec(spec, dir) => Bundle::new(dir, *spec)?,
    };
    if opts.no_hooks {
        bundle.spec.set_hooks(None);
    }
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    opts.stdio
        .check_terminal(terminal)
        .map_err(|m| Error::Usage(m.into()))?;
    crate::spec::validate(
        &bundle.spec,
        opts.console_socket.is_some(),
        !opts.foreground,
    )?;
    let caller = Caller::current();
    if let Some(c) = &caller {
        super::rootless::check(&bundle.spec, c)?;
    }
    let host = Host::detect()?;
    let (mut cgroup, unit) = container_cgroup(&bundle.spec, id, &host, opts.cgroup_driver)?;
    if opts.rootless.applies(caller.as_ref()) && unit.is_none() {
        cgroup = cgroup.delegated_to(nix::unistd::geteuid().as_raw(), &host);
    }
    let dir = opts.root.join(id);
    let plan = Plan::build(
        &bundle.spec,
        &PlanInput {
            id,
            bundle: &bundle.dir,
            rootfs: &bundle.rootfs,
            fifo: &dir.join(FIFO_FILE),
            cgroups: Some((&host, &cgroup)),
            no_pivot: opts.no_pivot,
            no_new_keyring: opts.no_new_keyring,
            preserve_fds: opts.preserve_fds,
            listen_fds: opts.listen_fds,
            trace: opts.trace,
            caller: caller.as_ref(),
        },
    )?;
    Ok(Prepared {
        bundle,
        cgroup,
        dir,
        plan,
        terminal,
        unit,
    })
}

/// The container's cgroup as `linux.cgroupsPath` names it for `driver` (not made yet), and under
/// systemd what its unit is started with, every value checked (the annotations first: bad input
/// is named before a host that cannot run the driver).
fn container_cgroup(
    spec: &Spec,
    id: &str,
    host: &Host,
    driver: CgroupDriver,
) -> Result<(Cgroup, Option<UnitStart>)> {
    let path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(match driver {
        CgroupDriver::Cgroupfs if path.is_empty() => {
            (Cgroup::new(host, &format!("/sangja/{id}")), None)
        }
        CgroupDriver::Cgroupfs => (Cgroup::new(host, &path), None),
        CgroupDriver::Systemd => {
            let annotated = systemd::props::annotation_properties(spec.annotations().as_ref())?;
            let cgroup = Cgroup::systemd(host, &path, id)?;
            let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
            let start = cgroup.unit_start(resources, annotated)?;
            (cgroup, Some(start))
        }
    })
}

/// The systemd unit's start in the init's clone callback: what it is started with (taken when
/// used), then, once started, when it began, when its parts ended and when it ended (the trace).
struct UnitStep {
    start: Option<UnitStart>,
    done: Option<(u64, UnitTimes, u64)>,
}

/// Removes what a failed `create` made, in reverse order.
struct Undo<'a> {
    dir: Option<&'a Path>,
    cgroup: Option<&'a Cgroup>,
    pid: Option<libc::pid_t>,
}

impl Undo<'_> {
    /// The container is created: keep everything.
    fn disarm(&mut self) {
        self.pid = None;
        self.cgroup = None;
        self.dir = None;
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::waitpid(pid, 0);
        }
        if let Some(cg) = self.cgroup {
            if let Err(e) = cg.remove() {
                log::warn!("cleanup: {e}");
            }
        }
        if let Some(dir) = self.dir {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

fn mark(trace: &mut Option<Trace>, phase: &'static str) {
    if let Some(t) = trace {
        t.mark(phase)
    }
}

impl Container {
    /// Create a container from the bundle directory: validate, plan, create the cgroup, clone
    /// the init and wait until it has set everything up and blocks on the exec fifo. On any
    /// error nothing is left behind (no state directory, cgroup, mount or process).
    pub fn create(id: &str, bundle: impl AsRef<Path>, opts: &CreateOptions) -> Result<Container> {
        Container::create_from(id, Source::Bundle(bundle.as_ref()), opts)
    }

    /// [`Container::create`] from either source.
    pub(crate) fn create_from(
        id: &str,
        source: Source<'_>,
        opts: &CreateOptions,
    ) -> Result<Container> {
        let mut trace = opts.trace.then(Trace::start);
        let mut p = prepare(id, source, opts)?;
        let mut unit = UnitStep {
            start: p.unit.take(),
            done: None,
        };
        mark(&mut trace, "parse");
        // Side effects start here; `undo` removes them if anything below fails.
        make_state_dir(&opts.root, &p.dir)?;
        let mut undo = Undo {
            dir: Some(&p.dir),
            cgroup: None,
            pid: None,
        };
        // Written down before the cgroup exists, so that `delete --force` can find it whenever
        // this process is killed from here on.
        let mut journal = Journal::begin(&p.dir, &p.cgroup)?;
        make_fifos(&p)?;
        mark(&mut trace, "plan+statedir");
        let linux = p.bundle.spec.linux().as_ref();
        p.cgroup
            .create(linux.and_then(|l| l.resources().as_ref()))?;
        mark(&mut trace, "cgroup");
        undo.cgroup = Some(&p.cgroup);
        // A systemd unit is started with the init in it, after the clone.
        let join = match p.cgroup.unit {
            Some(_) => Join::default(),
            None => Join::open(&p.cgroup)?,
        };
        let (console, own_console_sock) = console_for(p.terminal, opts)?;
        let spawned = spawn_init(&p, id, opts, &join, console, &mut journal, &mut unit);
        if let (Some(t), Some((a, u, b))) = (trace.as_mut(), unit.done) {
            t.span("parent:systemd-unit", a, b);
            t.span("parent:systemd-version", a, u.asked);
            t.span("parent:systemd-call", u.asked, u.replied);
            t.span("parent:systemd-job", u.replied, u.started);
            t.span("parent:systemd-files", u.started, b);
        }
        let (spawned, saved) = spawned?;
        let pid = spawned.pid;
        trace_init(&mut trace, &spawned);
        undo.pid = Some(pid);
        let own_console = own_console_sock
            .as_ref()
            .map(crate::console_socket::receive)
            .transpose()?;
        drop(join);
        let Some(rec) = saved else {
            return Err(LaunchError::Died(0).into());
        };
        // Created: no longer `creating` (a kill before this unlink leaves a container that
        // `state` reports as creating and `delete --force` removes).
        let _ = fs::remove_file(p.dir.join(crate::creating::CREATING_FILE));
        mark(&mut trace, "state");
        if let Some(path) = &opts.pid_file {
            write_pid_file(path, pid)?;
        }
        undo.disarm();
        log::debug!("created container {id}: init pid {pid}");
        Ok(Container {
            dir: p.dir.clone(),
            rec,
            is_child: true,
            console: own_console,
            trace,
        })
    }
}

/// Clone the init with its stdio copies, the pty's way out (`console`) and the runtime hooks,
/// and wait until it is ready. Returns it and its state.json record, `None` when the init was gone
/// before its pid could be recorded. On failure the init has been killed and reaped.
fn spawn_init(
    p: &Prepared,
    id: &str,
    opts: &CreateOptions,
    join: &Join,
    console: Option<OwnedFd>,
    journal: &mut Journal,
    unit: &mut UnitStep,
) -> Result<(Spawned, Option<Record>)> {
    let stdio = opts
        .stdio
        .for_child(3 + p.plan.preserve_fds)
        .map_err(|e| launch_parent("dup stdio", e))?;
    let created = crate::time::rfc3339_now();
    let hooks = p.plan.need_hooks.then(|| runtime_hooks(p, id, &created));
    // state.json is written while the init sets up, right after the clone (built then too,
    // so that none of it is in the init's memory); the `creating` record, removed once the
    // init is ready, makes it `creating` meanwhile.
    let mut saved: Option<Result<Record, StateError>> = None;
    let spawned = crate::launch::spawn(
        &p.plan,
        join,
        ChildFds { console, stdio },
        hooks.as_ref(),
        &mut |pid| {
            let start = journal.init_cloned(pid).map_err(|e| {
                let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
                LaunchError::Parent {
                    call: "record the init's pid",
                    source: errno,
                }
            })?;
            if start == 0 {
                // Gone already: nothing to save; its message on the channel says why.
                return Ok(());
            }
            let rec = record(p, id, pid, start, &created);
            let r = rec.save(&p.dir).map(|()| rec);
            let ok = r.is_ok();
            saved = Some(r);
            if !ok {
                return Err(LaunchError::Parent {
                    call: "write state.json",
                    source: Errno::EIO,
                });
            }
            let Some(start) = unit.start.take() else {
                return Ok(());
            };
            let began = crate::trace::now_ns();
            let times = p.cgroup.start_unit(id, pid, start)?;
            unit.done = Some((began, times, crate::trace::now_ns()));
            Ok(())
        },
    );
    let saved = saved.transpose()?;
    let spawned = spawned.map_err(|e| explain_death(e, p))?;
    Ok((spawned, saved))
}

fn launch_parent(call: &'static str, source: Errno) -> Error {
    LaunchError::Parent { call, source }.into()
}

/// The state root (0700, made if missing) and the container's directory in it (0711; taken ids
/// are `container with given ID already exists`).
fn make_state_dir(root: &Path, dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(sys_err("mkdir", root))?;
    match fs::DirBuilder::new().mode(0o711).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::AlreadyExists),
        Err(e) => Err(sys_err("mkdir", dir)(e)),
    }
}

/// The result fifo (see [`crate::state::RESULT_FILE`]) and the exec fifo `start` writes to.
fn make_fifos(p: &Prepared) -> Result<()> {
    let fifo = |path: &std::ffi::CStr, mode, name: &str| {
        sys::mkfifo(path, mode).map_err(|e| Error::Sys {
            call: "mkfifo",
            path: p.dir.join(name),
            source: e.into(),
        })
    };
    fifo(&p.plan.result_fifo, 0o600, crate::state::RESULT_FILE)?;
    fifo(&p.plan.fifo, 0o622, FIFO_FILE)
}

/// The pty's way out: to `--console-socket`, or kept by a foreground `run` of a terminal
/// process (ours, theirs). Neither without a terminal.
fn console_for(terminal: bool, opts: &CreateOptions) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    Ok(match &opts.console_socket {
        Some(path) => (Some(crate::console_socket::connect(path)?), None),
        None if terminal && opts.foreground => {
            let (ours, theirs) = crate::console_socket::pair()?;
            (Some(theirs), Some(ours))
        }
        None => (None, None),
    })
}

/// prestart and createRuntime hooks, run by the parent when the init asks, with their state.
#[allow(deprecated)]
fn runtime_hooks<'a>(p: &'a Prepared, id: &str, created: &str) -> RuntimeHooks<'a> {
    let spec = &p.bundle.spec;
    let hooks = spec.hooks().as_ref();
    RuntimeHooks {
        prestart: hooks.and_then(|h| h.prestart().as_deref()).unwrap_or(&[]),
        create_runtime: hooks
            .and_then(|h| h.create_runtime().as_deref())
            .unwrap_or(&[]),
        state: State {
            oci_version: spec.version().clone(),
            id: id.to_string(),
            pid: 0,
            status: Status::Creating,
            bundle: p.bundle.dir.clone(),
            rootfs: p.bundle.rootfs.clone(),
            created: created.to_string(),
            annotations: spec.annotations().clone().unwrap_or_default(),
            owner: String::new(),
        },
    }
}

/// What state.json holds for the init `pid` (started at `pid_start`, in clock ticks).
fn record(p: &Prepared, id: &str, pid: i32, pid_start: u64, created: &str) -> Record {
    let spec = &p.bundle.spec;
    let linux = spec.linux().as_ref();
    let memory = linux.and_then(|l| l.resources().as_ref()?.memory().as_ref());
    Record {
        oci_version: spec.version().clone(),
        id: id.to_string(),
        pid,
        pid_start,
        bundle: p.bundle.dir.clone(),
        rootfs: p.bundle.rootfs.clone(),
        created: created.to_string(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup: Some(p.cgroup.clone()),
        own_pid_ns: p.plan.new_namespaces() & libc::CLONE_NEWPID as u64 != 0,
        process: spec.process().clone(),
        hooks: spec.hooks().clone(),
        seccomp: linux.and_then(|l| l.seccomp().clone()),
        check_before_update: memory
            .and_then(|m| m.check_before_update())
            .unwrap_or(false),
    }
}

/// An init killed before it reported, in a cgroup that just saw an OOM kill: say so (runc
/// reports the limit it could not set; ours is set before the init joins).
fn explain_death(e: LaunchError, p: &Prepared) -> Error {
    match e {
        LaunchError::Died(status) if libc::WIFSIGNALED(status) && p.cgroup.oom_kills() > 0 => {
            let limit = p
                .bundle
                .spec
                .linux()
                .as_ref()
                .and_then(|l| l.resources().as_ref()?.memory().as_ref()?.limit())
                .unwrap_or(0);
            LaunchError::OomKilled { limit }.into()
        }
        e => e.into(),
    }
}

/// The init's phases run while the parent joins it to its cgroup: both are shown, in the order
/// they ended.
fn trace_init(trace: &mut Option<Trace>, spawned: &Spawned) {
    let (Some(t), Some([mounts, pivot, ready])) = (trace.as_mut(), spawned.init_times) else {
        return;
    };
    let mut ends = [
        ("init:clone+mounts", mounts),
        ("init:pivot_root", pivot),
        ("init:identity+ready", ready),
        ("parent:cgroup-join", spawned.joined_ns),
    ];
    ends.sort_by_key(|e| e.1);
    for (phase, ns) in ends {
        t.mark_at(phase, ns);
    }
    t.mark("ready-received");
}
