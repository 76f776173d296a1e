//! The cgroup verbs of a container: `pause`/`resume` (the freezer), `update` (`linux.resources`
//! on the live cgroup), `ps` (the cgroup's pids), `events` (statistics and OOM kills).
use super::Container;
use crate::cgroups::stats::Stats;
use crate::cgroups::{Cgroup, OomWatch};
use crate::error::{Error, Result};
use crate::state::Status;
use oci_spec::runtime::LinuxResources;

/// Parse a `LinuxResources` JSON document (`update --resources FILE|-`); errors name the field.
pub fn parse_resources(json: &[u8]) -> Result<LinuxResources> {
    crate::spec::json::parse(json, "resources").map_err(|(field, message)| {
        Error::Usage(if field == "." {
            format!("invalid resources: {message}")
        } else {
            format!("invalid resources: {field}: {message}")
        })
    })
}

impl Container {
    fn cgroup(&self) -> Result<&Cgroup> {
        self.rec
            .cgroup
            .as_ref()
            .ok_or_else(|| Error::Usage(format!("container {} has no cgroup", self.rec.id)))
    }

    /// Freeze every process of the container (`pause`). As runc, a running or created
    /// container can be paused; anything else is `container not running`.
    pub fn pause(&self) -> Result<()> {
        match self.status() {
            Status::Running | Status::Created => Ok(self.cgroup()?.freeze()?),
            _ => Err(Error::NotRunning),
        }
    }

    /// Thaw a paused container (`resume`); anything else is `container not paused`.
    pub fn resume(&self) -> Result<()> {
        let cg = self.cgroup()?;
        if self.status() == Status::Stopped || !cg.is_frozen() {
            return Err(Error::BadStatus("container not paused".into()));
        }
        Ok(cg.thaw()?)
    }

    /// Host pids of every process in the container's cgroup (`ps`); empty once all exited.
    pub fn processes(&self) -> Vec<i32> {
        self.rec
            .cgroup
            .as_ref()
            .map(Cgroup::pids)
            .unwrap_or_default()
    }

    /// Write `resources` to the live cgroup (`update`): only the fields given change (zero
    /// values mean unchanged, as with runc); device rules are left alone. A container created
    /// with `memory.checkBeforeUpdate` has every memory update checked against its usage.
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        if self.status() == Status::Stopped {
            return Err(Error::NotRunning);
        }
        match resources.memory() {
            Some(m) if self.rec.check_before_update && m.check_before_update().is_none() => {
                let mut checked = resources.clone();
                let mut m = *m;
                m.set_check_before_update(Some(true));
                checked.set_memory(Some(m));
                Ok(self.cgroup()?.update(&checked)?)
            }
            _ => Ok(self.cgroup()?.update(resources)?),
        }
    }

    /// runc-shaped statistics of the container's cgroup (`events --stats`).
    pub fn stats(&self) -> Result<Stats> {
        if self.status() == Status::Stopped {
            return Err(Error::NotRunning);
        }
        Ok(self.cgroup()?.stats())
    }

    /// A watcher of OOM kills in the container (`events`); `None` without a memory controller.
    pub fn oom_watch(&self) -> Result<Option<OomWatch>> {
        Ok(self.cgroup()?.oom_watch()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_json_errors_name_the_field() {
        let r = parse_resources(br#"{"memory":{"limit":1048576},"pids":{"limit":5}}"#);
        assert!(r
            .as_ref()
            .is_ok_and(|r| r.memory().as_ref().and_then(|m| m.limit()) == Some(1_048_576)));
        let e = parse_resources(br#"{"memory":{"limit":"big"}}"#)
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains("memory.limit")),
            "{e:?}"
        );
    }

    /// Fuzzing: a key or value quoted in the error must not split it over lines.
    #[test]
    fn resources_json_error_quoting_a_newline_is_one_line() {
        let e = parse_resources(br#"{"unified":{"a\nb":1}}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("invalid resources: unified.a\\nb: invalid type"),
            "{e}"
        );
    }
}
