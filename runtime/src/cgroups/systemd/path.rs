//! `linux.cgroupsPath` under the systemd driver: `slice:prefix:name`, as runc reads it. The unit is
//! `<prefix>-<name>.scope` in `slice` (default `system.slice`), or the slice `name` itself when
//! it ends in `.slice`; its cgroup is the slice's expanded path (`a-b.slice` →
//! `/a.slice/a-b.slice`) with the unit below it.
use serde::{Deserialize, Serialize};

use crate::cgroups::error::CgroupError;

/// The slice a unit goes in when `cgroupsPath` names none.
pub const DEFAULT_SLICE: &str = "system.slice";
/// The scope prefix when `cgroupsPath` is empty (runc says `runc`).
pub const DEFAULT_PREFIX: &str = "sangja";

/// A container's systemd unit, as `cgroupsPath` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// `<prefix>-<name>.scope` (or `<name>` for a slice).
    pub name: String,
    /// The slice it is in, as given (systemd expands it).
    pub slice: String,
    /// Its cgroup, relative to the cgroup2 root: `/system.slice/docker-abc.scope`.
    pub cgroup: String,
}

impl Unit {
    /// Is the unit a slice (not a scope)? Then it has no processes of its own and no `Delegate`.
    pub fn is_slice(&self) -> bool {
        self.name.ends_with(".slice")
    }
}

fn bad(msg: String) -> CgroupError {
    CgroupError::Invalid {
        field: "linux.cgroupsPath".into(),
        reason: msg,
    }
}

/// Parse `cgroups_path` for container `id`: empty means `:sangja:<id>`.
pub fn parse(cgroups_path: &str, id: &str) -> Result<Unit, CgroupError> {
    let default = format!(":{DEFAULT_PREFIX}:{id}");
    let path = if cgroups_path.is_empty() {
        default.as_str()
    } else {
        cgroups_path
    };
    let parts: Vec<&str> = path.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err(bad(format!(
            "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got {cgroups_path:?} instead"
        )));
    };
    for (part, what) in [(slice, "slice"), (prefix, "prefix"), (name, "name")] {
        if part.contains('/') || part.contains('\0') {
            return Err(bad(format!("{what} {part:?} contains '/' or NUL")));
        }
    }
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else {
        if name.is_empty() {
            return Err(bad(format!("no name in {cgroups_path:?}")));
        }
        format!("{prefix}-{name}.scope")
    };
    let (slice, parent) = if slice.is_empty() {
        (DEFAULT_SLICE.to_string(), format!("/{DEFAULT_SLICE}"))
    } else {
        (slice.to_string(), expand_slice(slice)?)
    };
    let cgroup = if parent == "/" {
        format!("/{unit}")
    } else {
        format!("{parent}/{unit}")
    };
    Ok(Unit {
        name: unit,
        slice,
        cgroup,
    })
}

/// The cgroup path of `slice`: each dash adds a level (`a-b-c.slice` →
/// `/a.slice/a-b.slice/a-b-c.slice`), `-.slice` is the root. Refused as runc refuses: not ending
/// in `.slice`, a `/`, or an empty part (`a--b.slice`, `-a.slice`, `a-.slice`).
pub fn expand_slice(slice: &str) -> Result<String, CgroupError> {
    let invalid = || bad(format!("invalid slice name: {slice}"));
    if slice == "-.slice" {
        return Ok("/".into());
    }
    let stem = slice.strip_suffix(".slice").ok_or_else(invalid)?;
    if stem.is_empty() || slice.contains('/') {
        return Err(invalid());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if part.is_empty() {
            return Err(invalid());
        }
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push('/');
        path.push_str(&prefix);
        path.push_str(".slice");
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(p: &str) -> Result<(String, String, String), String> {
        parse(p, "abc")
            .map(|u| (u.name, u.slice, u.cgroup))
            .map_err(|e| e.to_string())
    }

    fn ok(name: &str, slice: &str, cgroup: &str) -> Result<(String, String, String), String> {
        Ok((name.into(), slice.into(), cgroup.into()))
    }

    #[test]
    fn paths_as_docker_podman_and_kubelet_write_them() {
        assert_eq!(
            unit("system.slice:docker:abc"),
            ok(
                "docker-abc.scope",
                "system.slice",
                "/system.slice/docker-abc.scope"
            )
        );
        assert_eq!(
            unit("machine-libpod_pod_1.slice:libpod:abc"),
            ok(
                "libpod-abc.scope",
                "machine-libpod_pod_1.slice",
                "/machine.slice/machine-libpod_pod_1.slice/libpod-abc.scope"
            )
        );
        let kubelet = "kubepods-besteffort-pod12.slice:cri-containerd:abc";
        assert_eq!(
            unit(kubelet).map(|u| u.2),
            Ok(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope"
                    .into()
            )
        );
    }

    #[test]
    fn empty_parts_take_runcs_defaults() {
        assert_eq!(
            unit(""),
            ok(
                "sangja-abc.scope",
                "system.slice",
                "/system.slice/sangja-abc.scope"
            )
        );
        assert_eq!(
            unit(":p:n"),
            ok("p-n.scope", "system.slice", "/system.slice/p-n.scope")
        );
        assert_eq!(
            unit("-.slice:p:n"),
            ok("p-n.scope", "-.slice", "/p-n.scope")
        );
        assert_eq!(
            unit("a.slice::x-y.slice"),
            ok("x-y.slice", "a.slice", "/a.slice/x-y.slice")
        );
    }

    #[test]
    fn bad_paths_name_the_field_in_runcs_words() {
        let e = unit("/sangja/abc").err().unwrap_or_default();
        assert!(
            e.contains(
                "linux.cgroupsPath: expected cgroupsPath to be of format \"slice:prefix:name\""
            ),
            "{e}"
        );
        for (p, want) in [
            ("a:b", "expected cgroupsPath"),
            ("a:b:c:d", "expected cgroupsPath"),
            ("system:p:n", "invalid slice name: system"),
            ("a--b.slice:p:n", "invalid slice name: a--b.slice"),
            ("-a.slice:p:n", "invalid slice name"),
            ("a-.slice:p:n", "invalid slice name"),
            (".slice:p:n", "invalid slice name"),
            ("a.slice:p/q:n", "contains '/'"),
            ("a.slice:p:../n", "contains '/'"),
            ("a.slice:p:", "no name"),
        ] {
            let e = unit(p).err().unwrap_or_default();
            assert!(e.contains(want), "{p}: {e}");
        }
    }

    #[test]
    fn slices_expand_level_by_level() {
        assert_eq!(
            expand_slice("system.slice").ok(),
            Some("/system.slice".into())
        );
        assert_eq!(
            expand_slice("a-b-c.slice").ok(),
            Some("/a.slice/a-b.slice/a-b-c.slice".into())
        );
        assert_eq!(expand_slice("-.slice").ok(), Some("/".into()));
        assert!(expand_slice("a/b.slice").is_err());
    }
}
