//! A user namespace's config: `linux.uidMappings` and `linux.gidMappings` exactly when a new user
//! namespace is asked for, each list one the kernel takes (`uid_map(5)` rules: non-empty ranges
//! within 32 bits, no two overlapping on either side, at most 340 lines), container id 0 mapped
//! (the init becomes root in the namespace before it mounts anything, as runc's does), and the
//! process's ids mapped; a joined user namespace has its own mappings, so none may be given.
//! Everything the kernel would refuse after the clone is refused here, naming the field.
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::spec::SpecError;

/// The most lines a `uid_map` takes (`man 7 user_namespaces`).
const MAX_LINES: usize = 340;

/// Check the user namespace entry, the mappings and the process's ids against them.
pub(super) fn validate(spec: &Spec) -> Result<(), SpecError> {
    let linux = spec.linux().as_ref();
    let entry = linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
        .find(|(_, ns)| ns.typ() == LinuxNamespaceType::User);
    let uids = linux.and_then(|l| l.uid_mappings().as_deref());
    let gids = linux.and_then(|l| l.gid_mappings().as_deref());
    match entry {
        None => {
            for (maps, field) in [(uids, "linux.uidMappings"), (gids, "linux.gidMappings")] {
                if maps.is_some_and(|m| !m.is_empty()) {
                    return Err(SpecError::field(
                        field,
                        "needs a user namespace (linux.namespaces type user)",
                    ));
                }
            }
            return Ok(());
        }
        Some((_, ns)) if ns.path().is_some() => {
            for (maps, field) in [(uids, "linux.uidMappings"), (gids, "linux.gidMappings")] {
                if maps.is_some_and(|m| !m.is_empty()) {
                    return Err(SpecError::field(
                        field,
                        "a joined user namespace keeps its own mappings: drop these",
                    ));
                }
            }
            return linux.map_or(Ok(()), staged_time_namespace);
        }
        Some(_) => {}
    }
    if let Some(l) = linux {
        staged_time_namespace(l)?;
    }
    check_maps(uids.unwrap_or_default(), "linux.uidMappings")?;
    check_maps(gids.unwrap_or_default(), "linux.gidMappings")?;
    if let Some(p) = spec.process() {
        let u = p.user();
        let (uids, gids) = (uids.unwrap_or_default(), gids.unwrap_or_default());
        mapped(uids, u.uid(), "process.user.uid", "linux.uidMappings")?;
        mapped(gids, u.gid(), "process.user.gid", "linux.gidMappings")?;
        for (j, g) in u.additional_gids().iter().flatten().enumerate() {
            let field = format!("process.user.additionalGids[{j}]");
            mapped(gids, *g, &field, "linux.gidMappings")?;
        }
    }
    Ok(())
}

/// A user namespace beside joined ones is built by the init (`plan::userns::Staged`), which makes
/// a new time namespace after the joins, writing its offsets through `/proc`: with a joined mount
/// namespace that `/proc` would be another's, so that one combination is refused.
fn staged_time_namespace(l: &Linux) -> Result<(), SpecError> {
    let nss = l.namespaces().as_deref().unwrap_or_default();
    let joined = |t: LinuxNamespaceType| nss.iter().any(|n| n.typ() == t && n.path().is_some());
    let new_time = nss
        .iter()
        .position(|n| n.typ() == LinuxNamespaceType::Time && n.path().is_none());
    match new_time {
        Some(i) if joined(LinuxNamespaceType::Mount) => Err(SpecError::field(
            format!("linux.namespaces[{i}]"),
            "a new time namespace beside a user namespace and a joined mount namespace is not supported yet",
        )),
        _ => Ok(()),
    }
}

/// One list of mappings: as the kernel takes them, and mapping container id 0.
fn check_maps(maps: &[LinuxIdMapping], field: &str) -> Result<(), SpecError> {
    check_ranges(maps, field)?;
    mapped(maps, 0, field, field).map_err(|_| {
        SpecError::field(
            field,
            "maps no container id 0: the init becomes root in the new user namespace",
        )
    })
}

/// One list of mappings as the kernel takes them in a `uid_map` (an idmapped mount's too).
pub(super) fn check_ranges(maps: &[LinuxIdMapping], field: &str) -> Result<(), SpecError> {
    if maps.is_empty() {
        return Err(SpecError::field(field, "needs at least one mapping"));
    }
    if maps.len() > MAX_LINES {
        return Err(SpecError::field(
            field,
            format!(
                "{} mappings: the kernel takes at most {MAX_LINES}",
                maps.len()
            ),
        ));
    }
    let end = |start: u32, size: u32| u64::from(start) + u64::from(size);
    for (i, m) in maps.iter().enumerate() {
        let at = format!("{field}[{i}]");
        if m.size() == 0 {
            return Err(SpecError::field(at, "size must be at least 1"));
        }
        if end(m.container_id(), m.size()) > u64::from(u32::MAX)
            || end(m.host_id(), m.size()) > u64::from(u32::MAX)
        {
            return Err(SpecError::field(
                at,
                "the range passes the largest id (4294967294)",
            ));
        }
        let overlaps =
            |a: u32, b: u32, n: u32, k: u32| u64::from(a) < end(b, k) && u64::from(b) < end(a, n);
        for (j, o) in maps[..i].iter().enumerate() {
            let (n, k) = (m.size(), o.size());
            let side = if overlaps(m.container_id(), o.container_id(), n, k) {
                "container"
            } else if overlaps(m.host_id(), o.host_id(), n, k) {
                "host"
            } else {
                continue;
            };
            return Err(SpecError::field(
                at,
                format!("its {side} ids overlap those of {field}[{j}]"),
            ));
        }
    }
    Ok(())
}

/// Is container id `id` (the value of `field`) in one of `maps` (named `maps_field`)?
fn mapped(
    maps: &[LinuxIdMapping],
    id: u32,
    field: &str,
    maps_field: &str,
) -> Result<(), SpecError> {
    let inside = |m: &LinuxIdMapping| {
        id >= m.container_id() && u64::from(id) < u64::from(m.container_id()) + u64::from(m.size())
    };
    if maps.iter().any(inside) {
        return Ok(());
    }
    Err(SpecError::field(
        field,
        format!("{id} is not mapped by {maps_field}"),
    ))
}
