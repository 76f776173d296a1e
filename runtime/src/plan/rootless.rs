//! A caller other than root (rootless): how the parent writes a new user namespace's maps, and
//! which host ids it may map. The kernel lets an unprivileged process write one line that maps
//! its own effective id, and a `gid_map` only after `setgroups` is `deny`; other maps go through
//! the setuid helpers `newuidmap`/`newgidmap` (Debian's `uidmap`), which allow the caller's own id
//! and the subordinate ranges `/etc/subuid` and `/etc/subgid` give it. Pure: the files' texts and
//! the caller are inputs.
use oci_spec::runtime::{Linux, LinuxIdMapping};

use crate::spec::SpecError;

/// The caller of `create` or `exec` when it is not root: its effective ids and user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Effective uid.
    pub uid: u32,
    /// Effective gid.
    pub gid: u32,
    /// Its name in the host's passwd, if it has one (subid files list names or uids).
    pub name: Option<String>,
}

impl Caller {
    /// This process, when its effective uid is not 0.
    pub fn current() -> Option<Caller> {
        let uid = nix::unistd::geteuid();
        if uid.is_root() {
            return None;
        }
        let name = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map(|u| u.name);
        Some(Caller {
            uid: uid.as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            name,
        })
    }
}

/// How the parent writes one map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapWriter {
    /// Root: the file, through the verified procfs handle.
    Direct,
    /// The caller's own id alone, by the caller: the file, through the verified procfs handle;
    /// for the gid map `setgroups` is set to `deny` first, so the container cannot set groups.
    OwnId,
    /// `newuidmap` / `newgidmap` with the map's ranges.
    Helper,
}

/// The writer of a map with `maps` for `caller` (`own`: its uid for the uid map, gid for the gid
/// map).
pub fn writer(maps: &[LinuxIdMapping], caller: Option<&Caller>, own: u32) -> MapWriter {
    match (caller, maps) {
        (None, _) => MapWriter::Direct,
        (Some(_), [m]) if m.host_id() == own && m.size() == 1 => MapWriter::OwnId,
        (Some(_), _) => MapWriter::Helper,
    }
}

/// Is `setgroups` `deny` in the container's new user namespace: a rootless caller's gid map of
/// its own gid alone ([`MapWriter::OwnId`]).
pub fn setgroups_denied(linux: Option<&Linux>, caller: Option<&Caller>) -> bool {
    let Some(c) = caller else { return false };
    let gids = linux.and_then(|l| l.gid_mappings().as_deref());
    gids.is_some_and(|g| writer(g, Some(c), c.gid) == MapWriter::OwnId)
}

/// The process's groups when `setgroups` is `deny` (`denied`): none are set, and additional gids
/// asked for are refused naming the field, as the kernel would refuse them.
pub fn groups(
    groups: Option<Vec<libc::gid_t>>,
    denied: bool,
) -> Result<Option<Vec<libc::gid_t>>, SpecError> {
    if !denied {
        return Ok(groups);
    }
    if groups.as_ref().is_some_and(|g| !g.is_empty()) {
        return Err(SpecError::field(
            "process.user.additionalGids",
            "cannot be set: the user namespace maps only the caller's own gid, so setgroups is \
             denied in it (map subordinate gids through newgidmap, /etc/subgid)",
        ));
    }
    Ok(None)
}

/// The subordinate ranges (`start`, `count`) that the subid file text `subid` gives `caller`
/// (lines `name:start:count` or `uid:start:count`; malformed lines are skipped, as shadow's
/// helpers skip them).
pub fn ranges(subid: &str, caller: &Caller) -> Vec<(u64, u64)> {
    let uid = caller.uid.to_string();
    subid
        .lines()
        .filter_map(|line| {
            let mut parts = line.trim().splitn(3, ':');
            let owner = parts.next()?;
            let start = parts.next()?.parse::<u64>().ok()?;
            let count = parts.next()?.trim().parse::<u64>().ok()?;
            let mine = owner == uid || caller.name.as_deref() == Some(owner);
            mine.then_some((start, count))
        })
        .fold(Vec::new(), |mut v, r| {
            // useradd and an admin may list the same range twice.
            if !v.contains(&r) {
                v.push(r);
            }
            v
        })
}

/// Check that every host range of `maps` (the list `field`) is the caller's own id or inside one
/// of its subordinate ranges `allowed` (from `file`), so that `newuidmap` would take it; else one
/// line naming `field[i]`.
pub fn check_allowed(
    maps: &[LinuxIdMapping],
    field: &str,
    own: u32,
    allowed: &[(u64, u64)],
    file: &str,
) -> Result<(), SpecError> {
    for (i, m) in maps.iter().enumerate() {
        let start = u64::from(m.host_id());
        let end = start + u64::from(m.size());
        let own_id = start == u64::from(own) && end == start + 1;
        let inside = allowed.iter().any(|&(s, n)| start >= s && end <= s + n);
        if !own_id && !inside {
            let have: Vec<String> = allowed
                .iter()
                .map(|(s, n)| format!("{s}-{}", s + n - 1))
                .collect();
            let have = if have.is_empty() {
                "none".to_string()
            } else {
                have.join(", ")
            };
            return Err(SpecError::field(
                format!("{field}[{i}]"),
                format!(
                    "host ids {start}-{} are neither the caller's own id {own} nor in its \
                     subordinate ranges in {file} ({have})",
                    end - 1
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    fn map(c: u32, h: u32, n: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(c)
            .host_id(h)
            .size(n)
            .build()
            .expect("mapping")
    }

    fn caller() -> Caller {
        Caller {
            uid: 1001,
            gid: 1002,
            name: Some("sjtest".into()),
        }
    }

    #[test]
    fn the_writer_follows_the_caller_and_the_map() {
        let c = caller();
        assert_eq!(writer(&[map(0, 5, 9)], None, 0), MapWriter::Direct);
        assert_eq!(writer(&[map(0, 1001, 1)], Some(&c), 1001), MapWriter::OwnId);
        assert_eq!(
            writer(&[map(0, 1001, 2)], Some(&c), 1001),
            MapWriter::Helper
        );
        assert_eq!(
            writer(&[map(0, 1000, 1)], Some(&c), 1001),
            MapWriter::Helper
        );
        let two = [map(0, 1001, 1), map(1, 100000, 65536)];
        assert_eq!(writer(&two, Some(&c), 1001), MapWriter::Helper);
    }

    #[test]
    fn subordinate_ranges_by_name_or_uid() {
        let text = "other:1:5\nsjtest:100000:65536\n1001:300000:10\nbad line\nsjtest:x:1\n";
        assert_eq!(ranges(text, &caller()), vec![(100000, 65536), (300000, 10)]);
    }

    #[test]
    fn ranges_outside_the_subordinate_ones_are_named() {
        let allowed = [(100000, 65536)];
        let ok = [map(0, 1001, 1), map(1, 100000, 65536)];
        check_allowed(&ok, "linux.uidMappings", 1001, &allowed, "/etc/subuid").expect("allowed");
        let over = [map(0, 1001, 1), map(1, 100000, 65537)];
        let e = check_allowed(&over, "linux.uidMappings", 1001, &allowed, "/etc/subuid")
            .expect_err("past the range");
        let text = e.to_string();
        assert!(text.contains("linux.uidMappings[1]"), "{text}");
        assert!(text.contains("100000-165535"), "{text}");
        let other = [map(0, 0, 1)];
        let e = check_allowed(&other, "linux.gidMappings", 1002, &[], "/etc/subgid")
            .expect_err("root's id");
        assert!(e.to_string().contains("linux.gidMappings[0]"), "{e}");
        assert!(e.to_string().contains("(none)"), "{e}");
    }
}
