//! ④ The parent's half of idmapped mounts. Idmapping a mount takes a capability in the user
//! namespace that owns its filesystem (the host's), which the init, in the container's user
//! namespace, does not have: so for each bind the plan idmaps, the parent makes a detached copy of
//! the source tree (`open_tree(OPEN_TREE_CLONE)`), idmaps it with a user namespace that maps as
//! the mount asks (made by a helper child that only waits to be released), and the init attaches
//! the copy by fd (`move_mount`). Nothing is attached in the host's mount namespace.
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::LaunchError;
use crate::plan::idmap::IdMap;
use crate::plan::{MountKind, Plan};
use crate::procfs::HostProc;
use crate::sys::{self, Errno, Forked};

/// The idmapped copies, by index in `plan.mounts`.
#[derive(Debug, Default)]
pub struct Trees(Vec<(usize, OwnedFd)>);

impl Trees {
    /// The copy for `plan.mounts[i]`, if it is idmapped. Called in the init: no allocation.
    pub(crate) fn get(&self, i: usize) -> Option<BorrowedFd<'_>> {
        self.0
            .iter()
            .find(|(j, _)| *j == i)
            .map(|(_, fd)| fd.as_fd())
    }
}

/// Make the idmapped copy of every bind the plan idmaps.
pub(super) fn prepare(plan: &Plan) -> Result<Trees, LaunchError> {
    let mut trees = Vec::new();
    for (i, op) in plan.mounts.iter().enumerate() {
        let (Some(map), MountKind::Bind { source, recursive }) = (&op.idmap, &op.kind) else {
            continue;
        };
        let failed = |what: &'static str| {
            let source = source.to_string_lossy().into_owned();
            move |errno| LaunchError::Init {
                field: Some(format!("mounts[{}]", op.origin)),
                step: what,
                detail: source,
                errno,
            }
        };
        let userns = user_ns(map).map_err(failed("make the idmap's user namespace for"))?;
        let tree = sys::open(source, libc::O_PATH | libc::O_CLOEXEC, 0)
            .and_then(|src| {
                let rec = if *recursive {
                    libc::AT_RECURSIVE as u32
                } else {
                    0
                };
                sys::open_tree_fd(src.as_fd(), sys::OPEN_TREE_CLONE | rec)
            })
            .map_err(failed("copy the tree of"))?;
        sys::mount_setattr_idmap(tree.as_fd(), map.recursive, userns.as_fd())
            .map_err(failed("idmap"))?;
        trees.push((i, tree));
    }
    Ok(Trees(trees))
}

/// A user namespace mapped by `map`: a helper child is cloned into it and waits on a pipe while
/// we write its maps and open its namespace; closing the pipe releases it, and it is reaped.
fn user_ns(map: &IdMap) -> Result<OwnedFd, Errno> {
    let (wait, release) = sys::pipe()?;
    // The clone's contract (`sys::clone_fork`): the helper only reads and exits.
    let pid = match sys::clone_fork(libc::CLONE_NEWUSER as u64)? {
        Forked::Child => {
            drop(release);
            let mut b = [0u8; 1];
            let _ = sys::read(wait.as_fd(), &mut b);
            sys::exit_now(0)
        }
        Forked::Parent(pid) => pid,
    };
    drop(wait);
    let ns = map_and_open(pid, map);
    drop(release);
    // Killed too: a helper cloned meanwhile by another thread of an embedder holds a copy of
    // our write end, so the pipe's end alone may never come (the namespace fd keeps it alive).
    let _ = sys::kill(pid, libc::SIGKILL);
    let _ = sys::waitpid(pid, 0);
    ns
}

/// Write the helper `pid`'s maps and open its user namespace, all through our verified procfs.
fn map_and_open(pid: libc::pid_t, map: &IdMap) -> Result<OwnedFd, Errno> {
    let mut proc = HostProc::default();
    let path = |file: &str| CString::new(format!("/proc/{pid}/{file}")).map_err(|_| Errno::EINVAL);
    for (file, text) in [("uid_map", &map.uid_map), ("gid_map", &map.gid_map)] {
        let fd = proc.open_write(&path(file)?)?;
        if sys::write(fd.as_fd(), text.to_bytes())? != text.to_bytes().len() {
            return Err(Errno::EIO);
        }
    }
    // `ns/user` is a magic link, which the verified walk refuses: its directory is reached that
    // way, and the link followed from there must land on nsfs.
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    let dir = proc.open(&path("ns")?, libc::O_RDONLY | libc::O_DIRECTORY)?;
    let ns = sys::openat(dir.as_fd(), c"user", libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    match sys::fstatfs_type(ns.as_fd())? {
        NSFS_MAGIC => Ok(ns),
        _ => Err(sys::WRONG_OBJECT),
    }
}
