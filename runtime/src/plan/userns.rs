//! ③ A new user namespace's mappings, as the parent writes them to the init's `uid_map` and
//! `gid_map` (`<container id> <host id> <size>` lines; validated by `spec::validate`).
use std::ffi::CString;

use oci_spec::runtime::{Linux, LinuxIdMapping};

use super::rootless::{writer, Caller, MapWriter};
use super::JoinNs;
use crate::spec::{cstr, SpecError};

/// A user namespace (new or joined) beside namespaces joined by path. The clone makes no
/// namespace: a namespace joined by path belongs to another user namespace than a new one, and a
/// new namespace must belong to the container's user namespace, so the init builds them in runc's
/// order. It joins a joined user namespace first, then the others; or it joins the others, then
/// unshares the new user namespace and asks the parent for its maps. It becomes the namespace's
/// root and unshares the rest. A new pid namespace takes effect for children only: the init
/// forks once more (`CLONE_PARENT`, so the runtime stays the parent), the child is the
/// container's pid 1 and the first process reports its pid and exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staged {
    /// A new user namespace (else one is joined).
    pub new_user: bool,
    /// `CLONE_NEW*` flags the init unshares after the user namespace (not pid, user or cgroup).
    pub unshare: libc::c_int,
    /// A new pid namespace: unshared last, then the second fork.
    pub new_pid: bool,
}

impl Staged {
    /// The new namespaces as clone flags.
    pub fn new_flags(&self) -> u64 {
        let mut f = self.unshare as u64;
        if self.new_user {
            f |= libc::CLONE_NEWUSER as u64;
        }
        if self.new_pid {
            f |= libc::CLONE_NEWPID as u64;
        }
        f
    }
}

/// Is the container staged (see [`Staged`])? `clone_flags`: the new namespaces; `join`: those
/// joined by the init.
pub fn staged(clone_flags: u64, join: &[JoinNs]) -> Option<Staged> {
    let new_user = clone_flags & libc::CLONE_NEWUSER as u64 != 0;
    let joined_user = join.iter().any(|j| j.nstype == libc::CLONE_NEWUSER);
    if !(joined_user || new_user && !join.is_empty()) {
        return None;
    }
    let rest = clone_flags & !((libc::CLONE_NEWUSER | libc::CLONE_NEWPID) as u64);
    Some(Staged {
        new_user,
        unshare: rest as libc::c_int,
        new_pid: clone_flags & libc::CLONE_NEWPID as u64 != 0,
    })
}

/// The maps of a new user namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMaps {
    /// `linux.uidMappings` as `uid_map` takes it.
    pub uid_map: CString,
    /// `linux.gidMappings` as `gid_map` takes it.
    pub gid_map: CString,
    /// Who writes `uid_map`.
    pub uid_writer: MapWriter,
    /// Who writes `gid_map` (for [`MapWriter::OwnId`], `setgroups` is `deny` first).
    pub gid_writer: MapWriter,
}

impl UserMaps {
    /// Written by a parent other than root: it waits until the init asks (`U`), dumpable.
    pub fn unprivileged(&self) -> bool {
        self.uid_writer != MapWriter::Direct
    }
}

/// The lines of one list.
pub(super) fn lines(maps: &[LinuxIdMapping], field: &str) -> Result<CString, SpecError> {
    let text: String = maps
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    cstr(text, field)
}

/// The maps, when the clone makes a new user namespace (`new`).
pub fn plan(
    linux: Option<&Linux>,
    new: bool,
    caller: Option<&Caller>,
) -> Result<Option<UserMaps>, SpecError> {
    if !new {
        return Ok(None);
    }
    let uids = linux.and_then(|l| l.uid_mappings().as_deref());
    let gids = linux.and_then(|l| l.gid_mappings().as_deref());
    Ok(Some(UserMaps {
        uid_map: lines(uids.unwrap_or_default(), "linux.uidMappings")?,
        gid_map: lines(gids.unwrap_or_default(), "linux.gidMappings")?,
        uid_writer: writer(
            uids.unwrap_or_default(),
            caller,
            caller.map_or(0, |c| c.uid),
        ),
        gid_writer: writer(
            gids.unwrap_or_default(),
            caller,
            caller.map_or(0, |c| c.gid),
        ),
    }))
}
