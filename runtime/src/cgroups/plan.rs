//! `linux.resources` as planned writes ([`Cgroup::plan`]: pure, every value validated and named
//! by its JSON field, placed in the hierarchy that has its controller), and the one pass that
//! performs them ([`Cgroup::execute`]).
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxNetwork, LinuxResources};

use super::error::CgroupError;
use super::files::{self, write_file, Mode, Write, W};
use super::layout::{Cgroup, Layout};
use super::{devices, v1, v2};

/// Where a controller lives for this cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Loc {
    V1(usize),
    V2(usize),
}

/// A `linux.resources` section: its v1 controller, its v2 controller (`None`: no v2 interface).
pub(super) struct Section {
    v1: &'static str,
    v2: Option<&'static str>,
}

const CPUSET: Section = Section {
    v1: "cpuset",
    v2: Some("cpuset"),
};
pub(super) const MEMORY: Section = Section {
    v1: "memory",
    v2: Some("memory"),
};
const CPU: Section = Section {
    v1: "cpu",
    v2: Some("cpu"),
};
const PIDS: Section = Section {
    v1: "pids",
    v2: Some("pids"),
};
const BLKIO: Section = Section {
    v1: "blkio",
    v2: Some("io"),
};
const HUGETLB: Section = Section {
    v1: "hugetlb",
    v2: Some("hugetlb"),
};
const NET_CLS: Section = Section {
    v1: "net_cls",
    v2: None,
};
const NET_PRIO: Section = Section {
    v1: "net_prio",
    v2: None,
};
const RDMA: Section = Section {
    v1: "rdma",
    v2: Some("rdma"),
};
const DEVICES: Section = Section {
    v1: "devices",
    v2: None,
};

impl Cgroup {
    /// Where `section`'s controller is: its v1 hierarchy; else on cgroup2 (pure v2, or a hybrid
    /// host that bound the controller to its cgroup2 mount).
    pub(super) fn locate(&self, section: &Section) -> Option<Loc> {
        let v2 = || section.v2.and_then(|_| self.index_of("")).map(Loc::V2);
        match self.layout {
            Layout::V2 => v2(),
            Layout::Hybrid => self.index_of(section.v1).map(Loc::V1).or_else(v2),
            Layout::V1 => self.index_of(section.v1).map(Loc::V1),
        }
    }

    /// Place the writes of one section: `v1w`/`v2w` produce them for the layout found. A section
    /// with writes but no controller on this host is an error naming its first field.
    fn place(
        &self,
        out: &mut Vec<Write>,
        section: &Section,
        v1w: impl FnOnce() -> Result<Vec<W>, CgroupError>,
        v2w: impl FnOnce() -> Result<Vec<W>, CgroupError>,
    ) -> Result<(), CgroupError> {
        let (dir, ws, ctrl) = match self.locate(section) {
            Some(Loc::V1(i)) => (i, v1w()?, None),
            Some(Loc::V2(i)) => (i, v2w()?, section.v2),
            None => {
                let ws = match self.layout {
                    Layout::V2 => v2w()?,
                    _ => v1w()?,
                };
                return match ws.into_iter().next() {
                    None => Ok(()),
                    Some(w) => Err(CgroupError::NoController {
                        field: w.field.into_owned(),
                        controller: match self.layout {
                            Layout::V2 => section.v2.unwrap_or(section.v1),
                            _ => section.v1,
                        },
                    }),
                };
            }
        };
        out.extend(ws.into_iter().map(|w| Write {
            dir,
            v2_controller: ctrl.map(Cow::Borrowed),
            w,
        }));
        Ok(())
    }

    /// Every write `resources` needs on this host, in order, validated: pure but for a few reads
    /// in [`Mode::Update`] (current limits that decide the order of memory and swap writes).
    /// The sections are planned one after the other, in this order (cpuset, devices at create,
    /// memory, cpu, pids, blockIO, hugepageLimits, network, rdma, unified); the first invalid one
    /// ends the plan with its error.
    pub(crate) fn plan(
        &self,
        resources: Option<&LinuxResources>,
        mode: Mode,
    ) -> Result<Vec<Write>, CgroupError> {
        let mut out = Vec::new();
        let r = resources;
        if let Some(cpu) = r.and_then(|r| r.cpu().as_ref()) {
            self.place(
                &mut out,
                &CPUSET,
                || Ok(files::cpuset(cpu)),
                || Ok(files::cpuset(cpu)),
            )?;
        }
        if mode == Mode::Create {
            self.plan_devices(&mut out, r.and_then(|r| r.devices().as_deref()))?;
        }
        if let Some(m) = r.and_then(|r| r.memory().as_ref()) {
            self.plan_memory(&mut out, m, mode)?;
        }
        if let Some(cpu) = r.and_then(|r| r.cpu().as_ref()) {
            self.plan_cpu(&mut out, cpu, mode)?;
        }
        if let Some(p) = r.and_then(|r| r.pids().as_ref()) {
            let v = pids_value(p.limit());
            let ws = || {
                Ok(v.iter()
                    .map(|v| W::new("pids.max", v, "linux.resources.pids.limit"))
                    .collect())
            };
            self.place(&mut out, &PIDS, ws, ws)?;
        }
        if let Some(b) = r.and_then(|r| r.block_io().as_ref()) {
            self.place(&mut out, &BLKIO, || Ok(v1::blkio(b)), || Ok(v2::io(b)))?;
        }
        if let Some(h) = r.and_then(|r| r.hugepage_limits().as_ref()) {
            self.place(&mut out, &HUGETLB, || v1::hugetlb(h), || v2::hugetlb(h))?;
        }
        if let Some(n) = r.and_then(|r| r.network().as_ref()) {
            self.plan_network(&mut out, n)?;
        }
        if let Some(rdma) = r.and_then(|r| r.rdma().as_ref()) {
            let ws = || Ok(rdma_writes(rdma));
            self.place(&mut out, &RDMA, ws, ws)?;
        }
        if let Some(u) = r
            .and_then(|r| r.unified().as_ref())
            .filter(|u| !u.is_empty())
        {
            self.plan_unified(&mut out, u)?;
        }
        Ok(out)
    }

    /// The device rules at create (`spec_rules`: `linux.resources.devices`, with the default
    /// rules added by [`devices::rules`]): files of the v1 devices hierarchy. cgroup2 has no
    /// files for them (`create` attaches an eBPF program instead); a v1 or hybrid host without
    /// a devices hierarchy is an error only when the config has rules of its own, as runc.
    fn plan_devices(
        &self,
        out: &mut Vec<Write>,
        spec_rules: Option<&[oci_spec::runtime::LinuxDeviceCgroup]>,
    ) -> Result<(), CgroupError> {
        let rules = devices::rules(spec_rules)?;
        match self.locate(&DEVICES) {
            Some(Loc::V1(i)) => out.extend(v1::devices(&rules).into_iter().map(|w| Write {
                dir: i,
                v2_controller: None,
                w,
            })),
            // cgroup2 controls devices with an eBPF program, not files: `create` attaches it.
            _ if self.layout == Layout::V2 => {}
            // No devices hierarchy: only the config's own rules are an error (as runc).
            _ if spec_rules.is_some_and(|s| !s.is_empty()) => {
                return Err(CgroupError::NoController {
                    field: "linux.resources.devices".into(),
                    controller: "devices",
                })
            }
            _ => {}
        }
        Ok(())
    }

    /// `linux.resources.memory`: the v1 or v2 writes, given the cgroup's directory where the
    /// controller is found (at `update` they read current values there: the usage a new limit
    /// must exceed under `checkBeforeUpdate`, and the limits that order memory and swap writes).
    fn plan_memory(
        &self,
        out: &mut Vec<Write>,
        m: &LinuxMemory,
        mode: Mode,
    ) -> Result<(), CgroupError> {
        let loc = self.locate(&MEMORY);
        let dir = |i: usize| self.dirs[i].1.as_path();
        self.place(
            out,
            &MEMORY,
            || match loc {
                Some(Loc::V1(i)) => v1::memory(m, mode, Some(dir(i))),
                _ => v1::memory(m, mode, None),
            },
            || match loc {
                Some(Loc::V2(i)) => v2::memory(m, mode, Some(dir(i))),
                _ => v2::memory(m, mode, None),
            },
        )
    }

    /// `linux.resources.cpu` (its cpus and mems are planned with cpuset): shares checked first, on
    /// every layout; at `update` on cgroup2 the directory is passed so that `cpu.max` can keep
    /// the half (quota or period) the config leaves out.
    fn plan_cpu(
        &self,
        out: &mut Vec<Write>,
        cpu: &LinuxCpu,
        mode: Mode,
    ) -> Result<(), CgroupError> {
        check_shares(cpu.shares())?;
        let dir = match self.locate(&CPU) {
            Some(Loc::V2(i)) if mode == Mode::Update => Some(self.dirs[i].1.as_path()),
            _ => None,
        };
        self.place(out, &CPU, || Ok(v1::cpu(cpu)), || v2::cpu(cpu, dir))
    }

    /// `linux.resources.network`: net_cls then net_prio on v1 and hybrid hosts. cgroup2 has no
    /// such files: the section is ignored there with a warning (as runc), never an error.
    fn plan_network(&self, out: &mut Vec<Write>, n: &LinuxNetwork) -> Result<(), CgroupError> {
        if self.layout == Layout::V2 {
            if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
                // As runc: cgroup2 has no net_cls/net_prio files (use eBPF or tc).
                log::warn!("linux.resources.network is ignored on cgroup v2");
            }
            return Ok(());
        }
        self.place(out, &NET_CLS, || Ok(v1::net_cls(n)), || Ok(vec![]))?;
        self.place(out, &NET_PRIO, || Ok(v1::net_prio(n)), || Ok(vec![]))
    }

    /// A non-empty `linux.resources.unified`: raw cgroup2 files, written in the cgroup2
    /// directory in key order. Only a pure v2 host has one for them; v1 and hybrid hosts refuse
    /// the field, saying which layout they have.
    fn plan_unified(
        &self,
        out: &mut Vec<Write>,
        u: &HashMap<String, String>,
    ) -> Result<(), CgroupError> {
        let i = match (self.layout, self.index_of("")) {
            (Layout::V2, Some(i)) => i,
            _ => {
                return Err(CgroupError::Invalid {
                    field: "linux.resources.unified".into(),
                    reason: format!(
                        "needs a cgroup v2 host (this host is {}): use the v1 resource fields",
                        match self.layout {
                            Layout::Hybrid => "hybrid, its controllers are v1",
                            _ => "cgroup v1",
                        }
                    ),
                })
            }
        };
        for (ctrl, w) in v2::unified(u)? {
            out.push(Write {
                dir: i,
                v2_controller: ctrl.map(Cow::Owned),
                w,
            });
        }
        Ok(())
    }

    /// Perform planned writes in order. Consecutive writes to one file reuse its open fd (the
    /// device rules). A missing file on cgroup2 first enables its controller in the ancestors
    /// (once per controller) and retries; then the fallback file is tried; an optional write is
    /// skipped; anything else is an error naming the field, the file and the value.
    pub(crate) fn execute(&self, writes: &[Write]) -> Result<(), CgroupError> {
        let mut open: Option<(usize, &str, fs::File)> = None;
        let mut enabled: Vec<&str> = Vec::new();
        let open_w = |p: &Path| fs::OpenOptions::new().write(true).open(p);
        for wr in writes {
            let dir = &self.dirs[wr.dir].1;
            let w = &wr.w;
            let fail = |path: PathBuf, value: &str, source: std::io::Error| CgroupError::Resource {
                field: w.field.to_string(),
                value: value.to_string(),
                path,
                source,
            };
            if let Some((d, f, file)) = open.as_mut() {
                if *d == wr.dir && *f == w.file {
                    file.write_all(w.value.as_bytes())
                        .map_err(|e| fail(dir.join(&*w.file), &w.value, e))?;
                    continue;
                }
            }
            let path = dir.join(&*w.file);
            let mut opened = open_w(&path);
            if let (Err(e), Some(ctrl)) = (&opened, &wr.v2_controller) {
                if e.kind() == std::io::ErrorKind::NotFound && !enabled.contains(&&**ctrl) {
                    v2::enable_controller(self.v2_root(), dir, ctrl)
                        .map_err(|(p, v, e)| fail(p, &v, e))?;
                    enabled.push(ctrl);
                    opened = open_w(&path);
                }
            }
            let mut file = match opened {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if let Some((alt, value)) = &w.alt {
                        let p = dir.join(alt);
                        match write_file(&p, value) {
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            r => {
                                r.map_err(|e| fail(p, value, e))?;
                                open = None;
                                continue;
                            }
                        }
                    }
                    if w.optional {
                        continue;
                    }
                    return Err(CgroupError::Unsupported {
                        field: w.field.to_string(),
                        files: match &w.alt {
                            Some((alt, _)) => format!("neither {} nor {alt}", w.file),
                            None => format!("no {}", w.file),
                        },
                        dir: dir.clone(),
                    });
                }
                Err(e) => return Err(fail(path, &w.value, e)),
            };
            file.write_all(w.value.as_bytes())
                .map_err(|e| fail(path.clone(), &w.value, e))?;
            open = Some((wr.dir, &w.file, file));
        }
        Ok(())
    }
}

/// `linux.resources.cpu.shares` in the kernel's range, 2..=262144 (0: unset). The v1 kernel
/// clamps silently and cgroup2's weight would be out of range; runc reads back and refuses, with
/// this wording; we refuse before writing, on every layout, at create and `update`.
fn check_shares(shares: Option<u64>) -> Result<(), CgroupError> {
    const MIN: u64 = 2;
    const MAX: u64 = 262_144;
    let reason = match shares {
        Some(s) if s > MAX => {
            format!("{s} is out of range: the maximum allowed cpu-shares is {MAX}")
        }
        Some(s) if s != 0 && s < MIN => {
            format!("{s} is out of range: the minimum allowed cpu-shares is {MIN}")
        }
        _ => return Ok(()),
    };
    Err(CgroupError::Invalid {
        field: "linux.resources.cpu.shares".into(),
        reason,
    })
}

/// `pids.max` for `linux.resources.pids.limit`: 0 leaves it alone (as runc), negative is `max`.
fn pids_value(limit: i64) -> Option<String> {
    match limit {
        0 => None,
        l if l < 0 => Some("max".into()),
        l => Some(l.to_string()),
    }
}

/// `rdma.max` lines (same format on v1 and v2), sorted by device for a stable order.
fn rdma_writes(rdma: &HashMap<String, oci_spec::runtime::LinuxRdma>) -> Vec<W> {
    let mut devs: Vec<_> = rdma.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    devs.into_iter()
        .filter_map(|(dev, l)| {
            let mut v = dev.clone();
            if let Some(h) = l.hca_handles() {
                v.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = l.hca_objects() {
                v.push_str(&format!(" hca_object={o}"));
            }
            (v.len() > dev.len())
                .then(|| W::new("rdma.max", v, format!("linux.resources.rdma.{dev}")))
        })
        .collect()
}
