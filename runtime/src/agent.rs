//! ④ `SCMP_ACT_NOTIFY`, parent side: handing a notifying filter's listener to the agent at
//! `listenerPath`.
//!
//! ```text
//!  parent (create / exec)                       child (init / exec'd process)
//!  ──────────────────────                       ─────────────────────────────
//!                                                load the filter (NEW_LISTENER) → listener fd
//!        ◄──────── `L` + SCM_RIGHTS(listener) ── channel::send_listener (one sendmsg: the only
//!  connect(listenerPath), sendmsg(container       syscall between the load and the handover,
//!  process state JSON + SCM_RIGHTS(listener)),    hence NOTIFY_FORBIDDEN = sendmsg)
//!  close; then read on
//!        ◄──────────────── Ready ─────────────── (create) / EOF at execve (exec)
//! ```
//!
//! The parent forwards the listener as soon as it arrives, before it waits for anything else
//! (`launch::next_message`), so a notified syscall the child makes afterwards is answered by the
//! agent. The message follows runtime-spec's "container process state": `{"ociVersion", "fds":
//! ["seccompFd"], "pid", "metadata", "state": {…}}`, one per connection, the connection closed
//! after it.
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use crate::seccomp::{ContainerRef, Program};
use crate::sys::{self, Errno};

/// Send the listener the child passed over the channel to the agent at `prog`'s `listenerPath`,
/// with the container process state (`pid`: the child's, `status`: the container's).
pub(crate) fn forward(
    prog: &Program,
    listener: &OwnedFd,
    pid: libc::pid_t,
    status: &str,
) -> Result<(), Errno> {
    let (Some(path), Some(c)) = (prog.listener_path(), prog.container()) else {
        return Err(Errno::EPROTO);
    };
    let state = process_state(c, prog.listener_metadata(), pid, status);
    let conn = UnixStream::connect(path)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::ECONNREFUSED)))?;
    sys::send_fd(conn.as_fd(), listener.as_fd(), &state)
}

/// The container process state sent to the agent.
fn process_state(c: &ContainerRef, metadata: &str, pid: i32, status: &str) -> Vec<u8> {
    let state = serde_json::json!({
        "ociVersion": crate::spec::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": metadata,
        "state": {
            "ociVersion": c.oci_version,
            "id": c.id,
            "status": status,
            "pid": pid,
            "bundle": c.bundle,
            "annotations": c.annotations,
        },
    });
    serde_json::to_vec(&state).unwrap_or_default()
}
