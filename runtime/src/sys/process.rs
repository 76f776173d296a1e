//! Processes: the one clone of `create` and `exec` (and of a hook), `execve`, `_exit`, waiting,
//! the dumpable flag, `prctl`, resource limits and the umask.
//!
//! The clone family is `pub(crate)` and not `unsafe fn`: its contract (the child allocates,
//! locks and logs nothing until `execve` or `_exit`, see the module docs of `sys`) is upheld by
//! each of its few callers in this crate, named at the `unsafe` block below.
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{check, check_long, Errno, SysResult};

/// What `clone3` returned in the calling process.
#[derive(Debug)]
pub enum Forked {
    /// We are the parent; the child's pid in our pid namespace.
    Parent(libc::pid_t),
    /// We are the child.
    Child,
}

/// `CLONE_INTO_CGROUP` (libc's constant evaluates to 0 on this target).
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Flags that would make the child share our memory, signal handlers, fd table or TLS (with the
/// zero stack and TLS passed here): refused, so the child is always a copy, as after `fork(2)`.
const SHARING: u64 = (libc::CLONE_VM
    | libc::CLONE_THREAD
    | libc::CLONE_SIGHAND
    | libc::CLONE_FILES
    | libc::CLONE_SETTLS) as u64;

/// `clone3` without `CLONE_VM`: fork-like, with namespace flags. Falls back to `clone` when the
/// kernel lacks `clone3`. Flags that would share memory, handlers, fds or TLS with the child are
/// refused (`EINVAL`).
///
/// Contract (why this is crate-internal): in the child, the caller runs only async-signal-safe
/// code (system calls on data prepared before the clone: no allocation, no lock, no logging) until
/// `execve` or [`exit_now`]; see [`clone_fork_into`].
pub(crate) fn clone_fork(flags: u64) -> SysResult<Forked> {
    clone_fork_into(flags, None)
}

/// [`clone_fork`], born into the cgroup v2 directory `cgroup` (`CLONE_INTO_CGROUP`): no migration
/// afterwards, so no wait for the global cgroup lock. No legacy fallback with a cgroup: the caller
/// retries without it. Same contract as [`clone_fork`].
pub(crate) fn clone_fork_into(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> SysResult<Forked> {
    if flags & SHARING != 0 {
        return Err(Errno::EINVAL);
    }
    let (flags, cgroup) = match cgroup {
        Some(fd) => (flags | CLONE_INTO_CGROUP, fd.as_raw_fd() as u64),
        None => (flags, 0),
    };
    let mut args = libc::clone_args {
        flags,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        // With CLONE_PARENT the child inherits our exit signal; clone3 takes none then.
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup,
    };
    // SAFETY: `args` is a valid, initialised clone_args of the size passed, and `cgroup` a live fd.
    // Without CLONE_VM, CLONE_FILES or CLONE_SETTLS (refused above) the child gets a copy of our
    // address space and fd table on its own stack, so returning twice is sound as for fork(2).
    // What fork(2) leaves unsound is the child touching state other threads of ours held at the
    // clone (allocator arenas, std's and `log`'s locks, glibc's per-thread data, which a raw clone
    // does not fix up): this function is `pub(crate)` and its only callers run nothing of the
    // kind in the child before `execve` or `_exit` — the init (`init::run`, through `Join::fork`
    // in launch.rs), a staged init's second fork (`init::stage`, inside the init), the idmap
    // helper (`launch::idmap`, which only reads a pipe and exits), the exec child
    // (`exec::child`, through `Join::fork`) and the hook child (`hooks::run_prepared`, inside the
    // init), which only make system calls on data prepared
    // before the clone. runtime/tests/threads.rs exercises it: containers created from several
    // threads beside threads that allocate without pause.
    let mut ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    if ret < 0 && Errno::last() == Errno::ENOSYS && flags & CLONE_INTO_CGROUP == 0 {
        // SAFETY: legacy clone with a NULL stack and none of the sharing flags behaves like
        // fork(2) with extra flags; the child side is as for clone3 above.
        ret = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags as libc::c_ulong) | libc::SIGCHLD as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
    }
    match check_long(ret)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// Make this process non-dumpable for the life of the guard, so that a child forked meanwhile is
/// born non-dumpable: from its first instruction, nothing in the namespaces it enters can open its
/// `/proc/<pid>/exe` (the runtime binary, CVE-2019-5736) or ptrace it. The previous setting is
/// restored on drop (library callers keep theirs).
#[derive(Debug)]
pub struct NotDumpable(libc::c_int);

impl NotDumpable {
    /// Clear the dumpable flag.
    pub fn new() -> NotDumpable {
        let old = prctl(libc::PR_GET_DUMPABLE, 0, 0).unwrap_or(0);
        let _ = prctl(libc::PR_SET_DUMPABLE, 0, 0);
        NotDumpable(old)
    }
}

impl Default for NotDumpable {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NotDumpable {
    fn drop(&mut self) {
        let _ = prctl(libc::PR_SET_DUMPABLE, self.0 as libc::c_ulong, 0);
    }
}

/// The `prctl(2)` options [`prctl`] passes on: all take and return integers only.
const INTEGER_PRCTLS: [libc::c_int; 7] = [
    libc::PR_GET_DUMPABLE,
    libc::PR_SET_DUMPABLE,
    libc::PR_SET_PDEATHSIG,
    libc::PR_SET_KEEPCAPS,
    libc::PR_CAPBSET_DROP,
    libc::PR_SET_NO_NEW_PRIVS,
    libc::PR_CAP_AMBIENT,
];

/// `prctl(2)` with integer arguments; an option outside [`INTEGER_PRCTLS`] (one that might take
/// a pointer) is refused with `EINVAL`.
pub fn prctl(option: libc::c_int, a2: libc::c_ulong, a3: libc::c_ulong) -> SysResult<libc::c_int> {
    if !INTEGER_PRCTLS.contains(&option) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: every option let through above takes integer arguments only (PR_CAP_AMBIENT's
    // sub-commands too): the kernel dereferences none of a2, a3 and the zeros.
    check(unsafe { libc::prctl(option, a2, a3, 0 as libc::c_ulong, 0 as libc::c_ulong) })
}

/// `setrlimit(2)` (via prlimit on ourselves).
pub fn setrlimit(resource: libc::c_int, soft: u64, hard: u64) -> SysResult<()> {
    let lim = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: lim is a valid rlimit64; a NULL old-limit pointer is allowed.
    check(unsafe { libc::prlimit64(0, resource as _, &lim, std::ptr::null_mut()) }).map(drop)
}

/// `umask(2)`.
pub fn umask(mask: libc::mode_t) {
    // SAFETY: umask takes an integer and cannot fail.
    unsafe { libc::umask(mask) };
}

/// Does `array` end with a NULL pointer? `execve` reads it up to the NULL.
fn null_terminated(array: &[*const libc::c_char]) -> bool {
    array.last().is_some_and(|p| p.is_null())
}

/// `execve(2)`: only returns on failure. `argv` and `envp` must end with a NULL pointer (else
/// EINVAL), and every other pointer in them must point into a C string the caller keeps alive:
/// crate-internal for that reason (the arrays come from the plan or the hook plan, next to the
/// `CString`s they point into).
pub(crate) fn execve(
    path: &CStr,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> Errno {
    if !null_terminated(argv) || !null_terminated(envp) {
        return Errno::EINVAL;
    }
    // SAFETY: argv and envp are NULL-terminated (checked above) arrays whose other pointers point
    // into C strings the callers keep alive: `ProcessPlan::{argv,env}_ptrs` (plan/process.rs) and
    // `HookPlan::{argv,env}_ptrs` (plan/hooks.rs) point into the `CString`s stored beside them in the
    // same plan, which outlives the call. path is a valid C string.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Errno::last()
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: execute the file `fd` refers to (an `O_PATH`
/// fd or a memfd). `argv` and `envp` as for [`execve`]. Only returns on failure.
pub(crate) fn execveat_fd(
    fd: BorrowedFd<'_>,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> Errno {
    // The kernel reads both arrays up to their NULL: without one it would read past them.
    if !null_terminated(argv) || !null_terminated(envp) {
        return Errno::EINVAL;
    }
    // SAFETY: argv and envp are NULL-terminated (checked above) arrays whose other pointers point
    // into C strings the caller keeps alive (its one caller, `exe::reexec`, builds them from
    // `CString` slices borrowed for the call); the path is an empty C string and fd is live.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::last()
}

/// `_exit(2)`: leave the child without running Rust or libc exit handlers.
pub fn exit_now(code: libc::c_int) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe; skipping destructors is sound.
    unsafe { libc::_exit(code) }
}

/// `pidfd_open(2)`.
pub fn pidfd_open(pid: libc::pid_t) -> SysResult<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = check_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `waitpid(2)`, retried on EINTR; returns the raw wait status.
pub fn waitpid(pid: libc::pid_t, flags: libc::c_int) -> SysResult<(libc::pid_t, libc::c_int)> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r < 0 {
            let e = Errno::last();
            if e == Errno::EINTR {
                continue;
            }
            return Err(e);
        }
        return Ok((r, status));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharing_flags_are_refused_before_any_clone() {
        for flag in [libc::CLONE_VM, libc::CLONE_FILES, libc::CLONE_SETTLS] {
            assert!(matches!(clone_fork(flag as u64), Err(Errno::EINVAL)));
        }
    }

    #[test]
    fn exec_arrays_without_their_null_are_refused() {
        let argv = [c"true".as_ptr()];
        let envp = [std::ptr::null()];
        assert_eq!(execve(c"/bin/true", &argv, &envp), Errno::EINVAL);
        assert_eq!(execve(c"/bin/true", &envp, &argv), Errno::EINVAL);
    }
}
