//! `start`: release the init waiting on the exec fifo, and with startContainer or poststart
//! hooks wait until the process has exec'd.
use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use super::Container;
use crate::error::{sys_err, Error, Result};
use crate::state::{Status, FIFO_FILE};
use crate::sys::{self, Errno};

impl Container {
    /// Release the init waiting on the exec fifo: it then execs the container process.
    pub fn start(&mut self) -> Result<()> {
        if let Some(t) = self.trace.as_mut() {
            *t = crate::trace::Trace::start();
        }
        match self.status() {
            Status::Created => {}
            Status::Stopped => {
                return Err(Error::BadStatus(
                    "cannot start a container that has stopped".into(),
                ))
            }
            Status::Creating => {
                return Err(Error::BadStatus(
                    "cannot start a container that is still being created".into(),
                ))
            }
            _ => {
                return Err(Error::BadStatus(
                    "cannot start an already running container".into(),
                ))
            }
        }
        let fifo = self.dir.join(FIFO_FILE);
        let file = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&fifo)
            .map_err(|e| match e.raw_os_error() {
                // No reader: the init is gone.
                Some(libc::ENXIO) => {
                    Error::BadStatus("cannot start a container that has stopped".into())
                }
                Some(libc::ENOENT) => {
                    Error::BadStatus("cannot start an already running container".into())
                }
                _ => sys_err("open", &fifo)(e),
            })?;
        // With startContainer or poststart hooks, `start` waits until the process has exec'd: a
        // hook failure must fail `start`, and poststart must run after the exec. The result fifo
        // is opened while the init still holds its writer, so its execve (close-on-exec) shows as
        // a hang-up here; a failure arrives as text. Without such hooks `start` returns once the
        // init is released, as runc does (saves the init's exec time, ~0.7 ms, on the hot path).
        let hooks = self.rec.hooks.as_ref();
        let must_wait = hooks.is_some_and(|h| {
            [h.start_container(), h.poststart()]
                .iter()
                .any(|l| l.as_ref().is_some_and(|v| !v.is_empty()))
        });
        let result = if must_wait {
            let result_path = self.dir.join(crate::state::RESULT_FILE);
            fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(&result_path)
                .ok()
        } else {
            None
        };
        sys::write(file.as_fd(), b"0").map_err(|e| Error::Sys {
            call: "write",
            path: fifo.clone(),
            source: e.into(),
        })?;
        drop(file);
        if let Some(t) = self.trace.as_mut() {
            t.mark("fifo");
        }
        fs::remove_file(&fifo).map_err(sys_err("unlink", &fifo))?;
        if let Some(result) = result {
            wait_for_exec(&result)?;
            if let Some(t) = self.trace.as_mut() {
                t.mark("exec");
            }
        }
        if let Some(hooks) = self.rec.hooks.as_ref().and_then(|h| h.poststart().as_ref()) {
            let state = serde_json::to_vec(&self.state()).unwrap_or_default();
            crate::hooks::run_warn("poststart", hooks, &state, &self.rec.bundle);
        }
        Ok(())
    }
}

/// Wait until the init has exec'd (its end of the result fifo closes) or reports why not.
fn wait_for_exec(result: &fs::File) -> Result<()> {
    let mut msg = Vec::new();
    loop {
        if !sys::poll_one(result.as_fd(), libc::POLLIN, -1).unwrap_or(false) {
            return Ok(());
        }
        let mut buf = [0u8; 1024];
        match sys::read(result.as_fd(), &mut buf) {
            Ok(0) => break,
            Ok(n) => msg.extend_from_slice(&buf[..n]),
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    if msg.is_empty() {
        Ok(())
    } else {
        // The init wrote the whole reason (a startContainer hook, or loading seccomp).
        Err(Error::BadStatus(
            String::from_utf8_lossy(&msg).trim_end().to_string(),
        ))
    }
}
