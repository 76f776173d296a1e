//! The container's cgroup under the systemd driver ([`Cgroup::systemd`]): a transient scope,
//! started once the init exists ([`Cgroup::start_unit`]), with the same resource files written
//! inside it as the cgroupfs driver writes, and stopped through systemd on removal.
use std::collections::HashMap;
use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;

use super::error::CgroupError;
use super::files::Mode;
use super::layout::CGROUP_ROOT;
use super::layout::{Cgroup, Host, Layout};
use super::systemd::{path, props, Systemd};
use super::{devices, v2};

fn connect() -> Result<Systemd, CgroupError> {
    Systemd::connect().map_err(|source| CgroupError::Systemd {
        op: "connect to",
        unit: "systemd".into(),
        source,
    })
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

    /// Before the clone, under the systemd driver: validate `resources` and refuse a unit whose
    /// cgroup exists already (systemd would refuse it too, later and after more work).
    pub(super) fn check_unit(&self, resources: Option<&LinuxResources>) -> Result<(), CgroupError> {
        self.plan(resources, Mode::Create)?;
        devices::rules(resources.and_then(|r| r.devices().as_deref()))?;
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
    /// resources and `annotations`' `org.systemd.property.*` as unit properties), then write the
    /// resource files and attach the device program in the unit's cgroup, as `create` does for
    /// cgroupfs. A no-op for a cgroupfs cgroup. On failure the caller removes the cgroup
    /// ([`Cgroup::remove`] stops the unit).
    pub fn start_unit(
        &self,
        id: &str,
        pid: libc::pid_t,
        resources: Option<&LinuxResources>,
        annotations: Option<&HashMap<String, String>>,
    ) -> Result<(), CgroupError> {
        let (Some(unit), Some(v2)) = (&self.unit, self.index_of("")) else {
            return Ok(());
        };
        let mut writes = self.plan(resources, Mode::Create)?;
        let rules = devices::rules(resources.and_then(|r| r.devices().as_deref()))?;
        let annotated = props::annotation_properties(annotations)?;
        let mut sd = connect()?;
        // The default device rules allow whole majors (`c 136:* rwm`), said differently before
        // systemd 240: the version is always asked.
        let version = sd.version();
        let pid = u32::try_from(pid).unwrap_or_default();
        let mut all = props::unit_properties(unit, id, Some(pid));
        all.extend(props::resource_properties(&mut writes, v2, version)?);
        all.extend(props::device_properties(&rules, version));
        all.extend(annotated);
        sd.start(unit, &all)?;
        self.execute(&writes)?;
        v2::attach_device_program(&self.dirs[v2].1, &devices::program(&rules))
    }

    /// `update` under the systemd driver: the new values as unit properties first (so a
    /// `daemon-reload` keeps them), then the files.
    pub(super) fn update_unit(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        let mut writes = self.plan(Some(resources), Mode::Update)?;
        if let (Some(unit), Some(v2)) = (&self.unit, self.index_of("")) {
            let mut sd = connect()?;
            let version = if props::needs_version(&writes) {
                sd.version()
            } else {
                0
            };
            let set = props::resource_properties(&mut writes, v2, version)?;
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
