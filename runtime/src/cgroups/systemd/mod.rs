//! The systemd cgroup driver (`--systemd-cgroup`): the container's cgroup is a transient scope
//! unit that systemd makes, with `Delegate=yes`, over D-Bus ([`crate::dbus`]); inside it the
//! runtime writes the same files as the cgroupfs driver. Only the unit's life goes through
//! systemd: start (with the init's pid, so systemd moves it in), resource properties on `update`,
//! stop. Freeze, statistics, pids and signals use the unit's cgroup files, as runc's do.
//!
//! The init is cloned in the runtime's own cgroup and runs nothing of the container's before the
//! unit is started: the parent starts the unit while the init sets up, and tells it `Joined`
//! (when it unshares a cgroup namespace) only afterwards, as with the late cgroupfs join.
use std::time::{Duration, Instant};

use crate::dbus::{Bus, BusError, Call, Dec, Message, Value};

use crate::cgroups::error::CgroupError;

pub mod path;
pub mod props;

pub use path::Unit;

/// How long systemd may take to start or stop a unit (runc's 30 s).
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

const SYSTEMD: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const JOB_REMOVED_RULE: &str = "type='signal',sender='org.freedesktop.systemd1',\
    interface='org.freedesktop.systemd1.Manager',member='JobRemoved',path='/org/freedesktop/systemd1'";

fn manager(member: &str) -> Call<'_> {
    Call {
        destination: SYSTEMD,
        path: MANAGER_PATH,
        interface: MANAGER,
        member,
    }
}

fn err<'u>(unit: &'u Unit, op: &'static str) -> impl FnOnce(BusError) -> CgroupError + 'u {
    move |source| CgroupError::Systemd {
        op,
        unit: unit.name.clone(),
        source,
    }
}

/// A connection to systemd, ready to watch jobs.
#[derive(Debug)]
pub struct Systemd {
    bus: Bus,
}

impl Systemd {
    /// Connect (and, through a bus daemon, ask for `JobRemoved`).
    pub fn connect() -> Result<Systemd, BusError> {
        let mut bus = Bus::systemd(JOB_TIMEOUT)?;
        bus.add_match(JOB_REMOVED_RULE)?;
        Ok(Systemd { bus })
    }

    /// systemd's version (`Version` of the manager: `252.22-1~deb12u1` → 252); 0 if unreadable,
    /// so that no version-gated property is sent.
    pub fn version(&mut self) -> u32 {
        let asked = self.ask_version();
        self.read_version(asked)
    }

    /// Ask for systemd's version without waiting ([`Systemd::read_version`] reads the answer), so
    /// that systemd answers while the caller does other work.
    pub fn ask_version(&mut self) -> Option<u32> {
        let call = Call {
            interface: "org.freedesktop.DBus.Properties",
            ..manager("Get")
        };
        let serial = self.bus.send(call, "ss", |e| {
            e.str(MANAGER);
            e.str("Version");
        });
        serial
            .inspect_err(|e| log::warn!("systemd: unable to ask its version: {e}"))
            .ok()
    }

    /// The answer to [`Systemd::ask_version`]'s call `asked` (0 if there is none).
    pub fn read_version(&mut self, asked: Option<u32>) -> u32 {
        let Some(serial) = asked else {
            return 0;
        };
        let m = match self.bus.reply(serial, JOB_TIMEOUT) {
            Ok(m) => m,
            Err(e) => {
                log::warn!("systemd: unable to read its version: {e}");
                return 0;
            }
        };
        let mut d = Dec::new(&m.body);
        let text = d.sig().filter(|s| s == "s").and_then(|_| d.str());
        let text = text.unwrap_or_default();
        let digits: String = text
            .trim_start_matches('v')
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap_or(0)
    }

    /// Start `unit` with `props` and wait for its job; a unit that exists only because it
    /// failed earlier is reset and started again (once), as runc does. Returns when the call's
    /// reply came ([`crate::trace::now_ns`]): the rest of the wait is systemd running the job.
    pub fn start(&mut self, unit: &Unit, props: &[(String, Value)]) -> Result<u64, CgroupError> {
        let mut retried = false;
        loop {
            let serial = self
                .bus
                .send(manager("StartTransientUnit"), "ssa(sv)a(sa(sv))", |e| {
                    e.str(&unit.name);
                    e.str("replace");
                    e.properties(props);
                    e.array(8, |_| {});
                })
                .map_err(err(unit, "start"))?;
            match self.bus.reply(serial, JOB_TIMEOUT) {
                Ok(m) => {
                    let replied = crate::trace::now_ns();
                    return self.wait_job(unit, &m, "start").map(|()| replied);
                }
                Err(BusError::Remote { name, .. })
                    if name == "org.freedesktop.systemd1.UnitExists" && !retried =>
                {
                    retried = true;
                    self.reset_failed(unit);
                }
                Err(BusError::Remote { name, .. })
                    if name == "org.freedesktop.systemd1.UnitExists" =>
                {
                    return Err(CgroupError::Invalid {
                        field: "linux.cgroupsPath".into(),
                        reason: format!("systemd unit {} already exists", unit.name),
                    });
                }
                Err(e) => return Err(err(unit, "start")(e)),
            }
        }
    }

    /// Set `props` on the running `unit` (for `update`: systemd re-applies a unit's properties
    /// over its cgroup files, so they must say the new values too).
    pub fn set(&mut self, unit: &Unit, props: &[(String, Value)]) -> Result<(), CgroupError> {
        if props.is_empty() {
            return Ok(());
        }
        let serial = self
            .bus
            .send(manager("SetUnitProperties"), "sba(sv)", |e| {
                e.str(&unit.name);
                e.u32(1);
                e.properties(props);
            })
            .map_err(err(unit, "set properties of"))?;
        self.bus
            .reply(serial, JOB_TIMEOUT)
            .map(drop)
            .map_err(err(unit, "set properties of"))
    }

    /// Stop `unit` and wait until it is gone (a unit already gone is fine), then reset a failed
    /// state so the name can be used again.
    pub fn stop(&mut self, unit: &Unit) -> Result<(), CgroupError> {
        let serial = self
            .bus
            .send(manager("StopUnit"), "ss", |e| {
                e.str(&unit.name);
                e.str("replace");
            })
            .map_err(err(unit, "stop"))?;
        let result = match self.bus.reply(serial, JOB_TIMEOUT) {
            Ok(m) => self.wait_job(unit, &m, "stop"),
            Err(BusError::Remote { name, .. }) if name == "org.freedesktop.systemd1.NoSuchUnit" => {
                Ok(())
            }
            Err(e) => Err(err(unit, "stop")(e)),
        };
        self.reset_failed(unit);
        result
    }

    /// `ResetFailedUnit`, best effort.
    fn reset_failed(&mut self, unit: &Unit) {
        let serial = self
            .bus
            .send(manager("ResetFailedUnit"), "s", |e| e.str(&unit.name));
        let _ = serial.and_then(|s| self.bus.reply(s, JOB_TIMEOUT));
    }

    /// Wait for the job a start or stop call returned (`reply`'s object path) to be removed,
    /// and check that it was `done`.
    fn wait_job(
        &mut self,
        unit: &Unit,
        reply: &Message,
        op: &'static str,
    ) -> Result<(), CgroupError> {
        let job = Dec::new(&reply.body).str().unwrap_or_default();
        let deadline = Instant::now() + JOB_TIMEOUT;
        let removed = self
            .bus
            .signal(deadline.saturating_duration_since(Instant::now()), |m| {
                m.interface == MANAGER
                    && m.member == "JobRemoved"
                    && job_of(m).is_some_and(|(path, _)| path == job)
            })
            .map_err(err(unit, op))?;
        match job_of(&removed) {
            Some((_, result)) if result == "done" => Ok(()),
            Some((_, result)) => {
                self.reset_failed(unit);
                Err(CgroupError::Systemd {
                    op,
                    unit: unit.name.clone(),
                    source: BusError::Protocol(format!("the job ended {result:?}")),
                })
            }
            None => Err(err(unit, op)(BusError::Protocol("bad JobRemoved".into()))),
        }
    }
}

/// `JobRemoved(u id, o job, s unit, s result)`: the job and its result.
fn job_of(m: &Message) -> Option<(String, String)> {
    let mut d = Dec::new(&m.body);
    d.u32()?;
    let job = d.str()?;
    d.str()?;
    Some((job, d.str()?))
}
