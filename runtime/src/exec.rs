//! `exec`: a new process in a running container, the API ([`Container::exec`], its options and
//! the runc command line's form of a process). One fork: the parent (`launch::exec`) joins the
//! container's pid namespace around it (setns on a pid namespace only affects children) and puts
//! the child in the container's cgroup meanwhile; the child (`init::exec`) joins the other
//! namespaces and the container's root, becomes the process's identity and execs.
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Capability, Process, User};

use crate::container::Container;
use crate::error::{sys_err, Error, Result};
use crate::init::exec::ExecPlan;
use crate::plan::process::plan_process;
use crate::state::Status;
use crate::stdio::{ChildFds, Stdio};

/// Options of [`Container::exec`], mirroring runc's `exec` flags that are not part of the process.
#[derive(Debug, Default)]
pub struct ExecOptions {
    /// Do not wait for the process (`-d/--detach`).
    pub detach: bool,
    /// Write the process's host pid here (`--pid-file`).
    pub pid_file: Option<PathBuf>,
    /// Send the pty master here when the process has `terminal: true` (`--console-socket`).
    pub console_socket: Option<PathBuf>,
    /// Pass fds 3..3+N to the process (`--preserve-fds`).
    pub preserve_fds: u32,
    /// Allow exec into a paused container (`--ignore-paused`).
    pub ignore_paused: bool,
    /// Socket-activation fds, as [`crate::CreateOptions::listen_fds`].
    pub listen_fds: u32,
    /// The process's stdin, stdout and stderr; by default the caller's own fds 0–2.
    pub stdio: Stdio,
}

/// The command-line form of an exec (`exec [flags] ID CMD...`): applied on top of the
/// container's own `process`, as runc does.
#[derive(Debug, Clone, Default)]
pub struct ExecArgs {
    /// The command and its arguments.
    pub args: Vec<String>,
    /// `-e KEY=value`, added to (or replacing in) the container's env.
    pub env: Vec<String>,
    /// `--cwd`.
    pub cwd: Option<PathBuf>,
    /// `-u uid[:gid]`.
    pub user: Option<(u32, Option<u32>)>,
    /// `--additional-gids`.
    pub additional_gids: Vec<u32>,
    /// `-c/--cap`: capabilities added to every set but ambient.
    pub caps: Vec<String>,
    /// `-t/--tty`.
    pub tty: bool,
    /// `--no-new-privs`.
    pub no_new_privs: bool,
    /// `--apparmor`: replaces the container's `process.apparmorProfile`.
    pub apparmor: Option<String>,
    /// `--process-label`: replaces the container's `process.selinuxLabel`.
    pub process_label: Option<String>,
}

/// A started exec process.
#[derive(Debug)]
pub struct ExecProcess {
    pid: libc::pid_t,
    /// The pty master of a foreground `exec -t` (sangja proxies it).
    console: Option<OwnedFd>,
}

impl ExecProcess {
    /// Host pid of the process.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Wait for it to exit and reap it (it is a child of this process); the exit code as a
    /// shell reports it. Like [`crate::Container::wait`], it touches no signal mask.
    pub fn wait(&self) -> Result<i32> {
        if self.console.is_some() {
            return self.wait_forwarding_signals();
        }
        crate::wait::reap(self.pid).map_err(|e| Error::Sys {
            call: "waitpid",
            path: PathBuf::new(),
            source: e.into(),
        })
    }

    /// Wait as a foreground `exec` does: forwarding signals (see
    /// [`crate::Container::wait_forwarding_signals`]) and proxying a kept pty.
    pub fn wait_forwarding_signals(&self) -> Result<i32> {
        crate::wait::forward_until_exit(self.pid, self.console.as_ref().map(|c| c.as_fd())).map_err(
            |e| Error::Sys {
                call: "wait",
                path: PathBuf::new(),
                source: e.into(),
            },
        )
    }
}

/// The namespaces an exec joins, in setns order (mount last, after the paths are opened; the user
/// namespace where the child can, see `init::exec`).
const NAMESPACES: [(&str, libc::c_int); 7] = [
    ("user", libc::CLONE_NEWUSER),
    ("time", libc::CLONE_NEWTIME),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("mnt", libc::CLONE_NEWNS),
];

fn ns_differs(pid: i32, name: &str) -> bool {
    let ours = fs::metadata(format!("/proc/self/ns/{name}")).map(|m| m.ino());
    let theirs = fs::metadata(format!("/proc/{pid}/ns/{name}")).map(|m| m.ino());
    matches!((ours, theirs), (Ok(a), Ok(b)) if a != b)
}

impl Container {
    /// The process `exec` would run for command-line arguments: the container's `process` with
    /// `args` replaced and the flags applied.
    pub fn exec_process(&self, a: &ExecArgs) -> Result<Process> {
        let mut p = self.rec.process.clone().unwrap_or_default();
        if a.args.is_empty() {
            return Err(Error::Usage("exec: a command is required".into()));
        }
        p.set_args(Some(a.args.clone()));
        let mut env = p.env().clone().unwrap_or_default();
        for e in &a.env {
            let key = e.split('=').next().unwrap_or("");
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        p.set_env(Some(env));
        if let Some(cwd) = &a.cwd {
            p.set_cwd(cwd.clone());
        }
        if let Some((uid, gid)) = a.user {
            let mut u = User::default();
            u.set_uid(uid);
            u.set_gid(gid.unwrap_or(0));
            p.set_user(u);
        }
        if !a.additional_gids.is_empty() {
            p.user_mut()
                .set_additional_gids(Some(a.additional_gids.clone()));
        }
        if !a.caps.is_empty() {
            let mut caps = p.capabilities().clone().unwrap_or_default();
            for name in &a.caps {
                let bare = name.strip_prefix("CAP_").unwrap_or(name);
                let c: Capability = bare
                    .parse()
                    .map_err(|_| Error::Usage(format!("exec: unknown capability {name:?}")))?;
                // As runc: bounding, effective and permitted; ambient only when the spec has an
                // inheritable set (ambient needs inheritable), never inheritable itself.
                let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                    let mut s = set.clone().unwrap_or_default();
                    s.insert(c);
                    Some(s)
                };
                caps.set_bounding(add(caps.bounding()));
                caps.set_effective(add(caps.effective()));
                caps.set_permitted(add(caps.permitted()));
                if caps.inheritable().is_some() {
                    caps.set_ambient(add(caps.ambient()));
                }
            }
            p.set_capabilities(Some(caps));
        }
        p.set_terminal(Some(a.tty));
        if a.no_new_privs {
            p.set_no_new_privileges(Some(true));
        }
        if let Some(profile) = &a.apparmor {
            p.set_apparmor_profile(Some(profile.clone()));
        }
        if let Some(label) = &a.process_label {
            p.set_selinux_label(Some(label.clone()));
        }
        Ok(p)
    }

    /// Start `process` inside the container: it joins every namespace and the cgroup of the
    /// init, the container's root, and gets the process's identity, capabilities, rlimits and
    /// no_new_privs. Returns once the process has exec'd (or with the reason it could not).
    pub fn exec(&self, process: &Process, opts: &ExecOptions) -> Result<ExecProcess> {
        let terminal = self.check_exec(process, opts)?;
        let process = self.with_inherited_lsm(process);
        let plan = self.exec_plan(&process, opts)?;
        let pid_ns = self.pid_ns()?;
        // In the foreground without a socket, sangja keeps the pty master and proxies it.
        let (console, own_console_sock) = match &opts.console_socket {
            Some(path) => (Some(crate::console_socket::connect(path)?), None),
            None if terminal => {
                let (ours, theirs) = crate::console_socket::pair()?;
                (Some(theirs), Some(ours))
            }
            None => (None, None),
        };
        let join = match &self.rec.cgroup {
            Some(cg) if self.status() == Status::Paused => crate::join::Join::open_paused(cg)?,
            Some(cg) => crate::join::Join::open(cg)?,
            None => crate::join::Join::default(),
        };
        let stdio = opts.stdio.for_child(3 + plan.preserve_fds).map_err(|e| {
            crate::launch::LaunchError::Parent {
                call: "dup stdio",
                source: e,
            }
        })?;
        let child = crate::launch::exec::spawn(&plan, pid_ns, ChildFds { console, stdio }, &join)?;
        let console = own_console_sock
            .as_ref()
            .map(crate::console_socket::receive)
            .transpose()?;
        if let Some(p) = &opts.pid_file {
            crate::container::write_pid_file(p, child)?;
        }
        Ok(ExecProcess {
            pid: child,
            console,
        })
    }

    /// Refuse an exec the container's status or the options rule out, as runc does; validate the
    /// process. Returns `process.terminal`.
    fn check_exec(&self, process: &Process, opts: &ExecOptions) -> Result<bool> {
        match self.status() {
            Status::Stopped => {
                return Err(Error::BadStatus(
                    "cannot exec in a stopped container".into(),
                ))
            }
            Status::Paused if !opts.ignore_paused => {
                return Err(Error::BadStatus(
                    "cannot exec in a paused container (use --ignore-paused to override)".into(),
                ))
            }
            _ => {}
        }
        let terminal = process.terminal().unwrap_or(false);
        if terminal && opts.detach && opts.console_socket.is_none() {
            return Err(Error::Usage(
                "cannot allocate tty if runc will detach without setting console socket".into(),
            ));
        }
        if opts.console_socket.is_some() && (!terminal || !opts.detach) {
            return Err(Error::Usage(
                "cannot use console socket if runc will not detach or allocate tty".into(),
            ));
        }
        opts.stdio
            .check_terminal(terminal)
            .map_err(|m| Error::Usage(m.into()))?;
        crate::spec::validate_process(process)?;
        Ok(terminal)
    }

    /// As runc: without its own profile or label, the process gets the container's.
    fn with_inherited_lsm(&self, process: &Process) -> Process {
        let mut process = process.clone();
        let inherited = self.rec.process.as_ref();
        if process
            .apparmor_profile()
            .as_deref()
            .unwrap_or("")
            .is_empty()
        {
            process.set_apparmor_profile(inherited.and_then(|p| p.apparmor_profile().clone()));
        }
        if process.selinux_label().as_deref().unwrap_or("").is_empty() {
            process.set_selinux_label(inherited.and_then(|p| p.selinux_label().clone()));
        }
        process
    }

    /// Plan the process and open what the child joins: the container's namespaces that differ
    /// from ours and its root, through `/proc/<pid>`.
    fn exec_plan(&self, process: &Process, opts: &ExecOptions) -> Result<ExecPlan> {
        let pid = self.rec.pid;
        let proc_root = PathBuf::from(format!("/proc/{pid}/root"));
        let mut planned = plan_process(process, &proc_root, opts.listen_fds, false)?;
        // A rootless container's user namespace may deny setgroups (its gid map is the
        // caller's own gid alone): read from the init, as the kernel has it.
        if crate::plan::rootless::Caller::current().is_some() {
            let denied = fs::read_to_string(format!("/proc/{pid}/setgroups"))
                .is_ok_and(|s| s.trim() == "deny");
            planned.groups = crate::plan::rootless::groups(planned.groups.take(), denied)?;
        }
        Ok(ExecPlan {
            process: planned,
            namespaces: NAMESPACES
                .iter()
                .filter(|(name, _)| ns_differs(pid, name))
                .map(|(name, flag)| {
                    let p = format!("/proc/{pid}/ns/{name}");
                    fs::File::open(&p)
                        .map(|f| (OwnedFd::from(f), *flag))
                        .map_err(sys_err("open", p))
                })
                .collect::<Result<_>>()?,
            root: fs::File::open(&proc_root)
                .map(OwnedFd::from)
                .map_err(sys_err("open", &proc_root))?,
            preserve_fds: opts.listen_fds + opts.preserve_fds,
            seccomp: crate::seccomp::plan(self.rec.seccomp.as_ref(), || {
                crate::seccomp::ContainerRef {
                    oci_version: self.rec.oci_version.clone(),
                    id: self.rec.id.clone(),
                    bundle: self.rec.bundle.clone(),
                    annotations: self.rec.annotations.clone(),
                }
            })?,
        })
    }

    /// The container's pid namespace, when it is not ours: the parent joins it around the fork.
    fn pid_ns(&self) -> Result<Option<crate::join::PidNs>> {
        let pid = self.rec.pid;
        if !ns_differs(pid, "pid") {
            return Ok(None);
        }
        let own = fs::File::open("/proc/self/ns/pid_for_children")
            .map_err(sys_err("open", "/proc/self/ns/pid_for_children"))?;
        let target = format!("/proc/{pid}/ns/pid");
        let theirs = fs::File::open(&target).map_err(sys_err("open", &target))?;
        Ok(Some(crate::join::PidNs {
            own: own.into(),
            target: theirs.into(),
        }))
    }
}

/// Read a runtime-spec process JSON (`exec --process FILE`), naming the JSON path of a bad field.
pub fn process_from_file(path: &Path) -> Result<Process> {
    let mut text = fs::read(path).map_err(sys_err("read", path))?;
    // As runc (Go's zero value): a process without `user` runs as uid 0, gid 0.
    if let Ok(serde_json::Value::Object(mut o)) = serde_json::from_slice(&text) {
        if !o.contains_key("user") {
            o.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
            text = serde_json::to_vec(&o).unwrap_or(text);
        }
    }
    crate::spec::json::parse(&text, &path.display().to_string()).map_err(|(field, message)| {
        Error::Spec(crate::spec::SpecError::Parse {
            path: path.to_path_buf(),
            field,
            message,
        })
    })
}
