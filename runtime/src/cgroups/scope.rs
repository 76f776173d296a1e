//! The container's cgroup under the systemd driver ([`Cgroup::systemd`]): a transient scope,
//! started once the init exists ([`Cgroup::start_unit`]), with the same resource files written
//! inside it as the cgroupfs driver writes, and stopped through systemd on removal.
use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;

use super::devices::Rule;
use super::error::CgroupError;
use super::files::{Mode, Write};
use super::layout::CGROUP_ROOT;
use super::layout::{Cgroup, Host, Layout};
use super::systemd::props::Gated;
use super::systemd::{path, props, Systemd};
use super::{devices, v2};
use crate::dbus::Value;

/// What a systemd unit is started with, planned and checked before anything is made
/// ([`Cgroup::unit_start`]) and used once the init exists ([`Cgroup::start_unit`]): the connection
/// to systemd is opened then too, and its version asked, so that systemd answers while the
/// container is set up.
#[derive(Debug)]
pub struct UnitStart {
    sd: Systemd,
    version_asked: Option<u32>,
    plan: UnitPlan,
    annotated: Vec<(String, Value)>,
}

/// The pure part of a [`UnitStart`] ([`Cgroup::plan_unit`]).
#[derive(Debug)]
pub(super) struct UnitPlan {
    /// The resource writes (`cpu.max` as the unit rounds it).
    pub writes: Vec<Write>,
    /// Their unit properties, each with the systemd versions that take it.
    pub resources: Vec<Gated>,
    /// The device rules.
    pub rules: Vec<Rule>,
}

fn connect() -> Result<Systemd, CgroupError> {
    Systemd::connect().map_err(|source| CgroupError::Systemd {
        op: "connect to",
        unit: "systemd".into(),
        source,
    })
}

/// When the parts of [`Cgroup::start_unit`] ended ([`crate::trace::now_ns`]): had systemd's version
/// (asked before the clone), got the reply to StartTransientUnit, saw its job done (the files
/// follow).
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitTimes {
    /// The call is sent.
    pub asked: u64,
    /// Its reply came.
    pub replied: u64,
    /// The job is done: the init is in the unit's cgroup.
    pub started: u64,
}

impl Cgroup {
    /// The cgroup of container `id` as the systemd unit `cgroups_path` names
    /// (`slice:prefix:name`; empty: `:sangja:<id>`). Pure: nothing is asked or made yet. Needs a
    /// cgroup v2 host, where systemd delegates a unit's cgroup whole.
    pub fn systemd(host: &Host, cgroups_path: &str, id: &str) -> Result<Cgroup, CgroupError> {
        let unit = path::parse(cgroups_path, id)?;
        if host.layout != Layout::V2 {
            return Err(CgroupError::Host(format!(
                "the systemd cgroup driver needs a cgroup v2 host; this one is {:?}",
                host.layout
            )));
        }
        let dir = PathBuf::from(CGROUP_ROOT).join(unit.cgroup.trim_start_matches('/'));
        Ok(Cgroup {
            layout: Layout::V2,
            path: unit.cgroup.clone(),
            dirs: vec![(String::new(), dir)],
            unit: Some(unit),
        })
    }

    /// Under the systemd driver, before anything is made: plan and check what the unit is started
    /// with (the resource writes and their unit properties, the device rules, and `annotated`, the
    /// `org.systemd.property.*` annotations already read), connect to systemd and ask its
    /// version, for [`Cgroup::start_unit`] once the init exists. Without systemd, create fails here.
    pub fn unit_start(
        &self,
        resources: Option<&LinuxResources>,
        annotated: Vec<(String, Value)>,
    ) -> Result<UnitStart, CgroupError> {
        let plan = self.plan_unit(resources)?;
        let mut sd = connect()?;
        // The default device rules allow whole majors (`c 136:* rwm`), said differently before
        // systemd 240: the version is always asked.
        let version_asked = sd.ask_version();
        Ok(UnitStart {
            sd,
            version_asked,
            plan,
            annotated,
        })
    }

    /// The pure part of [`Cgroup::unit_start`]: the resource writes, their unit properties (every
    /// value converted and checked) and the device rules.
    pub(super) fn plan_unit(
        &self,
        resources: Option<&LinuxResources>,
    ) -> Result<UnitPlan, CgroupError> {
        let v2 = self.index_of("").unwrap_or_default();
        let mut writes = self.plan(resources, Mode::Create)?;
        Ok(UnitPlan {
            resources: props::resource_properties(&mut writes, v2)?,
            writes,
            rules: devices::rules(resources.and_then(|r| r.devices().as_deref()))?,
        })
    }

    /// Before the clone, under the systemd driver: refuse a unit whose cgroup exists already
    /// (systemd would refuse it too, later and after more work).
    pub(super) fn check_unit_free(&self) -> Result<(), CgroupError> {
        if let Some((unit, (_, dir))) = self.unit.as_ref().zip(self.dirs.first()) {
            if dir.exists() {
                return Err(CgroupError::Invalid {
                    field: "linux.cgroupsPath".into(),
                    reason: format!("systemd unit {} already exists", unit.name),
                });
            }
        }
        Ok(())
    }

    /// Under the systemd driver, once the init `pid` exists: start the unit with it inside (the
    /// resources and the annotated properties of `start` as unit properties), then write the
    /// resource files and attach the device program in the unit's cgroup, as `create` does for
    /// cgroupfs. A no-op for a cgroupfs cgroup. On failure the caller removes the cgroup
    /// ([`Cgroup::remove`] stops the unit). Returns when each part ended, for the trace.
    pub fn start_unit(
        &self,
        id: &str,
        pid: libc::pid_t,
        start: UnitStart,
    ) -> Result<UnitTimes, CgroupError> {
        let (Some(unit), Some(v2)) = (&self.unit, self.index_of("")) else {
            return Ok(UnitTimes::default());
        };
        let UnitStart {
            mut sd,
            version_asked,
            plan:
                UnitPlan {
                    writes,
                    resources,
                    rules,
                },
            annotated,
        } = start;
        let version = sd.read_version(version_asked);
        let pid = u32::try_from(pid).unwrap_or_default();
        let mut all = props::unit_properties(unit, id, Some(pid));
        all.extend(props::for_version(resources, version));
        all.extend(props::device_properties(&rules, version));
        all.extend(annotated);
        let asked = crate::trace::now_ns();
        let replied = sd.start(unit, &all)?;
        let started = crate::trace::now_ns();
        self.execute(&writes)?;
        v2::attach_device_program(&self.dirs[v2].1, &devices::program(&rules))?;
        Ok(UnitTimes {
            asked,
            replied,
            started,
        })
    }

    /// `update` under the systemd driver: the new values as unit properties first (so a
    /// `daemon-reload` keeps them), then the files.
    pub(super) fn update_unit(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        let mut writes = self.plan(Some(resources), Mode::Update)?;
        if let (Some(unit), Some(v2)) = (&self.unit, self.index_of("")) {
            let gated = props::resource_properties(&mut writes, v2)?;
            let mut sd = connect()?;
            let version = if props::needs_version(&gated) {
                sd.version()
            } else {
                0
            };
            let set = props::for_version(gated, version);
            sd.set(unit, &set)?;
        }
        self.execute(&writes)
    }

    /// Stop the unit (systemd removes its cgroup), if this cgroup is one.
    pub(super) fn stop_unit(&self) -> Result<(), CgroupError> {
        match &self.unit {
            Some(unit) => connect()?.stop(unit),
            None => Ok(()),
        }
    }
}
