//! What every verb shares: the global flags ([`Ctx`]), the error a verb fails with and its one
//! printed line ([`CliError`]), and the small helpers for output, paths and OS error wording.
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Socket activation as runc reads it: `LISTEN_FDS` when `LISTEN_PID` is this process.
pub fn listen_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if !ours {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// What every verb may need from the global flags.
#[derive(Debug)]
pub struct Ctx {
    /// `--root`, made absolute (runc resolves it against the caller's working directory).
    pub root: PathBuf,
    /// `--systemd-cgroup` was given.
    pub systemd_cgroup: bool,
    /// `--rootless auto|true|false`.
    pub rootless: sangja::Rootless,
    /// `--trace FILE`: where per-phase timing lines go.
    pub trace: Option<PathBuf>,
}

impl Ctx {
    /// Append the container's last trace as one line to the `--trace` file (best effort: a
    /// trace must never fail the command it measures).
    pub fn write_trace(&self, command: &str, c: &sangja::Container) {
        let (Some(path), Some(t)) = (&self.trace, c.trace()) else {
            return;
        };
        let line = t.to_json_line(command, c.id()) + "\n";
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        if let Err(e) = file.and_then(|mut f| f.write_all(line.as_bytes())) {
            ::log::warn!("trace {}: {e}", path.display());
        }
    }
}

/// Why a verb failed; its `Display` is the one line printed and logged.
#[derive(Debug)]
pub enum CliError {
    /// The library refused or failed (its text carries runc's wording).
    Runtime(sangja::Error),
    /// `create`, `run` or `exec` failed: runc words these `runc create failed: <error>` (we keep the
    /// shape: `sangja create failed: <error>`) and `exec failed: <error>`, which we copy.
    Failed {
        /// The verb.
        verb: &'static str,
        /// The library's error.
        source: sangja::Error,
    },
    /// A failure of the command line itself (bad flag value, unsupported option, output error).
    Message(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Runtime(e) => write!(f, "{e}"),
            // runc: "runc create failed: …", "runc run failed: …", but "exec failed: …".
            CliError::Failed {
                verb: "exec",
                source,
            } => write!(f, "exec failed: {source}"),
            CliError::Failed { verb, source } => write!(f, "sangja {verb} failed: {source}"),
            CliError::Message(m) => f.write_str(m),
        }
    }
}

impl From<sangja::Error> for CliError {
    fn from(e: sangja::Error) -> Self {
        CliError::Runtime(e)
    }
}

impl CliError {
    /// The exit code for this error: 255 when `exec` could not start its process (as runc), else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Failed { verb: "exec", .. } => 255,
            _ => 1,
        }
    }

    /// Prefix a library error with `sangja <verb> failed: ` as runc does for `create` and `run`.
    pub fn failed(verb: &'static str) -> impl FnOnce(CliError) -> CliError {
        move |e| match e {
            CliError::Runtime(source) => CliError::Failed { verb, source },
            other => other,
        }
    }
}

impl From<sangja::SignalError> for CliError {
    fn from(e: sangja::SignalError) -> Self {
        CliError::Runtime(sangja::Error::from(e))
    }
}

/// Outcome of a verb: the process exit code, or the error to report (exit 1).
pub type CmdResult = Result<i32, CliError>;

/// Write `text` to stdout and flush (the process exits without running destructors).
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::Message(format!("write stdout: {}", os_error(&e))))
}

/// `path` made absolute against the current directory, as runc does for its path flags, so the
/// library may change directory without changing what a relative flag names.
pub fn absolute(path: &Path) -> Result<PathBuf, CliError> {
    std::path::absolute(path)
        .map_err(|e| CliError::Message(format!("abs {}: {}", path.display(), os_error(&e))))
}

/// An OS error worded as Go prints it (`no such file or directory`), which is what clients and
/// people comparing with runc expect; other errors as they are.
pub fn os_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let desc = nix::errno::Errno::from_raw(code).desc();
            let mut chars = desc.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => e.to_string(),
            }
        }
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_prefixed_like_runcs() {
        let e =
            |verb| CliError::failed(verb)(CliError::Runtime(sangja::Error::NotExist)).to_string();
        assert_eq!(
            e("create"),
            "sangja create failed: container does not exist"
        );
        assert_eq!(e("run"), "sangja run failed: container does not exist");
        assert_eq!(e("exec"), "exec failed: container does not exist");
    }

    #[test]
    fn os_errors_read_like_go() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(os_error(&e), "no such file or directory");
        let e = std::io::Error::from_raw_os_error(libc::EPERM);
        assert_eq!(os_error(&e), "operation not permitted");
    }

    #[test]
    fn error_text_is_the_library_text() {
        assert_eq!(
            CliError::from(sangja::Error::NotExist).to_string(),
            "container does not exist"
        );
        let e = sangja::parse_signal("FOO").err().map(CliError::from);
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("unknown signal \"FOO\"")
        );
    }

    #[test]
    fn create_and_run_errors_are_prefixed() {
        let e = CliError::failed("create")(CliError::from(sangja::Error::AlreadyExists));
        assert_eq!(
            e.to_string(),
            "sangja create failed: container with given ID already exists"
        );
        let e = CliError::failed("run")(CliError::Message("x".into()));
        assert_eq!(e.to_string(), "x");
    }

    #[test]
    fn relative_paths_become_absolute() {
        let p = absolute(Path::new("x/y")).ok();
        assert!(p.is_some_and(|p| p.is_absolute() && p.ends_with("x/y")));
    }
}
