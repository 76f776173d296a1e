//! ③ Idmapped bind mounts: the maps each one's detached copy gets (its own `mounts[i]` mappings,
//! else the container's), as `uid_map` lines for the user namespace the parent makes for it, and
//! whether the whole tree is idmapped (`ridmap`) or its top mount only.
use std::ffi::CString;

use oci_spec::runtime::Spec;

use super::mounts::{MountKind, MountOp};
use super::userns::lines;
use crate::spec::SpecError;

/// How one bind mount is idmapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMap {
    /// Source ids to mount ids, as `uid_map` lines (`<source id> <mount id> <size>`).
    pub uid_map: CString,
    /// The same for gids.
    pub gid_map: CString,
    /// `ridmap`: every mount of the copied tree, not only its top.
    pub recursive: bool,
}

/// Set `idmap` on every bind operation whose `mounts[]` entry asks for it (validated: only binds,
/// with a new user namespace, both lists or neither).
pub fn apply(spec: &Spec, ops: &mut [MountOp]) -> Result<(), SpecError> {
    let mounts = spec.mounts().as_deref().unwrap_or_default();
    let linux = spec.linux().as_ref();
    let own_uids = linux.and_then(|l| l.uid_mappings().as_deref());
    let own_gids = linux.and_then(|l| l.gid_mappings().as_deref());
    for op in ops.iter_mut() {
        let Some(m) = mounts.get(op.origin) else {
            continue;
        };
        if !matches!(op.kind, MountKind::Bind { .. }) {
            continue;
        }
        let opts = m.options().as_deref().unwrap_or_default();
        let recursive = opts.iter().any(|o| o == "ridmap");
        let asked = recursive || opts.iter().any(|o| o == "idmap");
        if !asked && m.uid_mappings().is_none() && m.gid_mappings().is_none() {
            continue;
        }
        let field = format!("mounts[{}]", op.origin);
        let uids = m.uid_mappings().as_deref().or(own_uids).unwrap_or_default();
        let gids = m.gid_mappings().as_deref().or(own_gids).unwrap_or_default();
        op.idmap = Some(IdMap {
            uid_map: lines(uids, &format!("{field}.uidMappings"))?,
            gid_map: lines(gids, &format!("{field}.gidMappings"))?,
            recursive,
        });
    }
    Ok(())
}
