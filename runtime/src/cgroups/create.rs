//! Creating the container's cgroup. `linux.cgroupsPath` is cleaned first (runc's
//! `utils.CleanPath`: `..` cannot climb out of the hierarchy, nor out of our own cgroup for a
//! relative path). A cgroup that already exists is checked before anything is made: frozen, or
//! holding processes in it or below (another container's, `/`, our own), it is refused — never
//! joined, signalled or removed. Then the missing directories are made and resources written; on
//! failure only what this call made is removed.
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::error::{io, CgroupError};
use super::files::{write_file, Mode};
use super::layout::{Cgroup, Host, Layout};
use super::{devices, v1, v2};

/// `linux.cgroupsPath` cleaned lexically as runc's `utils.CleanPath`: `.`, `..` and repeated
/// slashes resolved, `..` stopping at the top (`/../../x` → `/x`); a relative path is cleaned as if
/// below `/` and stays relative (`../x` → `x`, `..` → `.`, our own cgroup).
pub fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if path.starts_with('/') {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

/// Resolve a cleaned `linux.cgroupsPath` for one hierarchy: absolute as is, relative to our own
/// cgroup (`.` is our own cgroup).
pub(super) fn resolve(cgroups_path: &str, own: &str) -> String {
    if cgroups_path.starts_with('/') {
        cgroups_path.to_string()
    } else if cgroups_path == "." {
        own.to_string()
    } else {
        format!("{}/{}", own.trim_end_matches('/'), cgroups_path)
    }
}

/// A freshly created cpuset cgroup has empty `cpus`/`mems` and refuses tasks: copy the parent's,
/// filling an empty parent (one another tool made) from its own parent first, as runc does.
fn init_cpuset(dir: &Path) -> Result<(), CgroupError> {
    init_cpuset_at(dir, 0)
}

fn init_cpuset_at(dir: &Path, depth: usize) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.join(file);
        let cur = fs::read_to_string(&own).map_err(io("read", &own))?;
        if !cur.trim().is_empty() {
            continue;
        }
        let Some(up) = dir.parent() else { continue };
        let parent = up.join(file);
        let mut val = fs::read_to_string(&parent).map_err(io("read", &parent))?;
        // The hierarchy's root always has values; above it there is no cpuset file at all.
        if val.trim().is_empty() && depth < 64 && up.parent().is_some_and(|g| g.join(file).exists())
        {
            init_cpuset_at(up, depth + 1)?;
            val = fs::read_to_string(&parent).map_err(io("read", &parent))?;
        }
        write_file(&own, val.trim()).map_err(io("write", &own))?;
    }
    Ok(())
}

/// The first cgroup at or below `dir` whose `cgroup.procs` lists processes, with their number.
/// A cgroup removed meanwhile (or unreadable) counts as empty.
fn first_busy(dir: &Path) -> Option<(PathBuf, usize)> {
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        let count = procs.lines().filter(|l| !l.trim().is_empty()).count();
        if count > 0 {
            return Some((d, count));
        }
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        todo.extend(
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path()),
        );
    }
    None
}

/// Is `dir` (in the hierarchy mounted at `mount`) delegated to `uid`: its nearest existing
/// directory at or above it, strictly below the mount, owned by `uid` and writable by it? A
/// symlink is not followed (cgroupfs has none; one would be a trick).
fn delegated(dir: &Path, mount: &Path, uid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let mut p = dir;
    while p.starts_with(mount) && p != mount {
        match fs::symlink_metadata(p) {
            Ok(m) => {
                return m.is_dir()
                    && m.uid() == uid
                    && nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok()
            }
            Err(_) => match p.parent() {
                Some(up) => p = up,
                None => return false,
            },
        }
    }
    false
}

impl Cgroup {
    /// The container's cgroup on `host` for `linux.cgroupsPath`, cleaned (pure: nothing is
    /// created yet).
    pub fn new(host: &Host, cgroups_path: &str) -> Cgroup {
        let path = clean_path(cgroups_path);
        let dirs = host
            .hierarchies
            .iter()
            .map(|h| {
                let rel = resolve(&path, &h.own);
                let rel = rel.trim_matches('/');
                let dir = if rel.is_empty() {
                    h.mount.clone()
                } else {
                    h.mount.join(rel)
                };
                (h.controllers.clone(), dir)
            })
            .collect();
        Cgroup {
            layout: host.layout,
            path,
            dirs,
            unit: None,
        }
    }

    /// For a caller other than root (rootless), the cgroup in the hierarchies delegated to `uid`
    /// only, as runc's rootless cgroup manager: those where the nearest existing directory at or
    /// above the cgroup, inside the hierarchy, is owned by `uid` and writable by it (a systemd
    /// user manager's delegated subtree on cgroup v2). The others are left out, each with a debug
    /// log: the container runs without them, and nothing is written to a cgroup the user does not
    /// own. A resource that needs a hierarchy left out is refused by [`Cgroup::create`] naming its
    /// field.
    pub fn delegated_to(mut self, uid: u32, host: &Host) -> Cgroup {
        self.dirs.retain(|(controllers, dir)| {
            let mount = host
                .hierarchies
                .iter()
                .find(|h| &h.controllers == controllers)
                .map(|h| h.mount.as_path());
            let ok = mount.is_some_and(|m| delegated(dir, m, uid));
            if !ok {
                log::debug!(
                    "rootless: {} is not delegated to uid {uid}: the container has no cgroup there",
                    dir.display()
                );
            }
            ok
        });
        self
    }

    /// Create the cgroup in every hierarchy (refusing a frozen or occupied one) and apply
    /// `resources`, with runc's default device rules. Values are validated and existing cgroups
    /// checked before anything is created; on failure nothing this call made is left behind.
    /// Under the systemd driver this only refuses a unit that exists: `resources` were checked by
    /// [`Cgroup::unit_start`], and the unit is started once the init exists
    /// ([`Cgroup::start_unit`]).
    pub fn create(&self, resources: Option<&LinuxResources>) -> Result<(), CgroupError> {
        if self.unit.is_some() {
            return self.check_unit_free();
        }
        let writes = self.plan(resources, Mode::Create)?;
        // cgroup2 (pure v2 only: on a hybrid host the v1 devices controller has the rules).
        // A caller other than root cannot attach a device program (it needs CAP_BPF and
        // CAP_SYS_ADMIN in the host's user namespace); its container is in a user namespace, where
        // no device node can be made and the bound host nodes are the user's own access anyway.
        let root = nix::unistd::geteuid().is_root();
        let device_program = match (self.layout, self.index_of("")) {
            (Layout::V2, Some(i)) if root => {
                let spec_rules = resources.and_then(|r| r.devices().as_deref());
                Some((i, devices::program(&devices::rules(spec_rules)?)))
            }
            _ => None,
        };
        self.check_existing()?;
        let mut created = Vec::with_capacity(self.dirs.len());
        let result = self
            .create_dirs(&mut created)
            .and_then(|_| self.execute(&writes))
            .and_then(|_| match &device_program {
                Some((i, p)) => v2::attach_device_program(&self.dirs[*i].1, p),
                None => Ok(()),
            });
        if result.is_err() {
            // Only what this call made: a pre-existing cgroup stays.
            for d in created.iter().rev() {
                let _ = fs::remove_dir(d);
            }
        }
        result
    }

    /// Refuse a cgroup that exists in any hierarchy and is frozen (v1 `freezer.state`, cgroup2
    /// `cgroup.freeze`) or holds processes in it or below. Nothing is written.
    fn check_existing(&self) -> Result<(), CgroupError> {
        for (controllers, dir) in &self.dirs {
            if !dir.is_dir() {
                continue;
            }
            let frozen = if controllers.is_empty() {
                v2::frozen(dir)
            } else {
                controllers.split(',').any(|c| c == "freezer") && v1::frozen(dir)
            };
            if frozen {
                return Err(CgroupError::Frozen { path: dir.clone() });
            }
        }
        for (_, dir) in &self.dirs {
            if let Some((found, count)) = first_busy(dir) {
                let held = if found == *dir {
                    format!("{count} process(es)")
                } else {
                    format!("{count} process(es) in {}", found.display())
                };
                return Err(CgroupError::Occupied {
                    path: dir.clone(),
                    held,
                });
            }
        }
        Ok(())
    }

    fn create_dirs(&self, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
        for (controllers, dir) in &self.dirs {
            let cpuset = controllers.split(',').any(|c| c == "cpuset");
            match fs::create_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // Joined as it is, but a task cannot join an empty cpuset.
                    if cpuset {
                        init_cpuset(dir)?;
                    }
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.create_ancestors(dir, cpuset)?
                }
                Err(e) => return Err(io("mkdir", dir)(e)),
            }
            created.push(dir.clone());
            if cpuset {
                init_cpuset(dir)?;
            }
        }
        Ok(())
    }

    /// First container under a new parent (`/sangja`): create the missing levels. In cpuset,
    /// each new level gets its parent's cpus/mems and `cgroup.clone_children` so that later
    /// leaves inherit them from the kernel without extra writes.
    fn create_ancestors(&self, dir: &Path, cpuset: bool) -> Result<(), CgroupError> {
        let mut missing = Vec::new();
        let mut p = dir;
        while !p.is_dir() {
            missing.push(p.to_path_buf());
            p = match p.parent() {
                Some(pp) => pp,
                None => break,
            };
        }
        for d in missing.iter().rev() {
            match fs::create_dir(d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("mkdir", d)(e)),
            }
            if cpuset && d != dir {
                init_cpuset(d)?;
                let cc = d.join("cgroup.clone_children");
                write_file(&cc, "1").map_err(io("write", &cc))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::Hierarchy;

    #[test]
    fn dot_dot_cannot_leave_the_hierarchy_or_our_cgroup() {
        for (raw, clean) in [
            ("/../../x", "/x"),
            ("/a/../../b/./c//", "/b/c"),
            ("/", "/"),
            ("/..", "/"),
            ("../../x", "x"),
            ("a/../../../b", "b"),
            ("..", "."),
            ("./a/b/..", "a"),
            ("/sangja/id", "/sangja/id"),
        ] {
            assert_eq!(clean_path(raw), clean, "{raw}");
        }
    }

    #[test]
    fn cleaned_paths_land_inside_each_hierarchy() {
        let host = Host {
            layout: Layout::Hybrid,
            hierarchies: vec![
                Hierarchy {
                    controllers: "memory".into(),
                    mount: "/sys/fs/cgroup/memory".into(),
                    own: "/user.slice/s".into(),
                },
                Hierarchy {
                    controllers: String::new(),
                    mount: "/sys/fs/cgroup/unified".into(),
                    own: "/".into(),
                },
            ],
        };
        let dirs = |p: &str| -> Vec<PathBuf> {
            Cgroup::new(&host, p)
                .dirs
                .into_iter()
                .map(|(_, d)| d)
                .collect()
        };
        assert_eq!(
            dirs("/../../../etc"),
            [
                PathBuf::from("/sys/fs/cgroup/memory/etc"),
                PathBuf::from("/sys/fs/cgroup/unified/etc")
            ]
        );
        assert_eq!(
            dirs("../../../../x"),
            [
                PathBuf::from("/sys/fs/cgroup/memory/user.slice/s/x"),
                PathBuf::from("/sys/fs/cgroup/unified/x")
            ]
        );
        assert_eq!(
            dirs(".."),
            [
                PathBuf::from("/sys/fs/cgroup/memory/user.slice/s"),
                PathBuf::from("/sys/fs/cgroup/unified")
            ]
        );
        assert_eq!(Cgroup::new(&host, "/a/../b").path, "/b");
        assert_eq!(
            dirs("/.."),
            [
                host.hierarchies[0].mount.clone(),
                host.hierarchies[1].mount.clone()
            ]
        );
    }

    #[test]
    fn a_tree_with_processes_anywhere_is_busy() {
        let base = std::env::temp_dir().join(format!("sangja-busy-{}", std::process::id()));
        let deep = base.join("a/b");
        fs::create_dir_all(&deep).expect("mkdir");
        fs::write(base.join("cgroup.procs"), "").expect("write");
        fs::write(base.join("a/cgroup.procs"), "\n").expect("write");
        assert_eq!(first_busy(&base), None);
        fs::write(deep.join("cgroup.procs"), "12\n34\n").expect("write");
        assert_eq!(first_busy(&base), Some((deep.clone(), 2)));
        fs::remove_dir_all(&base).expect("cleanup");
    }
}
