//! OCI hooks: each gets the container's state JSON on stdin, runs with its `args` and `env`, and
//! is killed after `timeout` seconds.
//!
//! Where each kind runs (runtime-spec "Lifecycle"):
//! - `prestart`, `createRuntime`: during `create`, by the runtime, in the runtime's namespaces,
//!   after the init made its mounts and before `pivot_root` (the init waits on the channel);
//! - `createContainer`: by the init, in the container's namespaces, before `pivot_root`;
//! - `startContainer`: by the init after `start` released it, just before `execve`;
//! - `poststart`: by `start` once the process runs (a failure only warns);
//! - `poststop`: by `delete` after the container is gone (a failure only warns).
//!
//! This module runs them: [`run`] and [`run_warn`] in the runtime (from the spec's `Hook`s),
//! [`run_in_init`] in the init without allocating (from the hooks `crate::plan::hooks` prepared).
use std::ffi::CStr;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::plan::hooks::HookPlan;
use crate::sys::{self, Errno, Forked};

/// A hook failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The hook could not be started.
    #[error("{kind} hook {}: {source}", path.display())]
    Spawn {
        /// Hook kind (`createRuntime`, …).
        kind: &'static str,
        /// Hook path.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The hook exited unsuccessfully.
    #[error("{kind} hook {} failed: {status}{}", path.display(), if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    Failed {
        /// Hook kind.
        kind: &'static str,
        /// Hook path.
        path: PathBuf,
        /// `exit status N` or `signal N`.
        status: String,
        /// First line of its stderr.
        stderr: String,
    },
    /// The hook ran past its timeout and was killed.
    #[error("{kind} hook {} timed out after {secs}s", path.display())]
    Timeout {
        /// Hook kind.
        kind: &'static str,
        /// Hook path.
        path: PathBuf,
        /// The timeout.
        secs: i64,
    },
}

/// Run `hooks` in order in this process's namespaces, each with `state` on stdin and the bundle
/// as its working directory; stops at the first failure.
pub fn run(
    kind: &'static str,
    hooks: &[Hook],
    state: &[u8],
    bundle: &Path,
) -> Result<(), HookError> {
    for h in hooks {
        run_one(kind, h, state, bundle)?;
    }
    Ok(())
}

/// Run `hooks`, logging failures as warnings (poststart, poststop).
pub fn run_warn(kind: &'static str, hooks: &[Hook], state: &[u8], bundle: &Path) {
    for h in hooks {
        if let Err(e) = run_one(kind, h, state, bundle) {
            log::warn!("{e}");
        }
    }
}

/// One runtime-side hook. As runc: a hook without `env` gets the runtime's environment (an
/// empty `env` list gets none), and it runs in the bundle directory.
fn run_one(kind: &'static str, h: &Hook, state: &[u8], bundle: &Path) -> Result<(), HookError> {
    let path = h.path().clone();
    let spawn_err = |source| HookError::Spawn {
        kind,
        path: path.clone(),
        source,
    };
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(&path);
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    if let Some(env) = h.env() {
        cmd.env_clear();
        for e in env {
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    cmd.current_dir(bundle);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(state);
    }
    let deadline = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| (t, Instant::now() + Duration::from_secs(t as u64)));
    let status = loop {
        match child.try_wait().map_err(spawn_err)? {
            Some(s) => break s,
            None => {
                if let Some((secs, at)) = deadline {
                    if Instant::now() >= at {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(HookError::Timeout { kind, path, secs });
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    let status = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (_, Some(s)) => format!("signal {s}"),
        _ => "unknown status".into(),
    };
    Err(HookError::Failed {
        kind,
        path,
        status,
        stderr: stderr.lines().next().unwrap_or("").to_string(),
    })
}

/// Why a prepared hook failed.
#[derive(Debug)]
pub struct InitHookFailure<'a> {
    /// The hook.
    pub hook: &'a HookPlan,
    /// ETIMEDOUT (killed after its timeout), ECHILD (exited unsuccessfully) or the errno of
    /// running it.
    pub errno: Errno,
    /// Exit status (or 128 + signal) when it ran.
    pub status: i32,
    /// Length of the stderr head captured into the caller's buffer.
    pub stderr_len: usize,
}

/// Run prepared hooks from the init (no allocation): fork, state on a pipe as stdin, execve,
/// wait with the timeout. The head of a failing hook's stderr lands in `stderr`.
pub fn run_in_init<'a>(
    hooks: &'a [HookPlan],
    state: &[u8],
    process_env: &[*const libc::c_char],
    cwd: Option<&CStr>,
    stderr: &mut [u8],
) -> Result<(), InitHookFailure<'a>> {
    for h in hooks {
        let env = if h.own_env {
            &h.env_ptrs[..]
        } else {
            process_env
        };
        run_prepared(h, state, env, cwd, stderr).map_err(|(errno, status, stderr_len)| {
            InitHookFailure {
                hook: h,
                errno,
                status,
                stderr_len,
            }
        })?;
    }
    Ok(())
}

type PreparedError = (Errno, i32, usize);

/// Write `<path>: exit status N: <first stderr line>` (or `timed out`) into `out` without
/// allocating; returns the length.
pub fn describe_failure(f: &InitHookFailure<'_>, stderr: &[u8], out: &mut [u8]) -> usize {
    let mut w = Cursor { buf: out, len: 0 };
    w.put(f.hook.path.to_bytes());
    match f.errno {
        Errno::ETIMEDOUT => w.put(b": timed out"),
        Errno::ECHILD => {
            w.put(b": exit status ");
            let mut digits = [0u8; 16];
            w.put(crate::sys::format_pid(f.status, &mut digits));
        }
        e => {
            w.put(b": ");
            w.put(e.desc().as_bytes());
        }
    }
    let line = stderr[..f.stderr_len.min(stderr.len())]
        .split(|b| *b == b'\n')
        .next()
        .unwrap_or(&[]);
    if !line.is_empty() {
        w.put(b": ");
        w.put(line);
    }
    w.len
}

struct Cursor<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }
}

fn run_prepared(
    h: &HookPlan,
    state: &[u8],
    env: &[*const libc::c_char],
    cwd: Option<&CStr>,
    stderr: &mut [u8],
) -> Result<(), PreparedError> {
    let io = |e: Errno| (e, 0, 0);
    let (r, w) = sys::pipe().map_err(io)?;
    let (er, ew) = sys::pipe().map_err(io)?;
    // The clone's contract (see `sys::clone_fork`): the child only dup2s, chdirs, execs or
    // exits, system calls on what was prepared before (the hook plan's strings, the pipes).
    match sys::clone_fork(0).map_err(io)? {
        Forked::Child => {
            drop(w);
            drop(er);
            let _ = sys::dup2(r.as_fd(), 0);
            let _ = sys::dup2(ew.as_fd(), 2);
            if let Some(dir) = cwd {
                if let Err(e) = sys::chdir(dir) {
                    sys::exit_now(if e == Errno::ENOENT { 127 } else { 126 });
                }
            }
            let e = sys::execve(&h.path, &h.argv_ptrs, env);
            sys::exit_now(if e == Errno::ENOENT { 127 } else { 126 });
        }
        Forked::Parent(pid) => {
            drop(r);
            drop(ew);
            let _ = write_all(w.as_fd(), state);
            drop(w);
            wait_with_timeout(pid, h.timeout_ms, er.as_fd(), stderr)
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        match sys::write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Wait for the hook while collecting the head of its stderr (so a chatty hook cannot block on a
/// full pipe); kill it after `timeout_ms`.
fn wait_with_timeout(
    pid: libc::pid_t,
    timeout_ms: libc::c_int,
    err: BorrowedFd<'_>,
    head: &mut [u8],
) -> Result<(), PreparedError> {
    let io = |e: Errno| (e, 0, 0);
    let pidfd: OwnedFd = sys::pidfd_open(pid).map_err(io)?;
    let start = std::time::Instant::now();
    let mut len = 0;
    let mut err_open = true;
    loop {
        let left = if timeout_ms < 0 {
            -1
        } else {
            let spent = start.elapsed().as_millis().min(i32::MAX as u128) as libc::c_int;
            if spent >= timeout_ms {
                let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
                let _ = sys::waitpid(pid, 0);
                return Err((Errno::ETIMEDOUT, 0, len));
            }
            timeout_ms - spent
        };
        let mut fds = [
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if err_open { err.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        match sys::poll(&mut fds, left) {
            Err(e) if e != Errno::EINTR => return Err(io(e)),
            _ => {}
        }
        if fds[1].revents != 0 {
            let mut scratch = [0u8; 512];
            let buf = if len < head.len() {
                &mut head[len..]
            } else {
                &mut scratch[..]
            };
            match sys::read(err, buf) {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) if len < head.len() => len += n,
                Ok(_) => {}
            }
        }
        if fds[0].revents != 0 {
            let (_, status) = sys::waitpid(pid, 0).map_err(io)?;
            // Pick up what the hook wrote just before exiting.
            while err_open
                && sys::poll_one(err, libc::POLLIN, 0).unwrap_or(false)
                && len < head.len()
            {
                match sys::read(err, &mut head[len..]) {
                    Ok(n) if n > 0 => len += n,
                    _ => err_open = false,
                }
            }
            let code = crate::wait::exit_code(status);
            return if code == 0 {
                Ok(())
            } else {
                Err((Errno::ECHILD, code, len))
            };
        }
    }
}
