//! The init's new user namespace, mapped by the parent while the init waits for `MapsWritten`:
//! its `oom_score_adj` first (lowering it takes a capability in our namespace, not the init's),
//! then `uid_map` and `gid_map`, each written as [`MapWriter`] says:
//! - as root, through our verified procfs; `setgroups` stays allowed (the process's
//!   `additionalGids` need it);
//! - as another user, a map of the caller's own id alone through our verified procfs too, the
//!   gid map after `setgroups` is set to `deny` (the kernel's condition for an unprivileged
//!   writer);
//! - any other map by the setuid helpers `newuidmap`/`newgidmap`, which check the caller's
//!   subordinate ranges. They name the init by pid: it is our unreaped child, so the pid cannot
//!   name another process meanwhile.
use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::process::Command;

use crate::channel;
use crate::plan::rootless::MapWriter;
use crate::plan::userns::UserMaps;
use crate::plan::Plan;
use crate::sys::{self, Errno};

use super::LaunchError;

/// Map the init `pid`'s user namespace per `maps`, then tell it on `sock`.
pub(super) fn map_user_ns(
    plan: &Plan,
    maps: &UserMaps,
    pid: libc::pid_t,
    sock: BorrowedFd<'_>,
) -> Result<(), LaunchError> {
    let mut proc = crate::procfs::HostProc::default();
    if let Some(oom) = plan.process.oom_score_adj.as_ref() {
        write_proc(&mut proc, pid, "oom_score_adj", oom, "process.oomScoreAdj")?;
    }
    let lists = [
        (
            &maps.uid_map,
            maps.uid_writer,
            "uid_map",
            "linux.uidMappings",
        ),
        (
            &maps.gid_map,
            maps.gid_writer,
            "gid_map",
            "linux.gidMappings",
        ),
    ];
    for (text, writer, file, field) in lists {
        match writer {
            MapWriter::Direct => {}
            MapWriter::OwnId if file == "gid_map" => {
                write_proc(&mut proc, pid, "setgroups", c"deny", field)?
            }
            MapWriter::OwnId => {}
            MapWriter::Helper => {
                let helper = if file == "uid_map" {
                    "newuidmap"
                } else {
                    "newgidmap"
                };
                run_helper(helper, pid, text, field)?;
                continue;
            }
        }
        write_proc(&mut proc, pid, file, text, field)?;
    }
    channel::send_maps_written(sock).map_err(|source| LaunchError::Parent {
        call: "send MapsWritten",
        source,
    })
}

/// Write `text` to `/proc/<pid>/<file>` through the verified procfs, whole.
fn write_proc(
    proc: &mut crate::procfs::HostProc,
    pid: libc::pid_t,
    file: &str,
    text: &CStr,
    field: &'static str,
) -> Result<(), LaunchError> {
    let path = format!("/proc/{pid}/{file}");
    let written = std::ffi::CString::new(path.as_str())
        .map_err(|_| Errno::EINVAL)
        .and_then(|p| proc.open_write(&p))
        .and_then(|fd| sys::write(fd.as_fd(), text.to_bytes()));
    match written {
        Ok(n) if n == text.to_bytes().len() => Ok(()),
        r => Err(LaunchError::Init {
            field: Some(field.into()),
            step: "write",
            detail: path,
            errno: r.err().unwrap_or(Errno::EIO),
        }),
    }
}

/// Run `helper <pid> <container id> <host id> <size>...` with the map's ranges (its lines).
fn run_helper(
    helper: &'static str,
    pid: libc::pid_t,
    text: &CStr,
    field: &'static str,
) -> Result<(), LaunchError> {
    let err = |message: String| LaunchError::MapHelper {
        field,
        helper,
        message,
    };
    let ranges = text
        .to_str()
        .map_err(|_| err("the map is not text".into()))?;
    let out = Command::new(helper)
        .arg(pid.to_string())
        .args(ranges.split_whitespace())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            err(format!(
                "{e} (a rootless container with more than the caller's own id needs it: \
                 Debian's package uidmap)"
            ))
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().map(str::trim).find(|l| !l.is_empty());
    Err(err(line.unwrap_or("failed without a message").to_string()))
}
