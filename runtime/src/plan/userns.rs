//! ③ A new user namespace's mappings, as the parent writes them to the init's `uid_map` and
//! `gid_map` (`<container id> <host id> <size>` lines; validated by `spec::validate`).
use std::ffi::CString;

use oci_spec::runtime::{Linux, LinuxIdMapping};

use crate::spec::{cstr, SpecError};

/// The maps of a new user namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMaps {
    /// `linux.uidMappings` as `uid_map` takes it.
    pub uid_map: CString,
    /// `linux.gidMappings` as `gid_map` takes it.
    pub gid_map: CString,
}

/// The lines of one list.
fn lines(maps: &[LinuxIdMapping], field: &str) -> Result<CString, SpecError> {
    let text: String = maps
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    cstr(text, field)
}

/// The maps, when the clone makes a new user namespace (`new`).
pub fn plan(linux: Option<&Linux>, new: bool) -> Result<Option<UserMaps>, SpecError> {
    if !new {
        return Ok(None);
    }
    let uids = linux.and_then(|l| l.uid_mappings().as_deref());
    let gids = linux.and_then(|l| l.gid_mappings().as_deref());
    Ok(Some(UserMaps {
        uid_map: lines(uids.unwrap_or_default(), "linux.uidMappings")?,
        gid_map: lines(gids.unwrap_or_default(), "linux.gidMappings")?,
    }))
}
