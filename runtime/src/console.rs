//! Terminals, the child's side: the pty of a process with `terminal: true`, made in the
//! container's devpts, its master sent to `--console-socket` in one `SCM_RIGHTS` message, exactly
//! as runc does (containerd's shim and conmon receive it). The parent's side is
//! crate::console_socket.
use std::os::fd::{AsFd, BorrowedFd};

use crate::channel::Fail;
use crate::channel::Step;
use crate::sys;

/// In the container (after pivot_root, so the pty comes from its devpts): create the pty, send
/// the master, make the slave our controlling terminal and stdio.
/// `root`: the container's root directory. `console`: also bind the pty slave onto `/dev/console`
/// (the container's init, as runtime-spec requires and runc does; not for `exec`).
pub fn setup(
    socket: BorrowedFd<'_>,
    size: Option<(u16, u16)>,
    root: BorrowedFd<'_>,
    console: bool,
) -> Result<(), Fail<'static>> {
    let fail = |e: sys::Errno, what: &'static [u8]| Fail {
        step: Step::Console,
        errno: e as i32,
        detail: what,
        at: Fail::NOWHERE,
    };
    let (master, slave) = sys::open_pty(root).map_err(|e| fail(e, b"/dev/ptmx"))?;
    sys::clear_onlcr(master.as_fd()).map_err(|e| fail(e, b"ONLCR"))?;
    if console {
        bind_dev_console(root, slave.as_fd()).map_err(|e| fail(e, b"/dev/console"))?;
    }
    if let Some((rows, cols)) = size {
        sys::set_winsize(master.as_fd(), rows, cols).map_err(|e| fail(e, b"consoleSize"))?;
    }
    sys::send_fd(socket, master.as_fd(), b"/dev/ptmx").map_err(|e| fail(e, b"console socket"))?;
    drop(master);
    sys::make_controlling_tty(slave.as_fd()).map_err(|e| fail(e, b"controlling terminal"))
}

/// Bind the pty slave onto `/dev/console`, by fd: `/dev` is opened inside the root without
/// following symlinks, the mount point is created there if missing (an empty file, as runc) and
/// must be a regular file or a character device, and the slave's own devpts node is moved onto it
/// (`open_tree` + `move_mount`): no path the image controls is looked up twice.
fn bind_dev_console(root: BorrowedFd<'_>, slave: BorrowedFd<'_>) -> Result<(), sys::Errno> {
    let dev = sys::openat2(
        root,
        c"/dev",
        libc::O_PATH | libc::O_DIRECTORY,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS,
    )?;
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW;
    match sys::openat(dev.as_fd(), c"console", flags, 0o666) {
        Ok(_) | Err(sys::Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    let target = sys::openat2(
        dev.as_fd(),
        c"console",
        libc::O_PATH | libc::O_NOFOLLOW,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS,
    )?;
    let kind = sys::fstat(target.as_fd())?.st_mode & libc::S_IFMT;
    if kind != libc::S_IFREG && kind != libc::S_IFCHR {
        return Err(sys::WRONG_OBJECT);
    }
    let tree = sys::open_tree_fd(slave, sys::OPEN_TREE_CLONE)?;
    sys::move_mount_fd(tree.as_fd(), target.as_fd())
}
