//! A small-footprint process that starts the runtime commands whose peak RSS is measured.
//!
//! `ru_maxrss` of a process that called `execve` includes the high-water RSS of the memory it ran on
//! before the exec (the kernel records the old mm's peak at exec). A command spawned by the benchmark runs
//! on the benchmark's memory until it execs (vfork), or on a copy of it (fork), so every runtime would
//! report at least the benchmark's own RSS (several MiB, more than crun's). The spawner is forked at the
//! very start of `main`, when the benchmark has touched little memory, and does nothing but receive an argv
//! on a datagram socket, spawn it, reap it and send back the exit code and `ru_maxrss`. Its own peak
//! (`VmHWM`) is the floor of the measurement and is reported.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};

use crate::runtime::{reap, COMMAND_TIMEOUT};

/// The benchmark's end of the spawner.
#[derive(Debug)]
pub struct Spawner {
    sock: UnixDatagram,
    pid: i32,
}

const HWM: &[u8] = b"\x01hwm";

impl Spawner {
    /// Forks the spawner. Call while the process is single-threaded and small.
    pub fn start() -> io::Result<Spawner> {
        let (ours, theirs) = UnixDatagram::pair()?;
        // SAFETY: the process is single-threaded here (called at the start of main), so the child may use
        // the allocator and std; it only runs `serve`, which never returns.
        let pid = unsafe { libc::fork() };
        match pid {
            -1 => Err(io::Error::last_os_error()),
            0 => {
                drop(ours);
                serve(theirs)
            }
            pid => Ok(Spawner { sock: ours, pid }),
        }
    }

    fn call(&self, msg: &[u8]) -> Result<String, String> {
        self.sock
            .send(msg)
            .map_err(|e| format!("spawner send: {e}"))?;
        let mut buf = [0u8; 4096];
        let n = self
            .sock
            .recv(&mut buf)
            .map_err(|e| format!("spawner recv: {e}"))?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Runs `program args…` with stdio on /dev/null; returns its `ru_maxrss` in KiB, or an error for a
    /// non-zero exit.
    pub fn maxrss(&self, program: &OsStr, args: &[&OsStr]) -> Result<i64, String> {
        let mut msg = program.as_bytes().to_vec();
        for a in args {
            msg.push(0);
            msg.extend_from_slice(a.as_bytes());
        }
        let reply = self.call(&msg)?;
        let mut it = reply.splitn(3, ' ');
        let code: i32 = it.next().and_then(|c| c.parse().ok()).unwrap_or(-1);
        let rss: i64 = it.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        if code != 0 {
            return Err(format!("exit {code} {}", it.next().unwrap_or("")));
        }
        Ok(rss)
    }

    /// The spawner's own peak RSS in KiB (`VmHWM`): the floor below which no `ru_maxrss` it reports can go.
    pub fn own_hwm(&self) -> Option<i64> {
        self.call(HWM).ok()?.trim().parse().ok()
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        // The spawner exits when its socket reports EOF; reap it.
        let _ = reap(self.pid as u32, std::time::Duration::from_secs(5));
    }
}

fn vm_hwm_kib() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn serve(sock: UnixDatagram) -> ! {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match sock.recv(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let msg = &buf[..n];
        let reply = if msg == HWM {
            vm_hwm_kib().unwrap_or(0).to_string()
        } else {
            let mut parts = msg.split(|b| *b == 0).map(OsStr::from_bytes);
            let program = parts.next().unwrap_or_default();
            let spawned = Command::new(program)
                .args(parts)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            match spawned
                .map_err(|e| e.to_string())
                .and_then(|c| reap(c.id(), COMMAND_TIMEOUT))
            {
                Ok(r) => format!("{} {}", r.code(), r.maxrss_kib),
                Err(e) => format!("-1 0 {e}"),
            }
        };
        if sock.send(reply.as_bytes()).is_err() {
            break;
        }
    }
    // SAFETY: _exit ends the forked child without running the parent's atexit handlers or destructors.
    unsafe { libc::_exit(0) }
}
