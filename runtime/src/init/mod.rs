//! ⑤⑥ The container init: one straight line from the clone to `execve`, and (`exec`) the child
//! of an exec, which shares its first and last steps (`process`).
//!
//! Runs in the cloned child, which is single-threaded. It executes the [`Plan`] with raw
//! syscalls only: no allocation, no locks, no logging. A failure is reported to the parent as
//! one [`crate::channel`] message and the child exits.
//!
//! [`run`] reads top to bottom as the init's life: [`setup`] (enter, join or create namespaces,
//! open the fifos, build the root, createContainer hooks, pivot_root, finish the root, become the
//! process), the notifying filter, `Ready`, the wait for `start`, then [`after_start`] (seccomp,
//! startContainer hooks, `execve`).
use std::ffi::CStr;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::channel::{self, Fail, Step};
use crate::plan::Plan;
use crate::procfs::HostProc;
use crate::stdio::ChildFds;
use crate::sys::{self, Errno};

mod devices;
pub(crate) mod exec;
pub(crate) mod identity;
mod process;
mod rootfs;
pub(crate) mod seccomp;
mod stage;

use process::{fail, Become, SETUP_FAILED};

/// The init's scratch memory, on `run`'s stack (the init allocates nothing).
struct Scratch {
    /// The hook state the parent sends (only filled when the config has hooks).
    hook_state: [u8; channel::HOOK_STATE_MAX],
    /// A failing createContainer hook's message (path, status, first stderr line).
    hook_msg: [u8; 1024],
}

/// What [`setup`] leaves for the rest of the init's life.
struct Ready<'a> {
    /// The exec fifo `start` writes to.
    fifo: OwnedFd,
    /// The fifo `start` reads a startContainer hook failure from.
    result: OwnedFd,
    /// The listener of a notifying filter the identity switch loaded.
    listener: Option<OwnedFd>,
    /// `args[0]`, resolved.
    exe: &'a CStr,
    /// The state the startContainer hooks get on stdin.
    start_state: &'a [u8],
}

/// Entry point of the child. Never returns.
/// `saved`: where the parent says the state is on disk (crate::channel's `Saved`); `trees`: the
/// idmapped copies the parent made for the plan's idmapped binds.
pub fn run(
    plan: &Plan,
    sock: OwnedFd,
    saved: OwnedFd,
    fds: ChildFds,
    join: &crate::join::Join,
    trees: &crate::launch::idmap::Trees,
) -> ! {
    let chan = channel::ChildSide::new(sock.as_fd(), Some(saved.as_fd()), plan.joined_at.is_some())
        .with_maps(plan.staged.is_none() && plan.user.as_ref().is_some_and(|m| !m.unprivileged()));
    let mut scratch = Scratch {
        hook_state: [0; channel::HOOK_STATE_MAX],
        hook_msg: [0; 1024],
    };
    // Trace instants: mounts done, pivot_root done, ready (only read when tracing).
    let mut times = [0u64; 3];
    let ready = setup(plan, (join, trees), &chan, fds, &mut scratch, &mut times)
        // A notifying filter is loaded before `Ready`: `create` hands its listener to the agent.
        .and_then(|mut r| {
            seccomp::load_notifying(plan.seccomp.as_ref(), r.listener.take(), sock.as_fd())?;
            Ok(r)
        });
    let ready = match ready {
        Ok(r) => r,
        Err(f) => {
            chan.fail(&f);
            sys::exit_now(SETUP_FAILED);
        }
    };
    // Until the parent has our pid in state.json we die with it; from then on we outlive it.
    // (It saves while we set up: the message is normally waiting by now.)
    if channel::wait_saved(saved.as_fd()).is_err() {
        sys::exit_now(SETUP_FAILED);
    }
    drop(saved);
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, 0, 0);
    let times = plan.trace.then(|| {
        times[2] = crate::trace::now_ns();
        times
    });
    if channel::send_ready(sock.as_fd(), times.as_ref()).is_err() {
        sys::exit_now(SETUP_FAILED);
    }
    drop(sock);
    // Block until `start` writes a byte into the exec fifo.
    let mut b = [0u8; 1];
    loop {
        match sys::read(ready.fifo.as_fd(), &mut b) {
            Ok(1) => break,
            Err(Errno::EINTR) => continue,
            _ => sys::exit_now(SETUP_FAILED),
        }
    }
    after_start(plan, ready)
}

/// After `start`: the seccomp filter, the startContainer hooks and `execve`. A failure is written
/// to the result fifo, which `start` reads and reports; the fifo is close-on-exec, so `start` sees
/// it close once the process runs.
fn after_start(plan: &Plan, ready: Ready<'_>) -> ! {
    drop(ready.fifo);
    let result = ready.result.as_fd();
    // Seccomp as late as possible: after `start`, before the startContainer hooks (they run
    // binaries from the container's image) and execve. See `seccomp` for the exceptions.
    if let Some(s) = plan.seccomp.as_ref() {
        if !s.notifies() && !plan.process.seccomp_before_identity() {
            if let Err(e) = seccomp::install(s) {
                let _ = sys::write(
                    result,
                    b"unable to start container process: load seccomp filter: ",
                );
                let _ = sys::write(result, e.desc().as_bytes());
                sys::exit_now(SETUP_FAILED);
            }
        }
    }
    let mut stderr = [0u8; 512];
    if let Err(f) = crate::hooks::run_in_init(
        &plan.start_container_hooks,
        ready.start_state,
        &plan.process.env_ptrs,
        None,
        &mut stderr,
    ) {
        let mut text = [0u8; 1024];
        let n = crate::hooks::describe_failure(&f, &stderr, &mut text);
        let _ = sys::write(result, b"startContainer hook ");
        let _ = sys::write(result, &text[..n]);
        sys::exit_now(SETUP_FAILED);
    }
    let e = sys::execve(ready.exe, &plan.process.argv_ptrs, &plan.process.env_ptrs);
    // Nobody listens on the channel any more: tell the container's stderr, as runc does.
    let [_, _, stderr] = sys::stdio();
    let _ = sys::write(stderr, b"sangja: exec failed after start\n");
    sys::exit_now(if e == Errno::ENOENT { 127 } else { 126 });
}

/// Before `mounts[i]` (or after the last, `i == mounts.len()`): wait for the parent's cgroup
/// join where the plan says, then unshare a cgroup namespace rooted at that cgroup where it says.
pub(crate) fn at_mount(
    plan: &Plan,
    i: usize,
    chan: &channel::ChildSide<'_>,
) -> Result<(), Fail<'static>> {
    if plan.joined_at == Some(i) {
        chan.wait_joined()
            .map_err(|e| fail(Step::JoinCgroup, e, b"cgroup"))?;
    }
    if plan.cgroupns_at == Some(i) {
        sys::unshare(libc::CLONE_NEWCGROUP)
            .map_err(|e| fail(Step::CgroupNamespace, e, b"cgroup"))?;
    }
    Ok(())
}

/// Every set-up step, up to the process's identity and its resolved `args[0]`.
fn setup<'a>(
    plan: &'a Plan,
    (join, trees): (&crate::join::Join, &crate::launch::idmap::Trees),
    chan: &channel::ChildSide<'_>,
    fds: ChildFds,
    scratch: &'a mut Scratch,
    times: &mut [u64; 3],
) -> Result<Ready<'a>, Fail<'a>> {
    let mut host_proc = HostProc::default();
    let lsm_fds = process::enter(&plan.process, chan, fds.stdio, join, &mut host_proc)?;
    sys::umask(0);
    // Opened O_RDWR so the open never blocks and `start` (O_WRONLY|O_NONBLOCK) finds a reader
    // exactly as long as we live. Opened first: they live in the host's state dir, which a joined
    // mount namespace hides, and which the root of a new user namespace may not enter.
    let fifo = sys::open(&plan.fifo, libc::O_RDWR, 0)
        .map_err(|e| fail(Step::OpenFifo, e, plan.fifo.to_bytes()))?;
    // Held until execve (close-on-exec): `start` reads a startContainer hook failure from it, or
    // sees it close when the process runs.
    let result = sys::open(&plan.result_fifo, libc::O_RDWR, 0)
        .map_err(|e| fail(Step::OpenFifo, e, plan.result_fifo.to_bytes()))?;
    // In a new user namespace the parent writes it (lowering it takes a capability of the host's
    // namespace, which the init no longer has).
    if plan.user.is_none() {
        oom_score_adj(plan, &mut host_proc)?;
    }
    stage::join(plan, chan)?;
    time_namespace(plan, &mut host_proc)?;
    drop(host_proc);
    become_user_ns_root(plan, chan)?;
    stage::unshare_rest(plan, chan)?;
    namespaces(plan)?;
    // The new root, held until the cwd is open: after the pivot it is `/`, and every later lookup
    // in it (masks, /dev/console, /dev/ptmx, the cwd) starts from this fd. Closed with the other
    // fds in `become_process`, never dropped (a drop would close whatever took its number).
    let root = ManuallyDrop::new(rootfs::prepare(plan, chan, trees)?);
    if plan.trace {
        times[0] = crate::trace::now_ns();
    }
    let Scratch {
        hook_state,
        hook_msg,
    } = scratch;
    let start_state = create_container_hooks(plan, chan, hook_state, hook_msg)?;
    rootfs::enter(plan)?;
    if plan.trace {
        times[1] = crate::trace::now_ns();
    }
    rootfs::finish(plan, root.as_fd())?;
    let b = Become {
        root: root.as_fd(),
        console: fds.console,
        bind_console: true,
        lsm_fds,
        keep: [
            chan.sock().as_raw_fd(),
            chan.saved().map_or(-1, |s| s.as_raw_fd()),
            fifo.as_raw_fd(),
            result.as_raw_fd(),
        ],
        preserve_fds: plan.preserve_fds,
        keyring: plan.new_keyring.then_some(plan.id.as_c_str()),
        seccomp: plan.seccomp.as_ref(),
    };
    let (exe, listener) = process::become_process(&plan.process, b, chan.sock())?;
    Ok(Ready {
        fifo,
        result,
        listener,
        exe,
        start_state,
    })
}

/// In a new (or joined) user namespace: wait for the parent's maps, then become the namespace's root, so that
/// what the init creates (mount points, `/dev`, the cwd) is owned by the container's root and not
/// by an id the namespace cannot name. Until now the init kept the host's root ids: the steps before
/// (the fifos in the host's state dir, the host's procfs files of a process that is not dumpable,
/// which belong to the host's root) open files as their owner.
/// Wait until the parent wrote our new user namespace's maps. A parent other than root can open
/// our `/proc/<pid>/uid_map` only while we are dumpable (a non-dumpable process's files belong to
/// the host's root: our memory was made in the host's user namespace), so for it we are dumpable
/// during the wait, as runc's init is. Nothing else is in our new user namespace yet; the host
/// user who may now ptrace us is the caller itself. Non-dumpable again after. We ask for the
/// maps (`U`) when the parent cannot write them at once: it must wait until we are dumpable, and
/// a staged init's namespace exists only once it unshared it.
pub(crate) fn await_maps(plan: &Plan, chan: &channel::ChildSide<'_>) -> Result<(), Errno> {
    if chan.mapped() {
        return Ok(());
    }
    let unprivileged = plan.user.as_ref().is_some_and(|m| m.unprivileged());
    if unprivileged {
        let _ = sys::prctl(libc::PR_SET_DUMPABLE, 1, 0);
    }
    if unprivileged || plan.staged.is_some() {
        chan.ask_maps()?;
    }
    let waited = chan.wait_maps_written();
    if unprivileged {
        let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0, 0);
    }
    waited
}

fn become_user_ns_root<'a>(plan: &'a Plan, chan: &channel::ChildSide<'_>) -> Result<(), Fail<'a>> {
    if plan.user.is_none() && plan.staged.is_none() {
        return Ok(());
    }
    let failed = |e| fail(Step::UserNamespace, e, b"user");
    if plan.user.is_some() {
        await_maps(plan, chan).map_err(failed)?;
    }
    sys::setgid_all(0).map_err(failed)?;
    sys::setuid_all(0).map_err(failed)?;
    // The id change reset both: the parent-death signal (a `create` killed now must still take us
    // with it) and dumpability (to `fs.suid_dumpable`, which may be 1).
    process::die_with_parent(chan.sock());
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0, 0);
    Ok(())
}

/// Join the configured namespaces (in plan order), then set up the new ones: loopback, hostname,
/// domainname.
fn namespaces(plan: &Plan) -> Result<(), Fail<'_>> {
    // A staged init joined them already (`stage::join`).
    let joins = if plan.staged.is_some() {
        &[][..]
    } else {
        &plan.join[..]
    };
    for (i, ns) in joins.iter().enumerate() {
        let fail = |e| fail(Step::JoinNamespace, e, ns.path.to_bytes()).at(i);
        let fd = sys::open(&ns.path, libc::O_RDONLY, 0).map_err(fail)?;
        sys::setns(fd.as_fd(), ns.nstype).map_err(fail)?;
    }
    if plan.new_namespaces() & libc::CLONE_NEWNET as u64 != 0 {
        sys::loopback_up().map_err(|e| fail(Step::Loopback, e, b"lo"))?;
    }
    if let Some(h) = &plan.hostname {
        sys::sethostname(h.to_bytes()).map_err(|e| fail(Step::Hostname, e, h.to_bytes()))?;
    }
    if let Some(d) = &plan.domainname {
        sys::setdomainname(d.to_bytes()).map_err(|e| fail(Step::Domainname, e, d.to_bytes()))?;
    }
    Ok(())
}

/// A new time namespace: unshared (for this process's children), its offsets written through the
/// host's procfs before anyone is in it, then entered through `time_for_children`, so that the
/// hooks and the process run in it. Before the joins: `/proc` is still the runtime's own view
/// (a joined mount namespace could put anything there), and nothing of the container is mounted.
fn time_namespace<'a>(plan: &'a Plan, host_proc: &mut HostProc) -> Result<(), Fail<'a>> {
    let Some(offsets) = &plan.time_offsets else {
        return Ok(());
    };
    let failed = |e| fail(Step::TimeNamespace, e, b"time");
    sys::unshare(libc::CLONE_NEWTIME).map_err(failed)?;
    if !offsets.is_empty() {
        let fd = host_proc
            .open_write(c"/proc/self/timens_offsets")
            .map_err(failed)?;
        sys::write(fd.as_fd(), offsets.to_bytes()).map_err(failed)?;
    }
    let ns = sys::open(c"/proc/self/ns/time_for_children", libc::O_RDONLY, 0).map_err(failed)?;
    sys::setns(ns.as_fd(), libc::CLONE_NEWTIME).map_err(failed)
}

/// `process.oomScoreAdj`, written through the host's procfs (see `crate::procfs`).
fn oom_score_adj<'a>(plan: &'a Plan, host_proc: &mut HostProc) -> Result<(), Fail<'a>> {
    let Some(v) = &plan.process.oom_score_adj else {
        return Ok(());
    };
    let fd = host_proc
        .open_write(c"/proc/self/oom_score_adj")
        .map_err(|e| fail(Step::OomScoreAdj, e, v.to_bytes()))?;
    sys::write(fd.as_fd(), v.to_bytes()).map_err(|e| fail(Step::OomScoreAdj, e, v.to_bytes()))?;
    Ok(())
}

/// With hooks: ask the parent to run prestart/createRuntime (the mounts are made, the root not yet
/// entered), take the hook state into `buf`, and run the createContainer hooks. Returns the state
/// for the startContainer hooks (empty without hooks).
fn create_container_hooks<'a>(
    plan: &'a Plan,
    chan: &channel::ChildSide<'_>,
    buf: &'a mut [u8],
    msg: &'a mut [u8],
) -> Result<&'a [u8], Fail<'a>> {
    if !plan.need_hooks {
        return Ok(&[]);
    }
    let (creating, created) =
        channel::need_hooks(chan.sock(), buf).map_err(|e| fail(Step::RuntimeHooks, e, b"hooks"))?;
    let mut stderr = [0u8; 512];
    if let Err(f) = crate::hooks::run_in_init(
        &plan.create_container_hooks,
        creating,
        &plan.process.env_ptrs,
        Some(&plan.rootfs),
        &mut stderr,
    ) {
        let n = crate::hooks::describe_failure(&f, &stderr, msg);
        return Err(Fail {
            step: Step::CreateContainerHook,
            errno: 0,
            detail: &msg[..n],
            at: Fail::NOWHERE,
        });
    }
    Ok(created)
}
