//! Cgroups on v1, v2 and hybrid hosts behind one interface: create the container's cgroup in every
//! hierarchy, apply `linux.resources`, hand the init pre-opened `cgroup.procs` fds to join with,
//! freeze and thaw, read statistics, list, signal and remove.
//!
//! Files are written by hand: measured at 0.59 ms for create + join + limits + delete on this
//! machine kind, against 1.11 ms for cgroups-rs and 2.05 ms for youki's libcgroups
//! (`shared/anchors/crates.md`), and neither crate covers every resource on every layout.
//!
//! Resources are planned first ([`Cgroup::plan`]: pure, validates every value and names its JSON
//! field) and then written in one pass. Each controller is written where the host has it: its v1
//! hierarchy, or the cgroup2 hierarchy (pure v2 hosts, and controllers a hybrid host binds to
//! cgroup2, e.g. `hugetlb` here). Nothing is read on the create path unless a resource needs it.
//!
//! - [`v1`]: the v1 controller files, the v1 freezer and v1 statistics;
//! - [`v2`]: the unified files, `cgroup.freeze`, controller enabling and v2 statistics;
//! - [`devices`]: the device rules (runc's defaults appended to `linux.resources.devices`), and
//!   their cgroup2 eBPF program (`BPF_PROG_TYPE_CGROUP_DEVICE`), attached by [`Cgroup::create`];
//! - [`stats`]: runc-shaped statistics (`runc events --stats`).
//!
//! Inside, each file uses only those listed before it: [`error`], [`layout`] (the host's
//! hierarchies and the cgroup's directories), `files` (the write vocabulary and shared checks),
//! [`devices`], [`stats`], `v1`, `v2`, `plan` (resources → writes, and the write pass), `create`
//! (a new cgroup), and this file (the live cgroup's verbs).
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

mod create;
pub(crate) mod devices;
mod error;
mod files;
mod layout;
mod plan;
mod scope;
pub mod stats;
pub mod systemd;
mod v1;
mod v2;

pub use error::CgroupError;
pub(crate) use files::Mode;
pub use layout::{Cgroup, Hierarchy, Host, Layout};
pub use scope::{UnitStart, UnitTimes};
pub use stats::OomWatch;

use plan::{Loc, MEMORY};

impl Cgroup {
    /// Apply `resources` to the live cgroup (`update`): only the fields given are written;
    /// devices are left alone.
    pub fn update(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        if self.unit.is_some() {
            return self.update_unit(resources);
        }
        let writes = self.plan(Some(resources), Mode::Update)?;
        self.execute(&writes)
    }

    /// How many processes the kernel's OOM killer has killed in this cgroup (v1
    /// `memory.oom_control`, v2 `memory.events`); 0 when unknown.
    pub fn oom_kills(&self) -> u64 {
        let file = match self.v2_dir() {
            Some(d) => d.join("memory.events"),
            None => match self.dir_of("memory") {
                Some(d) => d.join("memory.oom_control"),
                None => return 0,
            },
        };
        fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Host pids in the cgroup (from the pids, freezer or unified hierarchy).
    pub fn pids(&self) -> Vec<i32> {
        let dir = self
            .v2_dir()
            .or_else(|| self.dir_of("pids"))
            .or_else(|| self.dir_of("freezer"))
            .or_else(|| self.dirs.first().map(|(_, d)| d.as_path()));
        let Some(dir) = dir else { return Vec::new() };
        // The cgroups the container made below its own count too (runc's GetAllPids).
        subtree(dir)
            .iter()
            .flat_map(|d| {
                fs::read_to_string(d.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect()
    }

    /// The freezer of this cgroup: the v1 freezer hierarchy, else `cgroup.freeze` of cgroup2.
    fn freezer(&self) -> Option<Freezer<'_>> {
        if self.layout != Layout::V2 {
            if let Some(d) = self.dir_of("freezer") {
                return Some(Freezer::V1(d));
            }
        }
        self.dir_of("").map(Freezer::V2)
    }

    /// Is the cgroup frozen (paused)? One small read.
    pub fn is_frozen(&self) -> bool {
        match self.freezer() {
            Some(Freezer::V1(d)) => v1::frozen(d),
            Some(Freezer::V2(d)) => v2::frozen(d),
            None => false,
        }
    }

    /// Freeze every process of the cgroup and wait until the kernel says it is frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match self.freezer() {
            Some(Freezer::V1(d)) => v1::freeze(d),
            Some(Freezer::V2(d)) => v2::freeze(d),
            None => Err(CgroupError::Host("no freezer on this host".into())),
        }
    }

    /// Thaw the cgroup.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self.freezer() {
            Some(Freezer::V1(d)) => v1::thaw(d),
            Some(Freezer::V2(d)) => v2::thaw(d),
            None => Err(CgroupError::Host("no freezer on this host".into())),
        }
    }

    /// Send `sig` to every process in the cgroup: freeze, signal, thaw, so that none escapes by
    /// forking meanwhile. A cgroup that was already frozen (a paused container) stays frozen,
    /// except for SIGKILL, which a frozen task only acts on once thawed.
    pub fn signal_all(&self, sig: i32) {
        let was_frozen = self.is_frozen();
        let froze = !was_frozen && self.freeze().is_ok();
        for pid in self.pids() {
            let _ = crate::sys::kill(pid, sig);
        }
        if froze || (was_frozen && sig == libc::SIGKILL) {
            let _ = self.thaw();
        }
    }

    /// runc-shaped statistics of every controller the host has.
    pub fn stats(&self) -> stats::Stats {
        let mut s = stats::Stats::default();
        if self.layout == Layout::V2 {
            if let Some(d) = self.dir_of("") {
                v2::stats(d, &mut s);
            }
            return s;
        }
        v1::stats(self, &mut s);
        // A hybrid host's controllers bound to cgroup2 (hugetlb here).
        if self.index_of("hugetlb").is_none() {
            if let Some(d) = self.dir_of("") {
                v2::hugetlb_stats(d, &mut s);
            }
        }
        s
    }

    /// A watcher for OOM kills in the cgroup's memory controller.
    pub fn oom_watch(&self) -> Result<Option<OomWatch>, CgroupError> {
        match self.locate(&MEMORY) {
            Some(Loc::V1(i)) => v1::oom_watch(&self.dirs[i].1).map(Some),
            Some(Loc::V2(i)) => v2::oom_watch(&self.dirs[i].1).map(Some),
            None => Ok(None),
        }
    }

    fn remove_dirs(&self) -> Vec<(PathBuf, std::io::Error)> {
        let mut failed = Vec::new();
        for (_, top) in &self.dirs {
            match fs::remove_dir(top) {
                Ok(()) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                // Busy or not empty: below come the cgroups the container made (or processes).
                Err(_) => {}
            }
            // Children first: the cgroups the container made below its own (as runc removes).
            for d in subtree(top).iter().rev() {
                match fs::remove_dir(d) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => failed.push((d.clone(), e)),
                }
            }
        }
        failed
    }

    /// Remove the cgroup in every hierarchy, killing stragglers (processes that outlived the
    /// init, e.g. without a pid namespace) and retrying while the kernel still sees them.
    pub fn remove(&self) -> Result<(), CgroupError> {
        // systemd removes a unit's cgroup when the unit stops; what is left is removed below.
        self.stop_unit()?;
        let mut failed = self.remove_dirs();
        let mut tries = 0;
        while !failed.is_empty() && tries < 200 {
            self.signal_all(libc::SIGKILL);
            std::thread::sleep(std::time::Duration::from_millis(5));
            failed = self.remove_dirs();
            tries += 1;
        }
        match failed.into_iter().next() {
            None => Ok(()),
            Some((path, source)) => Err(CgroupError::Io {
                op: "rmdir",
                path,
                source,
            }),
        }
    }
}

/// `dir` and every cgroup below it, parents before children (missing: none).
fn subtree(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(entries) = fs::read_dir(&out[i]) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(e.path());
                }
            }
        }
        i += 1;
    }
    out
}

/// The freezer interface of a cgroup.
enum Freezer<'a> {
    /// v1 `freezer.state` in this directory.
    V1(&'a Path),
    /// cgroup2 `cgroup.freeze` in this directory.
    V2(&'a Path),
}

#[cfg(test)]
mod tests;
