//! How the host mounts cgroups ([`Host::detect`]: v1, hybrid or v2, and each hierarchy), and
//! where one cgroup is in them ([`Cgroup`]: a directory per hierarchy).
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::CgroupError;

/// Where cgroup filesystems are mounted.
pub(super) const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The cgroup2 mount of a hybrid host.
pub(super) const UNIFIED_ROOT: &str = "/sys/fs/cgroup/unified";
pub(super) const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// How cgroups are mounted on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Each v1 controller its own hierarchy.
    V1,
    /// v1 controllers plus a cgroup2 at `/sys/fs/cgroup/unified` (controller-less, or with the
    /// controllers no v1 hierarchy took).
    Hybrid,
    /// One unified cgroup2 hierarchy.
    V2,
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hierarchy {
    /// Controllers as in `/proc/self/cgroup` (`memory`, `cpu,cpuacct`, `name=systemd`; empty for v2).
    pub controllers: String,
    /// Mount point (`/sys/fs/cgroup/memory`, `/sys/fs/cgroup/unified`).
    pub mount: PathBuf,
    /// This process's own cgroup in it (for relative `cgroupsPath`).
    pub own: String,
}

impl Hierarchy {
    /// Is this the cgroup2 hierarchy?
    pub fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }

    /// Directory name below the cgroup mount (`memory`, `systemd`, `unified`).
    pub fn name(&self) -> &str {
        self.mount
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
    }
}

/// The host's cgroup layout and hierarchies, read once per command (two `statfs` and one small
/// read of `/proc/self/cgroup`).
#[derive(Debug, Clone)]
pub struct Host {
    /// Layout.
    pub layout: Layout,
    /// Every hierarchy the container gets a cgroup in.
    pub hierarchies: Vec<Hierarchy>,
}

pub(super) fn statfs_type(path: &str) -> Option<i64> {
    nix::sys::statfs::statfs(path)
        .ok()
        .map(|s| s.filesystem_type().0)
}

impl Host {
    /// Detect the layout and hierarchies.
    pub fn detect() -> Result<Host, CgroupError> {
        let layout = if statfs_type(CGROUP_ROOT) == Some(CGROUP2_SUPER_MAGIC) {
            Layout::V2
        } else if statfs_type(UNIFIED_ROOT) == Some(CGROUP2_SUPER_MAGIC) {
            Layout::Hybrid
        } else {
            Layout::V1
        };
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| CgroupError::Host(format!("read /proc/self/cgroup: {e}")))?;
        let mut hierarchies = Vec::new();
        for line in own.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(ctrl), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let mount = if ctrl.is_empty() {
                match layout {
                    Layout::V2 => PathBuf::from(CGROUP_ROOT),
                    Layout::Hybrid => PathBuf::from(UNIFIED_ROOT),
                    Layout::V1 => continue,
                }
            } else {
                if layout == Layout::V2 {
                    continue;
                }
                let dir = ctrl.strip_prefix("name=").unwrap_or(ctrl);
                let mount = Path::new(CGROUP_ROOT).join(dir);
                if !mount.is_dir() {
                    continue;
                }
                mount
            };
            hierarchies.push(Hierarchy {
                controllers: ctrl.to_string(),
                mount,
                own: path.to_string(),
            });
        }
        // /proc/self/cgroup lists hierarchies newest first; mount them in hierarchy-id order (as
        // the host's mountinfo has them), the controller-less cgroup2 (id 0) last.
        hierarchies.reverse();
        if let Some(pos) = hierarchies.iter().position(|h| h.is_v2()) {
            let v2 = hierarchies.remove(pos);
            hierarchies.push(v2);
        }
        if hierarchies.is_empty() {
            return Err(CgroupError::Host(
                "no cgroup hierarchy is mounted under /sys/fs/cgroup".into(),
            ));
        }
        Ok(Host {
            layout,
            hierarchies,
        })
    }
}

/// The container's cgroup: one directory per hierarchy. Saved in the state file for later commands.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cgroup {
    /// Layout it was created on.
    pub layout: Layout,
    /// The cgroup path relative to each hierarchy root (`/sangja/<id>`).
    pub path: String,
    /// (controllers, directory) of each hierarchy.
    pub dirs: Vec<(String, PathBuf)>,
    /// Under the systemd driver: the unit whose cgroup this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<super::systemd::path::Unit>,
}

impl Cgroup {
    pub(super) fn index_of(&self, controller: &str) -> Option<usize> {
        self.dirs.iter().position(|(c, _)| {
            if controller.is_empty() {
                c.is_empty()
            } else {
                c.split(',').any(|x| x == controller)
            }
        })
    }

    pub(super) fn dir_of(&self, controller: &str) -> Option<&Path> {
        self.index_of(controller).map(|i| self.dirs[i].1.as_path())
    }

    /// The directory holding the unified (v2) controllers, if the host is v2.
    pub(super) fn v2_dir(&self) -> Option<&Path> {
        if self.layout == Layout::V2 {
            self.dir_of("")
        } else {
            None
        }
    }

    /// The cgroup2 hierarchy's mount point (where controller enabling starts).
    pub(super) fn v2_root(&self) -> &'static Path {
        Path::new(if self.layout == Layout::V2 {
            CGROUP_ROOT
        } else {
            UNIFIED_ROOT
        })
    }
}
