//! ⑤ The container's device nodes: made with mknod where the init may, else the host's node of
//! the same path bound onto an empty file (a new user namespace may not create device nodes).
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use super::rootfs::{fail, open_or_create, open_parent, PATH_BUF};
use crate::channel::{Fail, Step};
use crate::plan::DeviceOp;
use crate::sys::{self, Errno};

/// `linux.devices[i]` (or a default device) at its path below `root`: a new node with the
/// configured mode and owner, or the host's node bound where mknod is not allowed.
pub(super) fn make<'a>(root: BorrowedFd<'_>, d: &'a DeviceOp) -> Result<(), Fail<'a>> {
    let mut name = [0u8; PATH_BUF];
    let (parent, leaf) =
        open_parent(root, &d.path, &mut name).map_err(|e| fail(Step::Device, e, &d.path))?;
    match sys::mknodat(parent.as_fd(), leaf, d.mode, d.dev) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Ok(()),
        Err(Errno::EPERM) => return bind_host_device(root, d),
        Err(e) => return Err(fail(Step::Device, e, &d.path)),
    }
    sys::fchmodat(parent.as_fd(), leaf, d.mode & 0o7777)
        .map_err(|e| fail(Step::Device, e, &d.path))?;
    if d.uid != 0 || d.gid != 0 {
        sys::fchownat(parent.as_fd(), leaf, d.uid, d.gid)
            .map_err(|e| fail(Step::Device, e, &d.path))?;
    }
    Ok(())
}

/// Where the init may not mknod (a new user namespace, a `/dev` that is not ours): bind the host's
/// node of the same path instead, as runc does, but only that node: it is opened once without
/// following a symlink, must be a device of the configured type and number, and the bind is made
/// from that fd onto the opened target.
fn bind_host_device<'a>(root: BorrowedFd<'_>, d: &'a DeviceOp) -> Result<(), Fail<'a>> {
    let failed = |e| fail(Step::Device, e, &d.path);
    let source = sys::open(&d.path, libc::O_PATH | libc::O_NOFOLLOW, 0).map_err(failed)?;
    let st = sys::fstat(source.as_fd()).map_err(failed)?;
    if st.st_mode & libc::S_IFMT != d.mode & libc::S_IFMT || st.st_rdev != d.dev {
        return Err(failed(sys::WRONG_OBJECT));
    }
    let target = open_or_create(root, &d.path, true).map_err(failed)?;
    let (mut sbuf, mut tbuf) = ([0u8; 32], [0u8; 32]);
    let spath = sys::proc_fd_path(source.as_raw_fd(), &mut sbuf);
    let tpath = sys::proc_fd_path(target.as_raw_fd(), &mut tbuf);
    sys::mount(Some(spath), tpath, None, libc::MS_BIND, None).map_err(failed)
}
