//! "Nothing left behind": after a failed (or finished) command, no state dir, cgroup, mount or process of
//! the container may remain.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{Bundle, Harness};
use crate::host;

/// One thing that remains of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Its state directory, or an entry of a state root that should be empty.
    State(String),
    /// A cgroup directory.
    Cgroup(PathBuf),
    /// A mount in our mount namespace.
    Mount(String),
    /// A live process.
    Process(i64, String),
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::State(s) | Finding::Mount(s) | Finding::Process(_, s) => f.write_str(s),
            Finding::Cgroup(d) => write!(f, "cgroup {} exists", d.display()),
        }
    }
}

/// Everything that remains of container `id` from bundle `b`, as human-readable findings.
pub fn leftovers(h: &Harness, id: &str, b: &Bundle) -> Vec<String> {
    findings(h, id, b).iter().map(|f| f.to_string()).collect()
}

/// Remove what [`findings`] finds (after a test has recorded it): SIGKILL the processes, then
/// remove the cgroups, deepest first, and the state directory. Mounts are left to the test.
pub fn sweep(h: &Harness, id: &str, b: &Bundle) {
    let found = findings(h, id, b);
    for f in &found {
        if let Finding::Process(pid, _) = f {
            if let Ok(pid) = libc::pid_t::try_from(*pid) {
                // SAFETY: kill(2) takes plain integers and touches no memory of ours.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    let mut cgroups: Vec<&PathBuf> = found
        .iter()
        .filter_map(|f| match f {
            Finding::Cgroup(d) => Some(d),
            _ => None,
        })
        .collect();
    cgroups.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in cgroups {
        host::wait_until(Duration::from_secs(2), || {
            fs::remove_dir(d).is_ok() || !d.exists()
        });
    }
    let _ = fs::remove_dir_all(h.root().join(id));
}

/// Everything that remains of container `id` from bundle `b`.
pub fn findings(h: &Harness, id: &str, b: &Bundle) -> Vec<Finding> {
    let mut found = Vec::new();

    // Ids that name the state root itself (or its parent) cannot be checked by path: check the root is empty.
    let degenerate = id.is_empty() || id == "." || id == "..";

    // 1. State dir.
    if degenerate {
        if let Ok(rd) = fs::read_dir(h.root()) {
            let names: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
            if !names.is_empty() {
                found.push(Finding::State(format!(
                    "state root {} is not empty: {names:?}",
                    h.root().display()
                )));
            }
        }
    } else {
        let dir = h.root().join(id);
        if dir.exists() {
            found.push(Finding::State(format!(
                "state dir {} exists",
                dir.display()
            )));
        }
    }

    // 2. Cgroups in every hierarchy (v1 controllers and cgroup2), at the default sangja path, at runc's
    //    defaults (the id at the top or under our own cgroup), and at the config's cgroupsPath.
    if !degenerate {
        let mut rel: Vec<PathBuf> = vec![PathBuf::from("sangja").join(id), PathBuf::from(id)];
        for (_, path) in host::proc_cgroups("self") {
            rel.push(PathBuf::from(path.trim_start_matches('/')).join(id));
        }
        if let Some(p) = b
            .config
            .pointer("/linux/cgroupsPath")
            .and_then(|v| v.as_str())
        {
            rel.push(PathBuf::from(p.trim_start_matches('/')));
        }
        rel.sort();
        rel.dedup();
        for m in host::cgroup_mounts() {
            for r in &rel {
                let dir = m.path.join(r);
                if dir != m.path && dir.is_dir() {
                    found.push(Finding::Cgroup(dir));
                }
            }
        }
    }

    // 3. Mounts on the host mentioning the bundle.
    for m in host::own_mounts() {
        if Path::new(&m.mount_point).starts_with(&b.dir) || Path::new(&m.root).starts_with(&b.dir) {
            found.push(Finding::Mount(format!(
                "mount {} (root {}) left in the host mount namespace",
                m.mount_point, m.root
            )));
        }
    }

    // 4. Processes with cwd or root in the bundle (seen from the host namespace), whose root directory is
    //    a private rootfs of the bundle (same inode, as seen through /proc/<pid>/root from any namespace),
    //    or with the id on their command line.
    let private_root = b
        .rootfs()
        .starts_with(&b.dir)
        .then(|| fs::metadata(b.rootfs()).ok())
        .flatten()
        .map(|m| (m.dev(), m.ino()));
    let me = std::process::id();
    for pid in host::all_pids() {
        if u32::try_from(pid).is_ok_and(|p| p == me) {
            continue;
        }
        for link in ["cwd", "root"] {
            if let Ok(target) = fs::read_link(format!("/proc/{pid}/{link}")) {
                if target.starts_with(&b.dir) {
                    found.push(Finding::Process(
                        pid,
                        format!("process {pid} has its {link} at {}", target.display()),
                    ));
                }
            }
        }
        if let (Some(want), Ok(m)) = (private_root, fs::metadata(format!("/proc/{pid}/root"))) {
            if (m.dev(), m.ino()) == want {
                found.push(Finding::Process(
                    pid,
                    format!(
                        "process {pid} has the bundle's rootfs {} as its root",
                        b.rootfs().display()
                    ),
                ));
            }
        }
        if !degenerate {
            if let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) {
                if cmdline.split(|c| *c == 0).any(|arg| arg == id.as_bytes()) {
                    found.push(Finding::Process(
                        pid,
                        format!(
                            "process {pid} has {id:?} on its command line: {}",
                            String::from_utf8_lossy(&cmdline).replace('\0', " ")
                        ),
                    ));
                }
            }
        }
    }
    found
}

/// Asserts (allowing 2 s for the kernel to reap) that nothing of container `id` remains.
#[track_caller]
pub fn assert_nothing_left(h: &Harness, id: &str, b: &Bundle) {
    let mut last = Vec::new();
    let clean = host::wait_until(Duration::from_secs(2), || {
        last = leftovers(h, id, b);
        last.is_empty()
    });
    assert!(
        clean,
        "container {id:?} left things behind:\n  {}",
        last.join("\n  ")
    );
}
