//! The public lifecycle of a [`Container`]: this file holds the handle and the verbs on a
//! container that exists (load, list, state, kill, delete, wait); the others add one verb each
//! and use only this one: `create` (with its options), `start`, `builder` (the embedder's
//! entry point), `resources` (the cgroup verbs: pause, resume, update, ps, stats, events).
use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{sys_err, Error, Result};
use crate::state::{self, Record, State, StateError, Status, FIFO_FILE};
use crate::sys::{self, Errno};

pub(crate) mod builder;
pub(crate) mod create;
pub(crate) mod resources;
mod rootless;
mod start;

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

/// Validate a container id as runc does: `[A-Za-z0-9_+.-]+`, not `.` or `..` (it names the
/// container's directory in the state root).
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
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

impl Container {
    /// Load a container by id from a state root. Unknown ids fail with `container does not exist`.
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        validate_id(id)?;
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

    /// Phase timings of the last traced operation (`create` with [`crate::CreateOptions::trace`], or
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

    /// Wait for the init to exit and reap it; it must be a child of this process (created by
    /// [`Container::create`] here). Returns the exit code as a shell reports it (128 + signal
    /// for a killed process). Changes no signal disposition or mask, so any thread may call it;
    /// a foreground terminal's pty (a CLI `run -t`) is proxied as by
    /// [`Container::wait_forwarding_signals`].
    pub fn wait(&self) -> Result<i32> {
        self.check_child()?;
        if self.console.is_some() {
            return self.wait_forwarding_signals();
        }
        crate::wait::reap(self.rec.pid).map_err(|e| Error::Sys {
            call: "waitpid",
            path: PathBuf::new(),
            source: e.into(),
        })
    }

    fn check_child(&self) -> Result<()> {
        if self.is_child {
            Ok(())
        } else {
            Err(Error::Usage(
                "wait: the container's init is not a child of this process".into(),
            ))
        }
    }

    /// [`Container::wait`] as runc's foreground `run` does it: signals sent to this process
    /// meanwhile (INT, TERM, HUP, QUIT, USR1, USR2, WINCH) are forwarded to the init instead of
    /// acting on this process (blocked in the calling thread and read from a signalfd: meant for
    /// a single-threaded program such as the CLI).
    pub fn wait_forwarding_signals(&self) -> Result<i32> {
        self.check_child()?;
        crate::wait::forward_until_exit(self.rec.pid, self.console.as_ref().map(|c| c.as_fd()))
            .map_err(|e| Error::Sys {
                call: "wait",
                path: PathBuf::new(),
                source: e.into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1_2.3+x").is_ok());
        for bad in ["", ".", "..", "../x", "a/b", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }
}
