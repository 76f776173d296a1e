//! Idmapped mounts: `mounts[i].uidMappings`/`gidMappings` and the `idmap`/`ridmap` options. Only
//! a bind mount can be idmapped (the kernel idmaps a detached copy of an existing tree), only in a
//! container with a new user namespace (as runc: an idmapped mount exists to give that namespace's
//! ids a view of files owned by others), with both lists or neither (then the container's own
//! mappings are used), each list one the kernel takes.
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};

use super::userns::check_ranges;
use crate::spec::SpecError;

/// Is `m` a bind mount (by type or option)?
fn is_bind(m: &Mount) -> bool {
    let opts = m.options().as_deref().unwrap_or_default();
    m.typ().as_deref() == Some("bind") || opts.iter().any(|o| o == "bind" || o == "rbind")
}

/// Check every mount that asks to be idmapped.
pub(super) fn validate(spec: &Spec) -> Result<(), SpecError> {
    let linux = spec.linux().as_ref();
    let new_user = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| {
            n.iter()
                .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none())
        });
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let opts = m.options().as_deref().unwrap_or_default();
        let option = opts.iter().position(|o| o == "idmap" || o == "ridmap");
        let (uids, gids) = (m.uid_mappings().as_deref(), m.gid_mappings().as_deref());
        let field = match (option, uids.is_some() || gids.is_some()) {
            (_, true) => format!("mounts[{i}].uidMappings"),
            (Some(j), false) => format!("mounts[{i}].options[{j}]"),
            (None, false) => continue,
        };
        if !is_bind(m) {
            return Err(SpecError::field(field, "only a bind mount can be idmapped"));
        }
        if !new_user {
            return Err(SpecError::field(
                field,
                "an idmapped mount needs a new user namespace (linux.namespaces type user)",
            ));
        }
        match (uids, gids) {
            (None, None) => {}
            (Some(u), Some(g)) => {
                check_ranges(u, &format!("mounts[{i}].uidMappings"))?;
                check_ranges(g, &format!("mounts[{i}].gidMappings"))?;
            }
            (None, Some(_)) => {
                return Err(SpecError::field(
                    format!("mounts[{i}].uidMappings"),
                    "is required with mounts[].gidMappings",
                ))
            }
            (Some(_), None) => {
                return Err(SpecError::field(
                    format!("mounts[{i}].gidMappings"),
                    "is required with mounts[].uidMappings",
                ))
            }
        }
    }
    Ok(())
}
