//! ⑤ Linux security modules, applied: the `/proc/self/attr` writes `crate::plan::lsm` planned.
//!
//! The init (and the `exec` child) opens the files before it joins or builds the container's mount
//! namespace (so a container without `/proc`, or with a read-only one, still works) and writes
//! them after the mounts, just before the identity switch and seccomp — where runc's init does
//! (`apparmor.ApplyProfile` and `selinux.SetExecLabel` before `finalizeNamespace`). Both only take
//! effect at the next execve. Writing before `Ready` rather than after `start` is what makes a
//! profile that is not loaded fail `create` (the kernel answers ENOENT), as with runc; as with
//! runc, the startContainer hooks then exec under the profile too.
//!
//! The SELinux half is untested on a real policy (see `spec-tests/tests/lsm_vm.rs`).
use std::os::fd::{AsFd, OwnedFd};

use crate::channel::{Fail, Step};
use crate::plan::lsm::{AttrWrite, LsmPlan};
use crate::sys;

/// The writes in the order they are made, each with the step that names its failure.
fn writes(plan: &LsmPlan) -> [(Option<&AttrWrite>, Step); 3] {
    [
        (plan.key_label.as_ref(), Step::SelinuxKeyLabel),
        (plan.exec_label.as_ref(), Step::SelinuxLabel),
        (plan.apparmor.as_ref(), Step::AppArmor),
    ]
}

/// In the init or exec child, before the container's mount namespace: open the attribute
/// files (close-on-exec). No allocation.
pub fn open<'a>(
    plan: &'a LsmPlan,
    proc: &mut crate::procfs::HostProc,
) -> Result<[Option<OwnedFd>; 3], Fail<'a>> {
    let mut fds = [None, None, None];
    for (slot, (w, step)) in fds.iter_mut().zip(writes(plan)) {
        if let Some(w) = w {
            let fd = proc.open_write(w.path).map_err(|e| Fail {
                step,
                errno: e as i32,
                detail: w.name.to_bytes(),
                at: Fail::NOWHERE,
            })?;
            *slot = Some(fd);
        }
    }
    Ok(fds)
}

/// In the init or exec child, after [`open`]: write the values (keyring label, exec
/// label, AppArmor profile) and close the files. No allocation.
pub fn apply(plan: &LsmPlan, fds: [Option<OwnedFd>; 3]) -> Result<(), Fail<'_>> {
    for (fd, (w, step)) in fds.into_iter().zip(writes(plan)) {
        if let (Some(fd), Some(w)) = (fd, w) {
            let value = w.value.to_bytes();
            // An attr write is taken whole or refused; a short one would be a partial label.
            sys::write(fd.as_fd(), value)
                .and_then(|n| {
                    if n == value.len() {
                        Ok(())
                    } else {
                        Err(sys::Errno::EIO)
                    }
                })
                .map_err(|e| Fail {
                    step,
                    errno: e as i32,
                    detail: w.name.to_bytes(),
                    at: Fail::NOWHERE,
                })?;
        }
    }
    Ok(())
}
