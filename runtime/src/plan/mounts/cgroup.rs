//! `type: cgroup` (and `cgroup2`) on a known host: the operations one `mounts[]` entry expands
//! into (one on v2; a tmpfs, a mount per hierarchy and symlinks on v1 and hybrid hosts).
use std::ffi::CString;
use std::path::Path;

use super::{attr_from_flags, MountKind, MountOp, Parsed};
use crate::cgroups::{Cgroup, Hierarchy, Host, Layout};
use crate::spec::cstr;
use crate::spec::SpecError;

/// A C string for an operation `mounts[i]` expands into (errors name the entry).
fn entry_cstr(i: usize, s: impl Into<String>) -> Result<CString, SpecError> {
    cstr(s.into(), &format!("mounts[{i}]"))
}

/// A new filesystem of `fstype` whose source is `source`.
fn fs_kind(i: usize, fstype: &str, source: &str) -> Result<MountKind, SpecError> {
    Ok(MountKind::Fs {
        fstype: entry_cstr(i, fstype)?,
        source: entry_cstr(i, source)?,
    })
}

/// A non-recursive bind of the container's cgroup directory `dir`.
fn cgroup_bind(i: usize, dir: &Path) -> Result<MountKind, SpecError> {
    Ok(MountKind::Bind {
        source: entry_cstr(i, dir.to_string_lossy())?,
        recursive: false,
    })
}

/// `type: cgroup` as runc does it: on v2 one cgroup2 mount; on v1/hybrid a tmpfs holding one
/// mount per hierarchy (a fresh cgroup mount inside a cgroup namespace, else a bind of the
/// container's own cgroup directory), then the tmpfs sealed read-only.
/// `type: cgroup2` (`v2_only`) is the unified hierarchy alone on every host, as the type says
/// (systemd in a container on a hybrid host runs unified then); where the host has no cgroup2
/// hierarchy, only inside a cgroup namespace (a fresh cgroup2 outside one would be the host's
/// root).
pub(super) fn plan_cgroup_mount(
    i: usize,
    dest: &str,
    p: &Parsed,
    (host, cg, v2_only): (&Host, &Cgroup, bool),
    cgroupns: bool,
    ops: &mut Vec<MountOp>,
) -> Result<(), SpecError> {
    let base_flags = p.flags & !libc::MS_REMOUNT;
    if host.layout == Layout::V2 || v2_only {
        ops.push(cgroup2_mount(i, dest, p, cg, cgroupns)?);
        return Ok(());
    }
    ops.push(cgroup_tmpfs(i, dest, p)?);
    let sub_flags = base_flags | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    for (h, (_, dir)) in host.hierarchies.iter().zip(&cg.dirs) {
        ops.push(hierarchy_mount(i, dest, h, dir, sub_flags, cgroupns)?);
        comounted_symlinks(i, dest, h, ops)?;
    }
    if base_flags & libc::MS_RDONLY != 0 {
        ops.push(MountOp {
            attr_set: crate::sys::MOUNT_ATTR_RDONLY,
            ..MountOp::plain(i, entry_cstr(i, dest)?, MountKind::RemountRo)
        });
    }
    Ok(())
}

/// The unified hierarchy: a fresh cgroup2 inside a cgroup namespace, else a bind of the
/// container's cgroup2 directory.
fn cgroup2_mount(
    i: usize,
    dest: &str,
    p: &Parsed,
    cg: &Cgroup,
    cgroupns: bool,
) -> Result<MountOp, SpecError> {
    let kind = if cgroupns {
        fs_kind(i, "cgroup2", "cgroup")?
    } else {
        let (_, dir) = cg.dirs.iter().find(|(c, _)| c.is_empty()).ok_or_else(|| {
            SpecError::field(
                format!("mounts[{i}].type"),
                "cgroup2 without a cgroup namespace needs the host's cgroup2 hierarchy",
            )
        })?;
        cgroup_bind(i, dir)?
    };
    let flags = p.flags & !libc::MS_REMOUNT;
    Ok(MountOp {
        flags,
        attr_set: attr_from_flags(flags),
        propagation: p.propagation.clone(),
        ..MountOp::plain(i, entry_cstr(i, dest)?, kind)
    })
}

/// v1/hybrid: the tmpfs at `dest` that holds the hierarchies (with the entry's propagation).
fn cgroup_tmpfs(i: usize, dest: &str, p: &Parsed) -> Result<MountOp, SpecError> {
    Ok(MountOp {
        flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        data: Some(entry_cstr(i, "mode=755")?),
        propagation: p.propagation.clone(),
        ..MountOp::plain(i, entry_cstr(i, dest)?, fs_kind(i, "tmpfs", "tmpfs")?)
    })
}

/// One hierarchy at `dest/<name>`: in a cgroup namespace a fresh mount (v1 with its
/// controllers as data: `memory`, `none,name=systemd`), else a bind of the container's own
/// directory `dir`.
fn hierarchy_mount(
    i: usize,
    dest: &str,
    h: &Hierarchy,
    dir: &Path,
    flags: libc::c_ulong,
    cgroupns: bool,
) -> Result<MountOp, SpecError> {
    let sub = format!("{}/{}", dest.trim_end_matches('/'), h.name());
    let (kind, data) = match (cgroupns, h.is_v2()) {
        (true, true) => (fs_kind(i, "cgroup2", "cgroup2")?, None),
        (true, false) => {
            let ctrl = if h.controllers.starts_with("name=") {
                format!("none,{}", h.controllers)
            } else {
                h.controllers.clone()
            };
            (fs_kind(i, "cgroup", "cgroup")?, Some(entry_cstr(i, ctrl)?))
        }
        (false, _) => (cgroup_bind(i, dir)?, None),
    };
    Ok(MountOp {
        flags,
        attr_set: attr_from_flags(flags),
        data,
        ..MountOp::plain(i, entry_cstr(i, sub)?, kind)
    })
}

/// Co-mounted controllers (`cpu,cpuacct`) get one symlink per controller, as on the host.
fn comounted_symlinks(
    i: usize,
    dest: &str,
    h: &Hierarchy,
    ops: &mut Vec<MountOp>,
) -> Result<(), SpecError> {
    if !h.controllers.contains(',') || h.controllers.starts_with("name=") {
        return Ok(());
    }
    for single in h.controllers.split(',') {
        let link = entry_cstr(i, format!("{}/{single}", dest.trim_end_matches('/')))?;
        let target = entry_cstr(i, h.name())?;
        ops.push(MountOp::plain(i, link, MountKind::Symlink { target }));
    }
    Ok(())
}
