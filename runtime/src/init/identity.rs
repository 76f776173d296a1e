//! ⑤ Identity in the init: keyring, rlimits, capabilities across the uid change, groups, ids,
//! umask, cwd, no_new_privs, and the `args[0]` lookup inside the new root.
use std::ffi::CStr;
use std::os::fd::{BorrowedFd, OwnedFd};

use crate::channel::Fail;
use crate::channel::Step;
use crate::plan::ProcessPlan;
use crate::sys::{self, Errno};

fn fail(step: Step, errno: Errno, detail: &[u8]) -> Fail<'_> {
    Fail {
        step,
        errno: errno as i32,
        detail,
        at: Fail::NOWHERE,
    }
}

/// Default umask when `process.user.umask` is absent (runc's).
const DEFAULT_UMASK: u32 = 0o022;

/// Open `process.cwd` once, inside the container's root (after `pivot_root` or `chroot`):
/// `openat2` from `/` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`, so neither `..`, a symlink
/// nor a `/proc/self/fd/N` magic link leads out, and what is entered is what was resolved (no
/// second lookup by name a racing container could swap). `root`: the container's root directory.
pub fn open_cwd<'a>(p: &'a ProcessPlan, root: BorrowedFd<'_>) -> Result<OwnedFd, Fail<'a>> {
    sys::open_in_root(root, &p.cwd, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| fail(Step::Cwd, e, p.cwd.to_bytes()))
}

/// Become the container process's identity.
/// `keyring`: join a fresh session keyring with this name first (create, unless `--no-new-keyring`).
/// `seccomp`: the container's filter; loaded here, before the capabilities are dropped, only when
/// it cannot be loaded later ([`ProcessPlan::seccomp_before_identity`]); returns its listener, if any.
/// `cwd`: from [`open_cwd`]; entered before the uid changes (as runc: a directory only root may
/// enter still works), or after it if root may not, then checked to be inside the root.
/// Give the process's stdio to its uid (the group stays), as runc's `fixStdioPermissions`: a
/// pty slave or a pipe owned by root would be unreadable as `/dev/stdin` or `/proc/self/fd/0`
/// for a non-root process. `/dev/null` and what the uid owns already are left alone; a refusal
/// (an id not mapped, a file we may not change) is not an error, as with runc.
fn stdio_to(uid: u32) {
    for fd in sys::stdio() {
        let Ok(st) = sys::fstat(fd) else { continue };
        if sys::is_null_device(&st) || st.st_uid == uid {
            continue;
        }
        let _ = sys::fchown(fd, uid, u32::MAX);
    }
}

pub fn apply<'a>(
    p: &'a ProcessPlan,
    keyring: Option<&'a CStr>,
    seccomp: Option<&crate::seccomp::Program>,
    cwd: BorrowedFd<'_>,
) -> Result<Option<std::os::fd::OwnedFd>, Fail<'a>> {
    stdio_to(p.uid);
    if let Some(name) = keyring {
        match sys::join_session_keyring(name) {
            // Kernels without keyrings, or a seccomp'd host: runc ignores these too.
            Ok(()) | Err(Errno::ENOSYS) | Err(Errno::EPERM) => {}
            Err(e) => return Err(fail(Step::Keyring, e, name.to_bytes())),
        }
    }
    for (i, (res, soft, hard, name)) in p.rlimits.iter().enumerate() {
        sys::setrlimit(*res, *soft, *hard)
            .map_err(|e| fail(Step::Rlimit, e, name.as_bytes()).at(i))?;
    }
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we have it (as
    // runc), after the keyring (Docker's profile denies keyctl) and before the identity switch.
    let listener = match seccomp.filter(|_| p.seccomp_before_identity()) {
        Some(s) => {
            super::seccomp::install(s).map_err(|e| fail(Step::Seccomp, e, b"linux.seccomp"))?
        }
        None => None,
    };
    // Keep permitted capabilities across the uid change, then set the exact sets.
    sys::prctl(libc::PR_SET_KEEPCAPS, 1, 0)
        .map_err(|e| fail(Step::Capset, e, b"PR_SET_KEEPCAPS"))?;
    for cap in 0..=p.last_cap.min(63) {
        if p.caps.bounding & (1u64 << cap) == 0 {
            match sys::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0) {
                Ok(_) | Err(Errno::EINVAL) => {}
                Err(e) => return Err(fail(Step::CapBounding, e, b"bounding")),
            }
        }
    }
    let entered = match sys::fchdir(cwd) {
        Ok(()) => true,
        Err(Errno::EACCES) => false,
        Err(e) => return Err(fail(Step::Cwd, e, p.cwd.to_bytes())),
    };
    if let Some(groups) = &p.groups {
        sys::setgroups(groups).map_err(|e| fail(Step::Setgroups, e, b"additionalGids"))?;
    }
    sys::setgid_all(p.gid).map_err(|e| fail(Step::Setgid, e, b"user.gid"))?;
    sys::setuid_all(p.uid).map_err(|e| fail(Step::Setuid, e, b"user.uid"))?;
    sys::prctl(libc::PR_SET_KEEPCAPS, 0, 0)
        .map_err(|e| fail(Step::Capset, e, b"PR_SET_KEEPCAPS"))?;
    sys::capset(p.caps.effective, p.caps.permitted, p.caps.inheritable)
        .map_err(|e| fail(Step::Capset, e, b"effective/permitted/inheritable"))?;
    for cap in 0..=p.last_cap.min(63) {
        if p.caps.ambient & (1u64 << cap) != 0 {
            sys::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                cap as libc::c_ulong,
            )
            .map_err(|e| fail(Step::CapAmbient, e, b"ambient"))?;
        }
    }
    sys::umask(p.umask.unwrap_or(DEFAULT_UMASK) as libc::mode_t);
    if !entered {
        sys::fchdir(cwd).map_err(|e| fail(Step::Cwd, e, p.cwd.to_bytes()))?;
    }
    // The cwd the process starts in is inside the container's root, whatever the lookup met.
    match sys::cwd_is_inside_root() {
        Ok(true) => {}
        Ok(false) => return Err(fail(Step::CwdOutsideRoot, Errno::EXDEV, p.cwd.to_bytes())),
        Err(e) => return Err(fail(Step::Cwd, e, p.cwd.to_bytes())),
    }
    if p.no_new_privileges {
        sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0)
            .map_err(|e| fail(Step::NoNewPrivs, e, b"noNewPrivileges"))?;
    }
    Ok(listener)
}

/// Find `args[0]` in the container (PATH lookup as the final user, as runc does). Reports
/// errno 0 with `args[0]` when it is not found, which the parent turns into runc's message.
pub fn find_executable(p: &ProcessPlan) -> Result<&CStr, Fail<'_>> {
    let mut last = Errno::ENOENT;
    for c in &p.exe_candidates {
        match sys::stat(c) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {
                match sys::access(c, libc::X_OK) {
                    Ok(()) => return Ok(c),
                    Err(e) => last = e,
                }
            }
            Ok(_) => last = Errno::EACCES,
            Err(e) => {
                if last == Errno::ENOENT {
                    last = e;
                }
            }
        }
    }
    Err(fail(Step::Exec, last, p.arg0.to_bytes()))
}
