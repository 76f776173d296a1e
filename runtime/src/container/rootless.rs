//! `create` by a caller other than root (rootless), checked before anything is made: the
//! container needs a user namespace of its own (the caller has no privilege outside one), and a
//! map the helpers write (`newuidmap`/`newgidmap`) may use only the caller's own id and the
//! subordinate ranges `/etc/subuid` and `/etc/subgid` give it, each range outside them named.
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::plan::rootless::{check_allowed, ranges, writer, Caller, MapWriter};
use crate::spec::SpecError;

/// The host's subordinate id files.
const SUBUID: &str = "/etc/subuid";
const SUBGID: &str = "/etc/subgid";

/// Check a rootless container's user namespace and maps for `caller`.
pub(crate) fn check(spec: &Spec, caller: &Caller) -> Result<(), SpecError> {
    let linux = spec.linux().as_ref();
    let has_userns = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|ns| ns.typ() == LinuxNamespaceType::User));
    if !has_userns {
        return Err(SpecError::field(
            "linux.namespaces",
            format!(
                "a rootless container (sangja run by uid {}) needs a user namespace (type user); \
                 `sangja spec --rootless` writes one",
                caller.uid
            ),
        ));
    }
    let lists = [
        (
            linux.and_then(|l| l.uid_mappings().as_deref()),
            "linux.uidMappings",
            caller.uid,
            SUBUID,
        ),
        (
            linux.and_then(|l| l.gid_mappings().as_deref()),
            "linux.gidMappings",
            caller.gid,
            SUBGID,
        ),
    ];
    for (maps, field, own, file) in lists {
        let Some(maps) = maps.filter(|m| !m.is_empty()) else {
            continue;
        };
        if writer(maps, Some(caller), own) != MapWriter::Helper {
            continue;
        }
        // Unreadable or missing: no subordinate ids, which the message then says.
        let text = std::fs::read_to_string(file).unwrap_or_default();
        check_allowed(maps, field, own, &ranges(&text, caller), file)?;
    }
    Ok(())
}
