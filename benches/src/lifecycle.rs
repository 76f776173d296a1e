//! Per-phase latency, interleaved round-robin: in round `r` every runtime runs once, the order rotated by
//! `r`, so that machine noise (other jobs on this box) hits every runtime alike.
//!
//! Per runtime and round:
//! - lifecycle of the `/bin/true` bundle: `create --pid-file` → `start` → wait for exit (poll a pidfd of
//!   the init, then reap it: the benchmark is a child subreaper, as containerd's shim is) → `delete`;
//! - the same lifecycle of the bundle with a new user namespace (container 0–65535 mapped to host
//!   100000–165535), recorded as `create (userns)` and `create→delete (userns)`;
//! - `run` of the same bundle, with the peak RSS that `wait4` reports for the runtime process;
//! - on a running `sleep` container: `state`, then `kill KILL`, then wait and `delete` (kill→delete).

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::results::Results;
use crate::runtime::{container_id, Runtime};
use crate::spawner::Spawner;
use crate::sys;

/// The metrics this module records, in report order.
pub const PHASES: [&str; 11] = [
    "create",
    "start",
    "wait",
    "delete",
    "create→delete",
    "create (userns)",
    "create→delete (userns)",
    "run",
    "state",
    "kill",
    "kill→delete",
];

/// Wall time in ms.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn read_pid(pidfile: &Path) -> Result<i32, String> {
    let text = fs::read_to_string(pidfile).map_err(|e| format!("{}: {e}", pidfile.display()))?;
    text.trim()
        .parse()
        .map_err(|e| format!("{}: {text:?}: {e}", pidfile.display()))
}

/// A created container's init, watched through a pidfd.
struct Init {
    pid: i32,
    pidfd: std::os::fd::OwnedFd,
}

impl Init {
    fn open(pidfile: &Path) -> Result<Init, String> {
        let pid = read_pid(pidfile)?;
        let pidfd = sys::pidfd_open(pid).map_err(|e| format!("pidfd_open {pid}: {e}"))?;
        Ok(Init { pid, pidfd })
    }

    /// Waits for exit and reaps the init if it is our child (it is, once `create` exited and the init was
    /// reparented to this subreaper). Returns the init's peak RSS in KiB when reaped here.
    fn wait(&self) -> Result<Option<i64>, String> {
        if !sys::poll_exit(&self.pidfd, Duration::from_secs(30)).map_err(|e| e.to_string())? {
            return Err(format!("init {} still running after 30 s", self.pid));
        }
        match sys::wait4(self.pid, 0) {
            Ok(r) => Ok(r.map(|r| r.maxrss_kib)),
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(None),
            Err(e) => Err(format!("wait4 {}: {e}", self.pid)),
        }
    }

    /// Cleanup after a failure.
    fn kill(&self) {
        sys::kill(self.pid, libc::SIGKILL);
        let _ = self.wait();
    }
}

/// `create --bundle B --pid-file P ID`, timed (ms).
pub fn create(rt: &Runtime, bundle: &Path, id: &str, pidfile: &Path) -> Result<f64, String> {
    let _ = fs::remove_file(pidfile);
    let b = bundle.to_string_lossy();
    let p = pidfile.to_string_lossy();
    let o = rt.exec(&["create", "--bundle", &b, "--pid-file", &p, id])?;
    Ok(ms(o.elapsed))
}

/// `ru_maxrss` (MiB) of `RUNTIME --root ROOT ARGS…` started by the spawner.
fn maxrss(spawner: &Spawner, rt: &Runtime, args: &[&str]) -> Result<f64, String> {
    let mut argv: Vec<&OsStr> = vec![OsStr::new("--root"), rt.root.as_os_str()];
    argv.extend(args.iter().map(OsStr::new));
    let kib = spawner.maxrss(rt.path.as_os_str(), &argv)?;
    Ok(kib as f64 / 1024.0)
}

/// Everything one round measures for one runtime, recorded into `res` under the runtime's name.
pub struct Round<'a> {
    pub true_bundle: &'a Path,
    /// The `/bin/true` bundle with a new, mapped user namespace.
    pub userns_bundle: &'a Path,
    pub sleep_bundle: &'a Path,
    pub work: &'a Path,
    pub spawner: &'a Spawner,
}

impl Round<'_> {
    pub fn run(&self, rt: &Runtime, round: usize, res: &mut Results) {
        let pidfile = self.work.join(format!("{}.pid", rt.name));
        let id = container_id("lc", round);
        if let Err(e) = self.lifecycle(rt, &id, &pidfile, false, res) {
            res.fail(&rt.name, "lifecycle", e);
            rt.force_delete(&id);
        }
        let id = container_id("us", round);
        if let Err(e) = self.lifecycle(rt, &id, &pidfile, true, res) {
            res.fail(&rt.name, "lifecycle (userns)", e);
            rt.force_delete(&id);
        }
        let id = container_id("run", round);
        let b = self.true_bundle.to_string_lossy();
        match rt.exec(&["run", "--bundle", &b, &id]) {
            Ok(o) => res.push("lifecycle", &rt.name, "run", ms(o.elapsed)),
            Err(e) => {
                res.fail(&rt.name, "run", e);
                rt.force_delete(&id);
            }
        }
        // Peak RSS from a second, untimed `run` started by the small spawner.
        let id = container_id("rss", round);
        match maxrss(self.spawner, rt, &["run", "--bundle", &b, &id]) {
            Ok(mib) => res.push("rss", &rt.name, "run", mib),
            Err(e) => {
                res.fail(&rt.name, "run (rss)", e);
                rt.force_delete(&id);
            }
        }
        let id = container_id("sl", round);
        if let Err(e) = self.state_kill(rt, &id, &pidfile, res) {
            res.fail(&rt.name, "state/kill", e);
            rt.force_delete(&id);
        }
    }

    fn lifecycle(
        &self,
        rt: &Runtime,
        id: &str,
        pidfile: &Path,
        userns: bool,
        res: &mut Results,
    ) -> Result<(), String> {
        let bundle = if userns {
            self.userns_bundle
        } else {
            self.true_bundle
        };
        let t_create = create(rt, bundle, id, pidfile)?;
        let init = Init::open(pidfile)?;
        let steps = (|| {
            let start = rt.exec(&["start", id])?;
            let t0 = Instant::now();
            let rss_init = init.wait()?;
            let wait = t0.elapsed();
            Ok::<_, String>((start, wait, rss_init))
        })();
        let (start, wait, rss_init) = steps.inspect_err(|_| init.kill())?;
        let delete = rt.exec(&["delete", id])?;
        let total = t_create + ms(start.elapsed) + ms(wait) + ms(delete.elapsed);
        if userns {
            res.push("lifecycle", &rt.name, "create (userns)", t_create);
            res.push("lifecycle", &rt.name, "create→delete (userns)", total);
            return Ok(());
        }
        res.push("lifecycle", &rt.name, "create", t_create);
        res.push("lifecycle", &rt.name, "start", ms(start.elapsed));
        res.push("lifecycle", &rt.name, "wait", ms(wait));
        res.push("lifecycle", &rt.name, "delete", ms(delete.elapsed));
        res.push("lifecycle", &rt.name, "create→delete", total);
        if let Some(kib) = rss_init {
            res.push("rss", &rt.name, "init", kib as f64 / 1024.0);
        }
        Ok(())
    }

    fn state_kill(
        &self,
        rt: &Runtime,
        id: &str,
        pidfile: &Path,
        res: &mut Results,
    ) -> Result<(), String> {
        // Untimed create, started by the spawner for its peak RSS.
        let _ = fs::remove_file(pidfile);
        let (b, p) = (
            self.sleep_bundle.to_string_lossy(),
            pidfile.to_string_lossy(),
        );
        let rss = maxrss(
            self.spawner,
            rt,
            &["create", "--bundle", &b, "--pid-file", &p, id],
        )?;
        res.push("rss", &rt.name, "create", rss);
        let init = Init::open(pidfile)?;
        let timed = (|| {
            rt.exec(&["start", id])?;
            let state = rt.exec(&["state", id])?;
            let t0 = Instant::now();
            let kill = rt.exec(&["kill", id, "KILL"])?;
            init.wait()?;
            Ok::<_, String>((state, kill, t0))
        })();
        let (state, kill, t0) = timed.inspect_err(|_| init.kill())?;
        rt.exec(&["delete", id])?;
        res.push("lifecycle", &rt.name, "state", ms(state.elapsed));
        res.push("lifecycle", &rt.name, "kill", ms(kill.elapsed));
        res.push("lifecycle", &rt.name, "kill→delete", ms(t0.elapsed()));
        Ok(())
    }
}
