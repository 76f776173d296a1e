//! The public lifecycle: create, start, state, kill, delete, load, list, wait.
use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::bundle::Bundle;
use crate::cgroups::{Cgroup, Host};
use crate::error::{sys_err, Error, Result};
use crate::plan::{Plan, PlanInput};
use crate::state::{self, Record, StateError, Status, FIFO_FILE};
use crate::sys::{self, Errno};
use crate::State;

/// Options of [`Container::create`], mirroring runc's `create` flags.
#[derive(Debug, Clone)]
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
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            root: PathBuf::from(crate::DEFAULT_ROOT),
            pid_file: None,
            console_socket: None,
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
            listen_fds: 0,
            foreground: false,
            trace: false,
        }
    }
}

/// A container known to the state root.
///
/// Obtained from [`Container::create`], [`Container::load`] or [`Container::list`]; its status is
/// derived from the live init on every call, never trusted from disk.
#[derive(Debug)]
pub struct Container {
    /// `<root>/<id>`.
    pub(crate) dir: PathBuf,
    /// What state.json holds.
    pub(crate) rec: Record,
    /// The init is a child of this process (created here): `wait` can reap it.
    pub(crate) is_child: bool,
    /// Master of the init's pty, kept by a foreground `run` with `terminal: true`.
    pub(crate) console: Option<std::os::fd::OwnedFd>,
    /// Phase timings of the last operation, when tracing.
    pub(crate) trace: Option<crate::trace::Trace>,
}

/// Removes what a failed `create` made, in reverse order.
struct Undo<'a> {
    dir: Option<&'a Path>,
    cgroup: Option<&'a Cgroup>,
    pid: Option<libc::pid_t>,
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

/// Write `pid` to `path` atomically (temp file in the same directory, then rename), as runc.
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(sys_err("getcwd", path))?
            .join(path)
    };
    let name = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = abs.with_file_name(format!(".{name}.sangja-tmp"));
    fs::write(&tmp, pid.to_string()).map_err(sys_err("write pid file", &tmp))?;
    fs::rename(&tmp, &abs).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::Sys {
            call: "rename pid file",
            path: abs.clone(),
            source: e,
        }
    })
}

/// Wait until the init has exec'd (its end of the result fifo closes) or reports why not.
fn wait_for_exec(result: &fs::File) -> Result<()> {
    let mut msg = Vec::new();
    loop {
        if !sys::poll_one(result.as_fd(), libc::POLLIN, -1).unwrap_or(false) {
            return Ok(());
        }
        let mut buf = [0u8; 1024];
        match sys::read(result.as_fd(), &mut buf) {
            Ok(0) => break,
            Ok(n) => msg.extend_from_slice(&buf[..n]),
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    if msg.is_empty() {
        Ok(())
    } else {
        // The init wrote the whole reason (a startContainer hook, or loading seccomp).
        Err(Error::BadStatus(
            String::from_utf8_lossy(&msg).trim_end().to_string(),
        ))
    }
}

impl Container {
    /// Create a container from the bundle: validate, plan, create the cgroup, clone the init and
    /// wait until it has set everything up and blocks on the exec fifo. On any error nothing is
    /// left behind (no state directory, cgroup, mount or process).
    pub fn create(id: &str, bundle: impl AsRef<Path>, opts: &CreateOptions) -> Result<Container> {
        let mut trace = opts.trace.then(crate::trace::Trace::start);
        let mark = |t: &mut Option<crate::trace::Trace>, phase| {
            if let Some(t) = t {
                t.mark(phase)
            }
        };
        crate::spec::validate_id(id)?;
        let bundle = Bundle::load(bundle.as_ref())?;
        crate::spec::validate(
            &bundle.spec,
            opts.console_socket.is_some(),
            !opts.foreground,
        )?;
        let spec = &bundle.spec;
        let linux = spec.linux().as_ref();
        let host = Host::detect()?;
        let cgroups_path = linux
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| format!("/sangja/{id}"));
        let cgroup = Cgroup::new(&host, &cgroups_path);
        let dir = opts.root.join(id);
        let fifo = dir.join(FIFO_FILE);
        mark(&mut trace, "parse");
        let plan = Plan::build(
            spec,
            &PlanInput {
                id,
                bundle: &bundle.dir,
                rootfs: &bundle.rootfs,
                fifo: &fifo,
                cgroups: Some((&host, &cgroup)),
                no_pivot: opts.no_pivot,
                no_new_keyring: opts.no_new_keyring,
                preserve_fds: opts.preserve_fds,
                listen_fds: opts.listen_fds,
                trace: opts.trace,
            },
        )?;

        // Side effects start here; `undo` removes them if anything below fails.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&opts.root)
            .map_err(sys_err("mkdir", &opts.root))?;
        match fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::AlreadyExists)
            }
            Err(e) => return Err(sys_err("mkdir", &dir)(e)),
        }
        let mut undo = Undo {
            dir: Some(&dir),
            cgroup: None,
            pid: None,
        };
        // Written down before the cgroup exists, so that `delete --force` can find it whenever
        // this process is killed from here on.
        let mut journal = crate::creating::Journal::begin(&dir, &cgroup)?;
        let fifo_c = &plan.fifo;
        sys::mkfifo(&plan.result_fifo, 0o600).map_err(|e| Error::Sys {
            call: "mkfifo",
            path: dir.join(crate::state::RESULT_FILE),
            source: e.into(),
        })?;
        sys::mkfifo(fifo_c, 0o622).map_err(|e| Error::Sys {
            call: "mkfifo",
            path: fifo.clone(),
            source: e.into(),
        })?;
        mark(&mut trace, "plan+statedir");
        cgroup.create(linux.and_then(|l| l.resources().as_ref()))?;
        mark(&mut trace, "cgroup");
        undo.cgroup = Some(&cgroup);
        let join = crate::join::Join::open(&cgroup)?;
        let terminal = spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        // A foreground `run` of a terminal process keeps the pty master itself (no socket given).
        let (console, own_console_sock) = match &opts.console_socket {
            Some(path) => (Some(crate::console::connect(path)?), None),
            None if terminal && opts.foreground => {
                let (ours, theirs) = crate::console::pair()?;
                (Some(theirs), Some(ours))
            }
            None => (None, None),
        };
        let created = crate::time::rfc3339_now();
        #[allow(deprecated)]
        let runtime_hooks = plan.need_hooks.then(|| crate::launch::RuntimeHooks {
            prestart: spec
                .hooks()
                .as_ref()
                .and_then(|h| h.prestart().as_deref())
                .unwrap_or(&[]),
            create_runtime: spec
                .hooks()
                .as_ref()
                .and_then(|h| h.create_runtime().as_deref())
                .unwrap_or(&[]),
            state: State {
                oci_version: spec.version().clone(),
                id: id.to_string(),
                pid: 0,
                status: Status::Creating,
                bundle: bundle.dir.clone(),
                rootfs: bundle.rootfs.clone(),
                created: created.clone(),
                annotations: spec.annotations().clone().unwrap_or_default(),
                owner: String::new(),
            },
        });
        // Written while the init sets up, right after the clone (built then too, so that none of
        // it is in the init's memory); the `creating` record, removed once the init is ready,
        // makes it `creating` meanwhile.
        let mut saved: Option<Result<Record, StateError>> = None;
        let mut save = |pid, pid_start| {
            if pid_start == 0 {
                // Gone already: nothing to save; its message on the channel says why.
                return true;
            }
            let rec = Record {
                oci_version: spec.version().clone(),
                id: id.to_string(),
                pid,
                pid_start,
                bundle: bundle.dir.clone(),
                rootfs: bundle.rootfs.clone(),
                created: created.clone(),
                annotations: spec.annotations().clone().unwrap_or_default(),
                cgroup: Some(cgroup.clone()),
                own_pid_ns: plan.clone_flags & libc::CLONE_NEWPID as u64 != 0,
                process: spec.process().clone(),
                hooks: spec.hooks().clone(),
                seccomp: linux.and_then(|l| l.seccomp().clone()),
                check_before_update: linux
                    .and_then(|l| {
                        l.resources()
                            .as_ref()?
                            .memory()
                            .as_ref()?
                            .check_before_update()
                    })
                    .unwrap_or(false),
            };
            let r = rec.save(&dir).map(|()| rec);
            let ok = r.is_ok();
            saved = Some(r);
            ok
        };
        let spawned =
            crate::launch::spawn(&plan, &join, console, runtime_hooks.as_ref(), &mut |pid| {
                let start = journal.init_cloned(pid).map_err(|e| {
                    let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
                    ("record the init's pid", errno)
                })?;
                save(pid, start)
                    .then_some(())
                    .ok_or(("write state.json", Errno::EIO))
            });
        let saved = saved.transpose()?;
        let spawned = match spawned {
            Ok(s) => s,
            // An init killed before it reported, in a cgroup that just saw an OOM kill: say so
            // (runc reports the limit it could not set; ours is set before the init joins).
            Err(crate::launch::LaunchError::Died(status))
                if libc::WIFSIGNALED(status) && cgroup.oom_kills() > 0 =>
            {
                let limit = linux
                    .and_then(|l| l.resources().as_ref())
                    .and_then(|r| r.memory().as_ref())
                    .and_then(|m| m.limit())
                    .unwrap_or(0);
                return Err(crate::launch::LaunchError::OomKilled { limit }.into());
            }
            Err(e) => return Err(e.into()),
        };
        let pid = spawned.pid;
        if let (Some(t), Some([mounts, pivot, ready])) = (trace.as_mut(), spawned.init_times) {
            // The init's phases run while the parent joins it to its cgroup: both are shown,
            // in the order they ended.
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
        undo.pid = Some(pid);
        let own_console = own_console_sock
            .as_ref()
            .map(crate::console::receive)
            .transpose()?;
        drop(join);
        let Some(rec) = saved else {
            return Err(crate::launch::LaunchError::Died(0).into());
        };
        // Created: no longer `creating` (a kill before this unlink leaves a container that
        // `state` reports as creating and `delete --force` removes).
        let _ = fs::remove_file(dir.join(crate::creating::CREATING_FILE));
        mark(&mut trace, "state");
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, pid)?;
        }
        undo.pid = None;
        undo.cgroup = None;
        undo.dir = None;
        drop(undo);
        log::debug!("created container {id}: init pid {pid}");
        Ok(Container {
            dir,
            rec,
            is_child: true,
            console: own_console,
            trace,
        })
    }

    /// Load a container by id from a state root. Unknown ids fail with `container does not exist`.
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        crate::spec::validate_id(id)?;
        let dir = root.join(id);
        match Record::load(&dir)? {
            Some(rec) => Ok(Container {
                dir,
                rec,
                is_child: false,
                console: None,
                trace: None,
            }),
            None => Err(Error::NotExist),
        }
    }

    /// Every container in a state root, sorted by id. A missing root is an empty list.
    pub fn list(root: &Path) -> Result<Vec<Container>> {
        let entries = match fs::read_dir(root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StateError::Io {
                    op: "read",
                    path: root.to_path_buf(),
                    source,
                }
                .into())
            }
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let dir = entry.path();
            // Entries without state.json are still being created (or are debris): skip them.
            if let Ok(Some(rec)) = Record::load(&dir) {
                out.push(Container {
                    dir,
                    rec,
                    is_child: false,
                    console: None,
                    trace: None,
                });
            }
        }
        out.sort_by(|a, b| a.rec.id.cmp(&b.rec.id));
        Ok(out)
    }

    /// Record per-phase timings of the following operations (see [`Container::trace`]).
    pub fn enable_trace(&mut self) {
        self.trace.get_or_insert_with(crate::trace::Trace::start);
    }

    /// Phase timings of the last traced operation (`create` with [`CreateOptions::trace`], or
    /// `start` after [`Container::enable_trace`]).
    pub fn trace(&self) -> Option<&crate::trace::Trace> {
        self.trace.as_ref()
    }

    /// Container id.
    pub fn id(&self) -> &str {
        &self.rec.id
    }

    /// Host pid of the init as recorded at create (see [`Container::state`] for the live view).
    pub fn pid(&self) -> i32 {
        self.rec.pid
    }

    /// Absolute bundle path.
    pub fn bundle(&self) -> &Path {
        &self.rec.bundle
    }

    /// Status derived from the live process: init gone (or its pid reused) ⇒ stopped; exec fifo
    /// still present ⇒ created, or creating while `create` has not finished; frozen cgroup ⇒
    /// paused (one small read); otherwise running.
    pub fn status(&self) -> Status {
        if !state::init_alive(&self.rec) {
            Status::Stopped
        } else if self.dir.join(FIFO_FILE).exists() {
            if self.dir.join(crate::creating::CREATING_FILE).exists() {
                Status::Creating
            } else {
                Status::Created
            }
        } else if self.rec.cgroup.as_ref().is_some_and(|cg| cg.is_frozen()) {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// User name owning the state directory (runc's `owner` in `list`).
    pub fn owner(&self) -> String {
        let uid = fs::metadata(&self.dir).map(|m| m.uid()).unwrap_or(0);
        let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
        passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 2 && f[2].parse() == Ok(uid))
            .map(|f| f[0].to_string())
            .unwrap_or_else(|| format!("#{uid}"))
    }

    /// runc-shaped state (`owner` is empty, as runc's `state` prints it).
    pub fn state(&self) -> State {
        let status = self.status();
        State {
            oci_version: self.rec.oci_version.clone(),
            id: self.rec.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.rec.pid
            },
            status,
            bundle: self.rec.bundle.clone(),
            rootfs: self.rec.rootfs.clone(),
            created: self.rec.created.clone(),
            annotations: self.rec.annotations.clone(),
            owner: String::new(),
        }
    }

    /// Release the init waiting on the exec fifo: it then execs the container process.
    pub fn start(&mut self) -> Result<()> {
        if let Some(t) = self.trace.as_mut() {
            *t = crate::trace::Trace::start();
        }
        match self.status() {
            Status::Created => {}
            Status::Stopped => {
                return Err(Error::BadStatus(
                    "cannot start a container that has stopped".into(),
                ))
            }
            Status::Creating => {
                return Err(Error::BadStatus(
                    "cannot start a container that is still being created".into(),
                ))
            }
            _ => {
                return Err(Error::BadStatus(
                    "cannot start an already running container".into(),
                ))
            }
        }
        let fifo = self.dir.join(FIFO_FILE);
        let file = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&fifo)
            .map_err(|e| match e.raw_os_error() {
                // No reader: the init is gone.
                Some(libc::ENXIO) => {
                    Error::BadStatus("cannot start a container that has stopped".into())
                }
                Some(libc::ENOENT) => {
                    Error::BadStatus("cannot start an already running container".into())
                }
                _ => sys_err("open", &fifo)(e),
            })?;
        // With startContainer or poststart hooks, `start` waits until the process has exec'd: a
        // hook failure must fail `start`, and poststart must run after the exec. The result fifo
        // is opened while the init still holds its writer, so its execve (close-on-exec) shows as
        // a hang-up here; a failure arrives as text. Without such hooks `start` returns once the
        // init is released, as runc does (saves the init's exec time, ~0.7 ms, on the hot path).
        let hooks = self.rec.hooks.as_ref();
        let must_wait = hooks.is_some_and(|h| {
            [h.start_container(), h.poststart()]
                .iter()
                .any(|l| l.as_ref().is_some_and(|v| !v.is_empty()))
        });
        let result = if must_wait {
            let result_path = self.dir.join(crate::state::RESULT_FILE);
            fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(&result_path)
                .ok()
        } else {
            None
        };
        sys::write(file.as_fd(), b"0").map_err(|e| Error::Sys {
            call: "write",
            path: fifo.clone(),
            source: e.into(),
        })?;
        drop(file);
        if let Some(t) = self.trace.as_mut() {
            t.mark("fifo");
        }
        fs::remove_file(&fifo).map_err(sys_err("unlink", &fifo))?;
        if let Some(result) = result {
            wait_for_exec(&result)?;
            if let Some(t) = self.trace.as_mut() {
                t.mark("exec");
            }
        }
        if let Some(hooks) = self.rec.hooks.as_ref().and_then(|h| h.poststart().as_ref()) {
            let state = serde_json::to_vec(&self.state()).unwrap_or_default();
            crate::hooks::run_warn("poststart", hooks, &state, &self.rec.bundle);
        }
        Ok(())
    }

    /// Send a signal to the init, or with `all` to every process of the container's cgroup.
    pub fn kill(&self, signal: i32, all: bool) -> Result<()> {
        let stopped = self.status() == Status::Stopped;
        if all {
            // As runc: `--all` reaches whatever is left in the cgroup even after the init exited
            // (without a pid namespace its children outlive it), and succeeds when nothing is left
            // (containerd's shim sends `kill --all … 9` to stopped containers on cleanup).
            if let Some(cg) = &self.rec.cgroup {
                if !(stopped && cg.pids().is_empty()) {
                    cg.signal_all(signal);
                }
                return Ok(());
            }
        }
        if stopped {
            return Err(Error::NotRunning);
        }
        self.signal_init(signal)
    }

    fn signal_init(&self, signal: i32) -> Result<()> {
        let pidfd = match sys::pidfd_open(self.rec.pid) {
            Ok(fd) => fd,
            Err(Errno::ESRCH) => return Err(Error::NotRunning),
            Err(e) => {
                return Err(Error::Sys {
                    call: "pidfd_open",
                    path: PathBuf::new(),
                    source: e.into(),
                })
            }
        };
        // The pidfd pins the process: if its start time still matches, the signal cannot hit a
        // recycled pid.
        if !state::init_alive(&self.rec) {
            return Err(Error::NotRunning);
        }
        sys::pidfd_send_signal(pidfd.as_fd(), signal).map_err(|e| match e {
            Errno::ESRCH => Error::NotRunning,
            e => Error::Sys {
                call: "pidfd_send_signal",
                path: PathBuf::new(),
                source: e.into(),
            },
        })
    }

    /// Kill the init (and with no pid namespace of its own, the rest of the cgroup) and wait
    /// until it is gone.
    fn kill_and_wait(&self) {
        if let Ok(pidfd) = sys::pidfd_open(self.rec.pid) {
            if state::init_alive(&self.rec) {
                let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
                let _ = sys::poll_one(pidfd.as_fd(), libc::POLLIN, 10_000);
            }
        }
        if !self.rec.own_pid_ns {
            if let Some(cg) = &self.rec.cgroup {
                cg.signal_all(libc::SIGKILL);
            }
        }
        if self.is_child {
            let _ = sys::waitpid(self.rec.pid, libc::WNOHANG);
        }
    }

    /// Remove the container: its processes, cgroup and state directory. A running (or paused)
    /// container is refused unless `force`; a created one is killed, as runc does.
    pub fn delete(self, force: bool) -> Result<()> {
        let status = self.status();
        if matches!(status, Status::Creating | Status::Running | Status::Paused) && !force {
            return Err(Error::BadStatus(format!(
                "cannot delete container {} that is not stopped: {status}",
                self.rec.id
            )));
        }
        if status == Status::Paused {
            // A frozen init cannot act on SIGKILL: kill everything, then thaw.
            if let Some(cg) = &self.rec.cgroup {
                cg.signal_all(libc::SIGKILL);
            }
        }
        if status != Status::Stopped || !self.rec.own_pid_ns {
            self.kill_and_wait();
        }
        if let Some(cg) = &self.rec.cgroup {
            cg.remove()?;
        }
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => {}
            // A concurrent delete (e.g. `run`'s own, as its container exits) got there first and
            // runs the poststop hooks itself.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(sys_err("remove", &self.dir)(e)),
        }
        if let Some(hooks) = self.rec.hooks.as_ref().and_then(|h| h.poststop().as_ref()) {
            let mut state = self.state();
            state.status = Status::Stopped;
            state.pid = 0;
            let state = serde_json::to_vec(&state).unwrap_or_default();
            crate::hooks::run_warn("poststop", hooks, &state, &self.rec.bundle);
        }
        Ok(())
    }

    /// `delete --force` by id. A complete container is deleted as [`Container::delete`] with
    /// `force`; one whose `create` did not finish (killed, or still running in another process)
    /// is undone from the record `create` keeps for this (its init killed, its cgroup and state
    /// directory removed). An unknown id succeeds, as with runc: containerd and podman call this
    /// to clean up after exactly such failures. Concurrent and repeated calls succeed.
    pub fn force_delete(root: &Path, id: &str) -> Result<()> {
        match Container::load(root, id) {
            Ok(c) => c.delete(true),
            // `load` checked the id: joining it onto the root stays inside the root.
            Err(Error::NotExist) => crate::creating::undo(&root.join(id)),
            Err(e) => Err(e),
        }
    }

    /// Wait for the init, which must be a child of this process (after [`Container::create`] in
    /// the same process, as `run` does). Signals sent to this process meanwhile (INT, TERM, HUP,
    /// QUIT, USR1, USR2, WINCH) are forwarded to the init. Returns the exit code as a shell
    /// reports it (128 + signal for a killed process).
    pub fn wait(&self) -> Result<i32> {
        if !self.is_child {
            return Err(Error::Usage(
                "wait: the container's init is not a child of this process".into(),
            ));
        }
        crate::wait::forward_until_exit(self.rec.pid, self.console.as_ref().map(|c| c.as_fd()))
            .map_err(|e| Error::Sys {
                call: "wait",
                path: PathBuf::new(),
                source: e.into(),
            })
    }
}
