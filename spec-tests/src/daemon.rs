//! What the private container daemons of the client tests ([`crate::dockerd`], [`crate::containerd`])
//! share: their [`Footprint`] (temp dir, cgroup parent, containerd shim sockets), the cleanup that
//! removes it and the check that nothing of it remains.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::host;

/// The traces of one daemon: its temp dir (mounts, processes naming it), its cgroup parent and the
/// shim sockets of its containerd.
#[derive(Debug, Clone)]
pub struct Footprint {
    dir: PathBuf,
    cgroup_parent: String,
    shim_sockets: Arc<Mutex<Vec<PathBuf>>>,
}

impl Footprint {
    /// The traces under temp dir `dir` and cgroup parent `/<cgroup_parent>` (in every hierarchy).
    pub fn new(dir: &Path, cgroup_parent: &str) -> Self {
        Self {
            dir: dir.to_path_buf(),
            cgroup_parent: cgroup_parent.to_string(),
            shim_sockets: Arc::default(),
        }
    }

    /// Records the shim sockets of the containers that containerd (listening on `address`) has
    /// bundles for under `task_root` (`<state>/io.containerd.runtime.v2.task/<ns>`), so that
    /// [`Self::clean`] removes them and [`Self::leftovers`] checks them.
    pub fn add_shim_sockets(&self, address: &Path, ns: &str, task_root: &Path) {
        let sockets: Vec<PathBuf> = subdirs(task_root)
            .iter()
            .filter_map(|t| shim_socket(address, ns, t.file_name()?.to_str()?))
            .collect();
        self.shim_sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(sockets);
    }

    /// The shim sockets recorded by [`Self::add_shim_sockets`].
    pub fn shim_sockets(&self) -> Vec<PathBuf> {
        self.shim_sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Our cgroup parent in every hierarchy where it exists.
    pub fn parent_cgroups(&self) -> Vec<PathBuf> {
        host::cgroup_mounts()
            .into_iter()
            .map(|m| m.path.join(&self.cgroup_parent))
            .filter(|p| p.is_dir())
            .collect()
    }

    /// Mount points under the temp dir, deepest first.
    pub fn own_mounts(&self) -> Vec<String> {
        let mut m: Vec<String> = host::own_mounts()
            .into_iter()
            .map(|m| m.mount_point)
            .filter(|m| Path::new(m).starts_with(&self.dir))
            .collect();
        m.sort_by_key(|m| std::cmp::Reverse(m.len()));
        m
    }

    /// Processes (other than us) with the temp dir on their command line: the daemons, shims.
    pub fn own_processes(&self) -> Vec<i64> {
        let needle = self.dir.to_string_lossy().into_owned();
        let me = i64::from(std::process::id());
        host::all_pids()
            .into_iter()
            .filter(|&p| p != me && host::pid_alive(p))
            .filter(|p| {
                let c = fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                String::from_utf8_lossy(&c).contains(&needle)
            })
            .collect()
    }

    /// Kills what survived the daemon (processes naming the temp dir, processes in our cgroups),
    /// removes the cgroups, unmounts everything under the temp dir and removes the shim sockets.
    /// The temp dir itself stays.
    pub fn clean(&self) {
        for p in self.own_processes() {
            // SAFETY: kill(2) on a process whose command line names our private temp dir.
            unsafe { libc::kill(p as i32, libc::SIGKILL) };
        }
        // Container processes that outlived their shim: thaw, kill, then remove the cgroups.
        let cgroups = self.parent_cgroups();
        for c in cgroups.iter().flat_map(|p| tree(p)) {
            let _ = fs::write(c.join("freezer.state"), "THAWED");
            for pid in fs::read_to_string(c.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
                .filter(|&p| p > 0)
            {
                // SAFETY: kill(2) on a process inside a cgroup under our private cgroup parent.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        host::wait_until(Duration::from_secs(5), || {
            for p in &cgroups {
                for c in tree(p).iter().rev() {
                    let _ = fs::remove_dir(c);
                }
            }
            cgroups.iter().all(|p| !p.exists())
        });
        for m in self.own_mounts() {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        for s in self.shim_sockets() {
            let _ = fs::remove_file(s);
        }
    }

    /// Everything that still exists, as findings.
    pub fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        if self.dir.exists() {
            found.push(format!("temp dir {} exists", self.dir.display()));
        }
        for m in self.own_mounts() {
            found.push(format!("mount {m}"));
        }
        for c in self.parent_cgroups() {
            found.push(format!("cgroup {}", c.display()));
        }
        for p in self.own_processes() {
            found.push(format!("process {p}"));
        }
        for s in self.shim_sockets().iter().filter(|s| s.exists()) {
            found.push(format!("shim socket {}", s.display()));
        }
        found
    }
}

/// Stops a daemon we spawned: SIGTERM, up to `grace` to exit, then SIGKILL; reaps it.
pub fn stop_child(mut child: Child, grace: Duration) {
    // SAFETY: kill(2) on the pid of a child we spawned and have not yet reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    while child.try_wait().ok().flatten().is_none() && t0.elapsed() < grace {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// containerd 1.6 puts shim sockets at `/run/containerd/s/<sha256(<address>/<ns>/<id>)>`, outside
/// any private dir; a shim that is killed leaves its socket there. `None` if `sha256sum` fails (this
/// runs on drop, so it must not panic).
pub fn shim_socket(address: &Path, ns: &str, id: &str) -> Option<PathBuf> {
    use std::io::Write;
    let key = format!("{}/{ns}/{id}", address.display());
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    if let Some(mut i) = c.stdin.take() {
        let _ = i.write_all(key.as_bytes());
    }
    let o = c.wait_with_output().ok()?;
    let hex = String::from_utf8_lossy(&o.stdout);
    let hex = hex.split_whitespace().next().filter(|h| h.len() == 64)?;
    Some(Path::new("/run/containerd/s").join(hex))
}

/// The subdirectories of `p`.
pub fn subdirs(p: &Path) -> Vec<PathBuf> {
    fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

/// `p` and every directory below it, parents first.
pub fn tree(p: &Path) -> Vec<PathBuf> {
    let mut out = vec![p.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let next = subdirs(&out[i]);
        out.extend(next);
        i += 1;
    }
    out
}
