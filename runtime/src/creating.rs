//! A container half made: what `create` writes down before each side effect, so that a runtime
//! killed at any moment leaves nothing that `delete --force` cannot find and undo.
//!
//! `<root>/<id>/creating` is written before the cgroup exists and appended to right after the
//! clone; `state.json` follows at once (while the init sets up), and `creating` is removed when
//! the init is ready: until then the container's status is `creating`. Its lines:
//!
//! ```text
//! {"dirs":[…],…}         the container's cgroup (JSON, one line)
//! 4242 123456            the init's pid and start time (field 22 of /proc/<pid>/stat)
//! ```
//!
//! The init also dies with `create` until `state.json` is on disk (its parent-death signal, see
//! crate::channel), so a record without a live init is the usual case; the pid is for a
//! `delete --force` that runs while the creator is still alive, or was killed a moment ago.
//! Once `state.json` exists, `delete --force` goes by it instead ([`undo`] is for directories
//! without one).
use std::fs;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::cgroups::Cgroup;
use crate::error::{sys_err, Result};
use crate::state::{self, Liveness};
use crate::sys::{self, Errno};

/// Name of the record inside the container's state directory.
pub(crate) const CREATING_FILE: &str = "creating";

/// The open record of the container being created.
#[derive(Debug)]
pub(crate) struct Journal {
    file: fs::File,
}

impl Journal {
    /// Write the record's first line, naming `cgroup`, before the cgroup is made.
    pub(crate) fn begin(dir: &Path, cgroup: &Cgroup) -> Result<Journal> {
        let path = dir.join(CREATING_FILE);
        let mut line = serde_json::to_vec(cgroup).map_err(|e| sys_err("write", &path)(e.into()))?;
        line.push(b'\n');
        let mut file = fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(sys_err("create", &path))?;
        file.write_all(&line).map_err(sys_err("write", &path))?;
        Ok(Journal { file })
    }

    /// Append the init's pid and start time, right after the clone; returns the start time
    /// (0 when the init is already gone).
    pub(crate) fn init_cloned(&mut self, pid: libc::pid_t) -> std::io::Result<u64> {
        let start = match state::liveness(pid) {
            Liveness::Alive(s) => s,
            Liveness::Gone => 0,
        };
        // One write(2) of a short line: it lands whole or not at all when we are killed.
        self.file.write_all(format!("{pid} {start}\n").as_bytes())?;
        Ok(start)
    }
}

/// What a record holds.
#[derive(Debug, PartialEq)]
struct Record {
    cgroup: Option<Cgroup>,
    init: Option<(libc::pid_t, u64)>,
}

fn parse(text: &str) -> Record {
    let mut lines = text.lines();
    let cgroup = lines.next().and_then(|l| serde_json::from_str(l).ok());
    let init = lines.next().and_then(|l| {
        let (pid, start) = l.split_once(' ')?;
        Some((pid.parse().ok()?, start.parse().ok()?))
    });
    Record { cgroup, init }
}

/// Undo a container that has a state directory but no `state.json`: kill its init if the pid
/// still names it, remove its cgroup, remove the directory. Absent parts are fine, so a
/// concurrent or repeated call succeeds too.
pub(crate) fn undo(dir: &Path) -> Result<()> {
    let path = dir.join(CREATING_FILE);
    let rec = match fs::read_to_string(&path) {
        Ok(text) => parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Record {
            cgroup: None,
            init: None,
        },
        Err(e) => return Err(sys_err("read", &path)(e)),
    };
    if let Some((pid, start)) = rec.init {
        kill_init(pid, start);
    }
    if let Some(cg) = &rec.cgroup {
        cg.remove()?;
    }
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(sys_err("remove", dir)(e)),
    }
}

/// SIGKILL `pid` if it is still the process started at `start`, and wait until it has exited.
/// The pidfd pins the process, so the start-time check cannot be beaten by pid reuse.
fn kill_init(pid: libc::pid_t, start: u64) {
    let Ok(pidfd) = sys::pidfd_open(pid) else {
        return;
    };
    if state::liveness(pid) != Liveness::Alive(start) {
        return;
    }
    match sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => log::warn!("kill half-created init {pid}: {e}"),
    }
    let _ = sys::poll_one(pidfd.as_fd(), libc::POLLIN, 10_000);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_at_every_point_a_kill_can_leave_them() {
        let cg = Cgroup {
            layout: crate::cgroups::Layout::V2,
            path: "/sangja/x".into(),
            dirs: vec![("".into(), "/sys/fs/cgroup/sangja/x".into())],
            unit: None,
        };
        let line = serde_json::to_string(&cg).expect("json");
        assert_eq!(
            parse(""),
            Record {
                cgroup: None,
                init: None
            }
        );
        // Killed in the middle of the first line: nothing usable, nothing guessed.
        assert_eq!(parse(&line[..line.len() / 2]).cgroup, None);
        let one = parse(&format!("{line}\n"));
        assert_eq!(one.cgroup.as_ref(), Some(&cg));
        assert_eq!(one.init, None);
        let two = parse(&format!("{line}\n4242 99\n"));
        assert_eq!(two.init, Some((4242, 99)));
        assert_eq!(parse(&format!("{line}\n42x 9\n")).init, None);
    }

    #[test]
    fn undo_of_a_missing_or_empty_dir_succeeds() {
        let dir = std::env::temp_dir().join(format!("sangja-creating-{}", std::process::id()));
        assert!(undo(&dir).is_ok());
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join("exec.fifo"), b"").expect("write");
        assert!(undo(&dir).is_ok());
        assert!(!dir.exists());
    }
}
