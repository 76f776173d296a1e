//! `exec`: a new process in a running container. One fork: the parent joins the container's pid
//! namespace around it (setns on a pid namespace only affects children), the child joins the
//! other namespaces and the container's root, becomes the process's identity and execs; the
//! parent puts it in the container's cgroup meanwhile.
use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Capability, Process, User};

use crate::channel::Fail;
use crate::channel::{self, Message, Step};
use crate::container::Container;
use crate::error::{sys_err, Error, Result};
use crate::init::identity;
use crate::plan::process::{plan_process, ProcessPlan};
use crate::state::Status;
use crate::stdio::{ChildFds, Stdio};
use crate::sys::{self, Errno, Forked};

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

/// The namespaces an exec joins, in setns order (mount last, after the paths are opened).
const NAMESPACES: [(&str, libc::c_int); 5] = [
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

/// Everything the exec child needs, opened before the fork.
struct ExecPlan {
    process: ProcessPlan,
    namespaces: Vec<(OwnedFd, libc::c_int)>,
    root: OwnedFd,
    preserve_fds: u32,
    /// The container's `linux.seccomp`, compiled.
    seccomp: Option<crate::seccomp::Program>,
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
        if terminal && opts.stdio.is_set() {
            return Err(Error::Usage(
                "process.terminal: the process's stdio is its terminal: give no stdio fds".into(),
            ));
        }
        crate::spec::validate_process(process)?;
        // As runc: without its own profile or label, the process gets the container's.
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
        let pid = self.rec.pid;
        let proc_root = PathBuf::from(format!("/proc/{pid}/root"));
        let plan = ExecPlan {
            process: plan_process(&process, &proc_root, opts.listen_fds, false)?,
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
        };
        let pid_ns = if ns_differs(pid, "pid") {
            let own = fs::File::open("/proc/self/ns/pid_for_children")
                .map_err(sys_err("open", "/proc/self/ns/pid_for_children"))?;
            let target = format!("/proc/{pid}/ns/pid");
            let theirs = fs::File::open(&target).map_err(sys_err("open", &target))?;
            Some(crate::join::PidNs {
                own: own.into(),
                target: theirs.into(),
            })
        } else {
            None
        };
        // In the foreground without a socket, sangja keeps the pty master and proxies it.
        let (console, own_console_sock) = match &opts.console_socket {
            Some(path) => (Some(crate::console_socket::connect(path)?), None),
            None if terminal => {
                let (ours, theirs) = crate::console_socket::pair()?;
                (Some(theirs), Some(ours))
            }
            None => (None, None),
        };
        let paused = self.status() == Status::Paused;
        let join = match &self.rec.cgroup {
            Some(cg) if paused => crate::join::Join::open_paused(cg)?,
            Some(cg) => crate::join::Join::open(cg)?,
            None => crate::join::Join::default(),
        };
        let stdio = opts.stdio.for_child(3 + plan.preserve_fds).map_err(|e| {
            crate::launch::LaunchError::Parent {
                call: "dup stdio",
                source: e,
            }
        })?;
        let child = spawn(&plan, pid_ns, ChildFds { console, stdio }, &join)?;
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
}

fn spawn(
    plan: &ExecPlan,
    pid_ns: Option<crate::join::PidNs>,
    fds: ChildFds,
    join: &crate::join::Join,
) -> Result<libc::pid_t> {
    let launch = |call, source| Error::from(crate::launch::LaunchError::Parent { call, source });
    let (parent_sock, child_sock) = sys::seqpacket_pair().map_err(|e| launch("socketpair", e))?;
    // The clone's contract (`sys::clone_fork`): the child only runs `child`, which uses raw
    // syscalls on prepared data and ends in execve or _exit: it allocates, locks and logs
    // nothing, so no lock another thread of the caller held at the fork is ever taken.
    let forked = join.fork(0, pid_ns.as_ref());
    let (pid, v2_pending) = match forked {
        Ok((Forked::Child, _)) => {
            drop(parent_sock);
            child(plan, child_sock.as_fd(), fds, join)
        }
        Ok((Forked::Parent(pid), pending)) => (pid, pending),
        Err((call, e)) => return Err(launch(call, e)),
    };
    drop(child_sock);
    drop(fds);
    let kill = |pid| {
        let _ = sys::kill(pid, libc::SIGKILL);
        let _ = sys::waitpid(pid, 0);
    };
    // The child joins its v1 hierarchies itself and was born in its v2 cgroup (see `join`);
    // the parent only steps in when the kernel refused CLONE_INTO_CGROUP.
    if v2_pending {
        if let Err(e) = join.join_v2_from_parent(pid) {
            kill(pid);
            return Err(launch("write cgroup.procs", e));
        }
    }
    // A child that already failed has sent its reason: read it below rather than fail here.
    if join.is_deferred() {
        return finish_paused(pid, parent_sock.as_fd(), join);
    }
    let _ = channel::send_joined(parent_sock.as_fd());
    // The channel is close-on-exec: EOF means the exec happened; a message means it did not.
    let mut buf = [0u8; channel::MSG_MAX];
    let n = crate::launch::next_message(
        parent_sock.as_fd(),
        &mut buf,
        plan.seccomp.as_ref(),
        pid,
        "running",
    )
    .inspect_err(|_| kill(pid))?;
    match channel::decode(&buf[..n]) {
        None => Ok(pid),
        Some(Message::Ready) => Ok(pid),
        Some(Message::NeedHooks) => {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::waitpid(pid, 0);
            Err(launch("read exec child", Errno::EPROTO))
        }
        Some(Message::Error {
            step,
            errno,
            detail,
            ..
        }) => {
            let _ = sys::waitpid(pid, 0);
            // exec's process comes from flags or a process file: no config field to name.
            Err(crate::launch::init_error(step, errno, detail, None).into())
        }
    }
}

/// The exec child: never returns.
/// `exec --ignore-paused` into a paused container: once the child is ready to exec, put it in
/// the frozen cgroup and return; it execs when the container resumes (so a failure of its exec
/// itself cannot be reported here).
fn finish_paused(
    pid: libc::pid_t,
    sock: BorrowedFd<'_>,
    join: &crate::join::Join,
) -> Result<libc::pid_t> {
    let launch = |call, source| Error::from(crate::launch::LaunchError::Parent { call, source });
    let mut buf = [0u8; channel::MSG_MAX];
    let n = sys::read(sock, &mut buf).unwrap_or(0);
    let fail = |e: Error| {
        let _ = sys::kill(pid, libc::SIGKILL);
        let _ = sys::waitpid(pid, 0);
        Err(e)
    };
    match channel::decode(&buf[..n]) {
        Some(Message::Ready) => {}
        Some(Message::Error {
            step,
            errno,
            detail,
            ..
        }) => return fail(crate::launch::init_error(step, errno, detail, None).into()),
        _ => return fail(launch("read exec child", Errno::EPROTO)),
    }
    if let Err(e) = join.join_deferred(pid) {
        return fail(launch("write cgroup.procs", e));
    }
    let _ = channel::send_joined(sock);
    Ok(pid)
}

fn child(plan: &ExecPlan, sock: BorrowedFd<'_>, fds: ChildFds, join: &crate::join::Join) -> ! {
    let chan = channel::ChildSide::new(sock, None, true);
    let f = match setup(plan, &chan, fds, join) {
        Ok((exe, early_listener)) => {
            // Seccomp last (unless it had to be loaded before the capabilities were dropped).
            match crate::seccomp::load_last(
                plan.seccomp.as_ref(),
                plan.process.seccomp_before_identity(),
                early_listener,
                sock,
            ) {
                Err((e, detail)) => Fail {
                    step: Step::Seccomp,
                    errno: e as i32,
                    detail,
                    at: Fail::NOWHERE,
                },
                Ok(()) => {
                    let e = sys::execve(exe, &plan.process.argv_ptrs, &plan.process.env_ptrs);
                    Fail {
                        step: Step::Exec,
                        errno: e as i32,
                        detail: plan.process.arg0.to_bytes(),
                        at: Fail::NOWHERE,
                    }
                }
            }
        }
        Err(f) => f,
    };
    chan.fail(&f);
    sys::exit_now(255);
}

fn setup<'a>(
    plan: &'a ExecPlan,
    chan: &channel::ChildSide<'_>,
    fds: ChildFds,
    join: &crate::join::Join,
) -> Result<(&'a std::ffi::CStr, Option<OwnedFd>), Fail<'a>> {
    let fail = |step, e: Errno, detail: &'static [u8]| Fail {
        step,
        errno: e as i32,
        detail,
        at: Fail::NOWHERE,
    };
    crate::init::die_with_parent(chan.sock());
    fds.stdio
        .install()
        .map_err(|e| fail(Step::Fds, e, b"stdio"))?;
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0, 0);
    join.join_self()
        .map_err(|e| fail(Step::JoinCgroup, e, b"tasks"))?;
    // The LSM attribute files, opened while /proc is still the host's (see crate::lsm).
    let lsm_fds = plan
        .process
        .lsm
        .open(&mut crate::procfs::HostProc::default())?;
    for (fd, flag) in &plan.namespaces {
        sys::setns(fd.as_fd(), *flag).map_err(|e| fail(Step::JoinNamespace, e, b"namespace"))?;
    }
    // The container's root, whether it was entered with pivot_root or chroot.
    sys::fchdir(plan.root.as_fd()).map_err(|e| fail(Step::Chroot, e, b"/"))?;
    sys::chroot(c".").map_err(|e| fail(Step::Chroot, e, b"/"))?;
    sys::chdir(c"/").map_err(|e| fail(Step::Chroot, e, b"/"))?;
    if let Some(console) = fds.console {
        crate::console::setup(
            console.as_fd(),
            plan.process.console_size,
            plan.root.as_fd(),
            false,
        )?;
    }
    plan.process.lsm.apply(lsm_fds)?;
    let cwd = identity::open_cwd(&plan.process, plan.root.as_fd())?;
    // Close every fd but stdio, the preserved ones, the channel and the cwd (close-on-exec): the
    // namespace, root and cgroup fds we used must not be reachable as `--cwd /proc/self/fd/N`
    // (CVE-2024-21626), and a seccomp filter loaded next may deny close_range.
    let keep = [chan.sock().as_raw_fd(), cwd.as_raw_fd()];
    sys::close_from_except(3 + plan.preserve_fds as RawFd, &keep)
        .map_err(|e| fail(Step::Fds, e, b"3"))?;
    let listener = identity::apply(&plan.process, None, plan.seccomp.as_ref(), cwd.as_fd())?;
    drop(cwd);
    // The identity switch cleared the parent-death signal.
    crate::init::die_with_parent(chan.sock());
    let exe = identity::find_executable(&plan.process)?;
    sys::reset_signals();
    // Run no user code before the parent has put us in the container's cgroup.
    if join.is_deferred() {
        // Paused container: tell the parent we are ready; it joins us to the frozen cgroup and
        // exits, so stop dying with it first.
        let _ = sys::prctl(libc::PR_SET_PDEATHSIG, 0, 0);
        channel::send_ready(chan.sock(), None).map_err(|e| fail(Step::JoinCgroup, e, b"cgroup"))?;
    }
    chan.wait_joined()
        .map_err(|e| fail(Step::JoinCgroup, e, b"cgroup"))?;
    // The exec'd process must not die with `sangja exec -d`, which exits right away.
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, 0, 0);
    Ok((exe, listener))
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
