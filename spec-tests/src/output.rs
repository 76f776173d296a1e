//! The result of one runtime command and assertions on it.

use std::fmt;

/// Exit code and captured output of one command.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub cmdline: String,
    /// Exit code; `128 + signal` if the command was killed by a signal.
    pub code: i32,
    /// Everything written to stdout (including by the container, for `run`).
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline, self.code, self.stdout, self.stderr
        )
    }
}

impl Output {
    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Asserts exit code 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "expected success:\n{self}");
        self
    }

    /// Asserts a non-zero exit code.
    #[track_caller]
    pub fn failed(&self) -> &Self {
        assert!(!self.success(), "expected failure:\n{self}");
        self
    }

    /// The non-empty lines of stderr.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Asserts failure with exactly one line on stderr that contains `needle`.
    #[track_caller]
    pub fn assert_error(&self, needle: &str) -> &Self {
        self.failed();
        let lines = self.error_lines();
        assert_eq!(
            lines.len(),
            1,
            "expected a one-line error containing {needle:?}:\n{self}"
        );
        assert!(
            lines[0].contains(needle),
            "error does not contain {needle:?}:\n{self}"
        );
        self
    }

    /// Like [`Output::assert_error`], comparing case-insensitively.
    #[track_caller]
    pub fn assert_error_ci(&self, needle: &str) -> &Self {
        self.failed();
        let lines = self.error_lines();
        assert_eq!(
            lines.len(),
            1,
            "expected a one-line error containing {needle:?}:\n{self}"
        );
        assert!(
            lines[0].to_lowercase().contains(&needle.to_lowercase()),
            "error does not contain {needle:?} (any case):\n{self}"
        );
        self
    }

    /// Asserts failure and that stderr contains `needle` (on any line).
    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        self.failed();
        assert!(
            self.stderr.contains(needle),
            "stderr does not contain {needle:?}:\n{self}"
        );
        self
    }
}
