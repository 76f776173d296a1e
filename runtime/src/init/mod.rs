//! ⑤⑥ The container init: one straight-line function from the clone to `execve`.
//!
//! Runs in the cloned child, which is single-threaded. It executes the [`Plan`] with raw
//! syscalls only: no allocation, no locks, no logging. A failure is reported to the parent as
//! one [`channel`](crate::channel) message and the child exits.
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::channel::{self, Fail, Step};
use crate::plan::Plan;
use crate::stdio::ChildFds;
use crate::sys::{self, Errno};

pub(crate) mod identity;
mod rootfs;

/// Exit code of an init that failed before exec.
const SETUP_FAILED: i32 = 1;

/// Entry point of the child. Never returns.
/// `saved`: where the parent says the state is on disk (crate::channel's `Saved`).
pub fn run(
    plan: &Plan,
    sock: OwnedFd,
    saved: OwnedFd,
    fds: ChildFds,
    join: &crate::join::Join,
) -> ! {
    let chan = channel::ChildSide::new(
        sock.as_fd(),
        Some(saved.as_fd()),
        plan.cgroupns_at.is_some(),
    );
    // Hook state from the parent (only filled when the config has hooks).
    let mut hook_buf = [0u8; channel::HOOK_STATE_MAX];
    let mut start_state: &[u8] = &[];
    // A failing createContainer hook's message (path, status, first stderr line).
    let mut msg = [0u8; 1024];
    // Trace instants: mounts done, pivot_root done, ready (only read when tracing).
    let mut times = [0u64; 3];
    // `listener`: the seccomp listener, when the filter notifies and was loaded during the
    // identity switch.
    let (fifo, result, mut listener) = match setup(
        plan,
        join,
        &chan,
        fds,
        &mut hook_buf,
        &mut start_state,
        &mut msg,
        &mut times,
    ) {
        Ok(fifos) => fifos,
        Err(f) => {
            chan.fail(&f);
            sys::exit_now(SETUP_FAILED);
        }
    };
    let exe = match identity::find_executable(&plan.process) {
        Ok(exe) => exe,
        Err(f) => {
            chan.fail(&f);
            sys::exit_now(SETUP_FAILED);
        }
    };
    // A notifying filter is loaded before `Ready`: `create` hands its listener to the agent.
    if let Some(s) = plan.seccomp.as_ref().filter(|s| s.notifies()) {
        if listener.is_none() {
            match s.install() {
                Ok(l) => listener = l,
                Err(e) => {
                    chan.fail(&fail(Step::Seccomp, e, b"linux.seccomp"));
                    sys::exit_now(SETUP_FAILED);
                }
            }
        }
        if let Some(l) = listener.take() {
            if let Err(e) = crate::seccomp::notify::send_listener(sock.as_fd(), l.as_fd()) {
                chan.fail(&fail(Step::Seccomp, e, b"listener"));
                sys::exit_now(SETUP_FAILED);
            }
        }
    }
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
        match sys::read(fifo.as_fd(), &mut b) {
            Ok(1) => break,
            Err(Errno::EINTR) => continue,
            _ => sys::exit_now(SETUP_FAILED),
        }
    }
    drop(fifo);
    // Seccomp as late as possible: after `start`, before the startContainer hooks (they run
    // binaries from the container's image) and execve. See crate::seccomp for the exceptions.
    if let Some(s) = plan.seccomp.as_ref() {
        if !s.notifies() && !plan.process.seccomp_before_identity() {
            if let Err(e) = s.install() {
                let _ = sys::write(
                    result.as_fd(),
                    b"unable to start container process: load seccomp filter: ",
                );
                let _ = sys::write(result.as_fd(), e.desc().as_bytes());
                sys::exit_now(SETUP_FAILED);
            }
        }
    }
    let mut stderr = [0u8; 512];
    if let Err(f) = crate::hooks::run_in_init(
        &plan.start_container_hooks,
        start_state,
        &plan.process.env_ptrs,
        None,
        &mut stderr,
    ) {
        // `start` waits on the result fifo and reports this; exec never happens.
        let mut text = [0u8; 1024];
        let n = crate::hooks::describe_failure(&f, &stderr, &mut text);
        let _ = sys::write(result.as_fd(), b"startContainer hook ");
        let _ = sys::write(result.as_fd(), &text[..n]);
        sys::exit_now(SETUP_FAILED);
    }
    // The result fifo is close-on-exec: `start` sees it close once the process runs.
    let e = sys::execve(exe, &plan.process.argv_ptrs, &plan.process.env_ptrs);
    // Nobody listens on the channel any more: tell the container's stderr, as runc does.
    let [_, _, stderr] = sys::stdio();
    let _ = sys::write(stderr, b"sangja: exec failed after start\n");
    sys::exit_now(if e == Errno::ENOENT { 127 } else { 126 });
}

/// Wait for the parent's cgroup join, then unshare a cgroup namespace rooted at that cgroup.
pub(crate) fn enter_cgroupns(chan: &channel::ChildSide<'_>) -> Result<(), Fail<'static>> {
    chan.wait_joined()
        .map_err(|e| fail(Step::JoinCgroup, e, b"cgroup"))?;
    sys::unshare(libc::CLONE_NEWCGROUP).map_err(|e| fail(Step::CgroupNamespace, e, b"cgroup"))
}

fn fail(step: Step, errno: Errno, detail: &[u8]) -> Fail<'_> {
    Fail {
        step,
        errno: errno as i32,
        detail,
        at: Fail::NOWHERE,
    }
}

/// Every set-up step up to (not including) the exec lookup. Returns the opened exec fifo.
// The init allocates nothing: its scratch buffers live on `run`'s stack and are lent here one by
// one (a struct would have to borrow from itself: `start_state` points into `hook_buf`).
#[allow(clippy::too_many_arguments)]
fn setup<'a>(
    plan: &'a Plan,
    join: &crate::join::Join,
    chan: &channel::ChildSide<'_>,
    fds: ChildFds,
    hook_buf: &'a mut [u8],
    start_state: &mut &'a [u8],
    msg: &'a mut [u8],
    times: &mut [u64; 3],
) -> Result<(OwnedFd, OwnedFd, Option<OwnedFd>), Fail<'a>> {
    // Die with the parent while it still waits for us (a killed `sangja create` leaves nothing).
    die_with_parent(chan.sock());
    // The caller's stdio first: every later step may write to fd 2 (hooks inherit it).
    fds.stdio
        .install()
        .map_err(|e| fail(Step::Fds, e, b"stdio"))?;
    // Until execve, this process is the sangja binary: keep /proc/<pid>/exe and friends out of
    // reach of anything already in the namespaces we join (execve resets it).
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0, 0);
    // Into the container's cgroup before anything else (see `join`): accounted from the start,
    // and a cgroup namespace unshared later is rooted there.
    join.join_self()
        .map_err(|e| fail(Step::JoinCgroup, e, b"tasks"))?;
    sys::umask(0);
    // The LSM attribute files, opened while /proc is still the host's (see crate::lsm).
    let mut host_proc = crate::procfs::HostProc::default();
    let lsm_fds = plan.process.lsm.open(&mut host_proc)?;
    for (i, ns) in plan.join.iter().enumerate() {
        let fail = |e| fail(Step::JoinNamespace, e, ns.path.to_bytes()).at(i);
        let fd = sys::open(&ns.path, libc::O_RDONLY, 0).map_err(fail)?;
        sys::setns(fd.as_fd(), ns.nstype).map_err(fail)?;
    }
    if plan.clone_flags & libc::CLONE_NEWNET as u64 != 0 {
        sys::loopback_up().map_err(|e| fail(Step::Loopback, e, b"lo"))?;
    }
    if let Some(h) = &plan.hostname {
        sys::sethostname(h.to_bytes()).map_err(|e| fail(Step::Hostname, e, h.to_bytes()))?;
    }
    if let Some(d) = &plan.domainname {
        sys::setdomainname(d.to_bytes()).map_err(|e| fail(Step::Domainname, e, d.to_bytes()))?;
    }
    // Opened O_RDWR so the open never blocks and `start` (O_WRONLY|O_NONBLOCK) finds a reader
    // exactly as long as we live. Opened before pivot_root: it lives in the host's state dir.
    let fifo = sys::open(&plan.fifo, libc::O_RDWR, 0)
        .map_err(|e| fail(Step::OpenFifo, e, plan.fifo.to_bytes()))?;
    // Held until execve (close-on-exec): `start` reads a startContainer hook failure from it, or
    // sees it close when the process runs.
    let result = sys::open(&plan.result_fifo, libc::O_RDWR, 0)
        .map_err(|e| fail(Step::OpenFifo, e, plan.result_fifo.to_bytes()))?;
    if let Some(v) = &plan.process.oom_score_adj {
        let fd = host_proc
            .open_write(c"/proc/self/oom_score_adj")
            .map_err(|e| fail(Step::OomScoreAdj, e, v.to_bytes()))?;
        sys::write(fd.as_fd(), v.to_bytes())
            .map_err(|e| fail(Step::OomScoreAdj, e, v.to_bytes()))?;
    }
    drop(host_proc);
    // The new root, held until the cwd is open: after the pivot it is `/`, and every later lookup
    // in it (masks, /dev/console, /dev/ptmx, the cwd) starts from this fd.
    let root = rootfs::prepare(plan, chan)?;
    if plan.trace {
        times[0] = crate::trace::now_ns();
    }
    if plan.need_hooks {
        let (creating, created) = channel::need_hooks(chan.sock(), hook_buf)
            .map_err(|e| fail(Step::RuntimeHooks, e, b"hooks"))?;
        *start_state = created;
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
    }
    rootfs::enter(plan)?;
    if plan.trace {
        times[1] = crate::trace::now_ns();
    }
    rootfs::finish(plan, root.as_fd())?;
    if let Some(console) = fds.console {
        crate::console::setup(
            console.as_fd(),
            plan.process.console_size,
            root.as_fd(),
            true,
        )?;
    }
    // Profile and labels for the next execve, before the identity switch and seccomp, as runc;
    // before `Ready`, so that a profile that is not loaded fails `create`.
    plan.process.lsm.apply(lsm_fds)?;
    let cwd = identity::open_cwd(&plan.process, root.as_fd())?;
    drop(root);
    // Close every fd but stdio, the preserved ones and the five we still need (all close-on-exec):
    // before the cwd is entered, so that no runtime fd can serve as a way out of the root
    // (CVE-2024-21626), and before a seccomp filter that may deny close_range is loaded.
    let keep = [
        chan.sock().as_raw_fd(),
        chan.saved().map_or(-1, |s| s.as_raw_fd()),
        fifo.as_raw_fd(),
        result.as_raw_fd(),
        cwd.as_raw_fd(),
    ];
    sys::close_from_except(3 + plan.preserve_fds as RawFd, &keep)
        .map_err(|e| fail(Step::Fds, e, b"3"))?;
    let listener = identity::apply(
        &plan.process,
        plan.new_keyring.then_some(plan.id.as_c_str()),
        plan.seccomp.as_ref(),
        cwd.as_fd(),
    )?;
    // A change of uid or gid cleared the parent-death signal: set it again.
    die_with_parent(chan.sock());
    sys::reset_signals();
    Ok((fifo, result, listener))
}

/// Get SIGKILL when the parent dies, and exit now if it died already: the signal only covers a
/// death after the `prctl`, and a parent killed between our clone and it would leave us running.
/// The parent holds the only other end of `sock`, so a hang-up there means it is gone. (A
/// seccomp filter that denies either call leaves the signal as it was; nothing else fails.)
pub(crate) fn die_with_parent(sock: BorrowedFd<'_>) {
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0);
    if sys::poll_one(sock, 0, 0).unwrap_or(false) {
        sys::exit_now(SETUP_FAILED);
    }
}
