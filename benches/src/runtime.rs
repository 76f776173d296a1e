//! A runtime under test: its binary, a private `--root`, and timed invocations that also collect the
//! `wait4` rusage of the runtime process.

use std::fs;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::sys;

/// One runtime binary given by `--runtime NAME=PATH`.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub name: String,
    pub path: PathBuf,
    /// `--root` for every command, private to this run.
    pub root: PathBuf,
    /// First line of `--version`.
    pub version: String,
    pub size: BinarySize,
}

/// The binary's size and what the dynamic loader maps with it.
#[derive(Debug, Clone, Default)]
pub struct BinarySize {
    pub bytes: u64,
    /// Shared libraries `ldd` resolves to a file (the vDSO is not one), with their sizes.
    pub libs: Vec<(String, u64)>,
}

impl BinarySize {
    pub fn libs_bytes(&self) -> u64 {
        self.libs.iter().map(|(_, b)| b).sum()
    }
}

/// A finished invocation. (Its `ru_maxrss` would include the benchmark's own RSS: see `spawner.rs`.)
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// From just before `spawn` to the runtime process reaped.
    pub elapsed: Duration,
}

/// Longest a single runtime command may take before it is killed and counted as a failure (youki 0.7's
/// `run` sometimes never returns).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

impl Runtime {
    /// Resolves `path`, reads its version and size; `root` is created.
    pub fn new(name: &str, path: &Path, root: PathBuf) -> Result<Runtime, String> {
        let path =
            fs::canonicalize(path).map_err(|e| format!("{name}: {}: {e}", path.display()))?;
        fs::create_dir_all(&root).map_err(|e| format!("mkdir {}: {e}", root.display()))?;
        let version = Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .map_err(|e| format!("{name}: {} --version: {e}", path.display()))?;
        let size = binary_size(&path);
        Ok(Runtime {
            name: name.to_string(),
            path,
            root,
            version,
            size,
        })
    }

    /// Runs `RUNTIME --root ROOT ARGS…` (see [`timed`]). A non-zero exit or a timeout is an error
    /// with the runtime's last stderr line.
    pub fn exec(&self, args: &[&str]) -> Result<Outcome, String> {
        let mut cmd = Command::new(&self.path);
        cmd.arg("--root").arg(&self.root).args(args);
        let what = format!("{} {}", self.name, args.join(" "));
        timed(cmd, &what, COMMAND_TIMEOUT).map(|elapsed| Outcome { elapsed })
    }

    /// `delete --force ID`, untimed, errors ignored (cleanup).
    pub fn force_delete(&self, id: &str) {
        let _ = self.exec(&["delete", "--force", id]);
    }
}

/// Runs `cmd` with stdin and stdout on /dev/null and stderr to a memfd (read back only on failure),
/// timed from spawn to reap. A non-zero exit or a timeout (the command is killed) is an error naming
/// `what`, with the last line of its stderr.
pub fn timed(mut cmd: Command, what: &str, timeout: Duration) -> Result<Duration, String> {
    let err = sys::memfd().map_err(|e| format!("memfd: {e}"))?;
    let err_for_child = err.try_clone().map_err(|e| format!("dup: {e}"))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err_for_child));
    let t0 = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("{what}: {e}"))?;
    drop(cmd); // closes our copy of the child's stderr
    let res = reap(child.id(), timeout);
    let elapsed = t0.elapsed();
    let fail = |why: String| {
        let mut text = String::new();
        let mut f = err;
        let _ = f.rewind();
        let _ = f.read_to_string(&mut text);
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        format!("{what}: {why}: {}", last.trim())
    };
    match res {
        Ok(r) if r.code() == 0 => Ok(elapsed),
        Ok(r) => Err(fail(format!("exit {}", r.code()))),
        Err(e) => Err(fail(e)),
    }
}

/// Waits for our child `pid` (through a pidfd, so a hung runtime can time out) and reaps it.
pub fn reap(pid: u32, timeout: Duration) -> Result<sys::Reaped, String> {
    let pid = i32::try_from(pid).map_err(|e| e.to_string())?;
    let pidfd = sys::pidfd_open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
    let exited = sys::poll_exit(&pidfd, timeout).map_err(|e| format!("poll: {e}"))?;
    if !exited {
        sys::kill(pid, libc::SIGKILL);
        let _ = sys::wait4(pid, 0);
        return Err(format!("timed out after {timeout:?}"));
    }
    sys::wait4(pid, 0)
        .map_err(|e| format!("wait4: {e}"))?
        .ok_or_else(|| "wait4: still running".to_string())
}

/// Size of `path` and of the shared libraries `ldd` resolves for it.
pub fn binary_size(path: &Path) -> BinarySize {
    let bytes = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut libs = Vec::new();
    if let Ok(out) = Command::new("ldd").arg(path).stdin(Stdio::null()).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let line = line.trim();
            let file = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None if line.starts_with('/') => line.split_whitespace().next(),
                None => None,
            };
            if let Some(file) = file.filter(|f| f.starts_with('/')) {
                let size = fs::metadata(file).map(|m| m.len()).unwrap_or(0);
                let name = Path::new(file)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| file.to_string());
                libs.push((name, size));
            }
        }
    }
    BinarySize { bytes, libs }
}

/// A container id unique to this benchmark process.
pub fn container_id(tag: &str, n: usize) -> String {
    format!("sb{}-{tag}-{n}", std::process::id())
}
