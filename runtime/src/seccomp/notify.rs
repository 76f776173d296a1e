//! `SCMP_ACT_NOTIFY`: handing the filter's listener to the agent at `listenerPath`.
//!
//! ```text
//!  parent (create / exec)                       child (init / exec'd process)
//!  ──────────────────────                       ─────────────────────────────
//!                                                load the filter (NEW_LISTENER) → listener fd
//!        ◄──────── `S` + SCM_RIGHTS(listener) ── send_listener (one sendmsg: the only syscall
//!  connect(listenerPath), sendmsg(container       made between the load and the handover,
//!  process state JSON + SCM_RIGHTS(listener)),    hence NOTIFY_FORBIDDEN = sendmsg)
//!  close; then read on
//!        ◄──────────────── Ready ─────────────── (create) / EOF at execve (exec)
//! ```
//!
//! The parent forwards the listener as soon as it arrives, before it waits for anything else, so
//! a notified syscall the child makes afterwards is answered by the agent. The message follows
//! runtime-spec's "container process state": `{"ociVersion", "fds": ["seccompFd"], "pid",
//! "metadata", "state": {…}}`, one per connection, the connection closed after it.
use std::collections::HashMap;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use crate::sys::{self, Errno};

/// The container the agent is told about (runtime-spec `state` without pid and status).
#[derive(Debug, Clone, Default)]
pub struct ContainerRef {
    /// `ociVersion` of the bundle.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Annotations.
    pub annotations: HashMap<String, String>,
}

/// Tag of the channel message carrying the listener.
const TAG: &[u8] = b"S";

/// Child side: hand the listener to the parent (one `sendmsg`, no allocation).
pub(crate) fn send_listener(sock: BorrowedFd<'_>, listener: BorrowedFd<'_>) -> Result<(), Errno> {
    sys::send_fd(sock, listener, TAG)
}

/// Parent side: `read(2)` of one channel message that also takes a file descriptor passed with
/// it (which only the listener message carries).
pub(crate) fn recv(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
) -> Result<(usize, Option<OwnedFd>), Errno> {
    sys::recv_with_fd(sock, buf)
}

/// The container process state sent to the agent.
pub(crate) fn process_state(c: &ContainerRef, metadata: &str, pid: i32, status: &str) -> Vec<u8> {
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

/// Connect to `listenerPath` and send the state with the listener; one connection per listener.
pub(crate) fn forward(
    path: &std::path::Path,
    state: &[u8],
    listener: BorrowedFd<'_>,
) -> Result<(), Errno> {
    let conn = UnixStream::connect(path)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::ECONNREFUSED)))?;
    sys::send_fd(std::os::fd::AsFd::as_fd(&conn), listener, state)
}
