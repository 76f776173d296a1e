//! `sangja`: the runc-compatible command line of the sangja runtime.
//!
//! This binary only parses flags, sets up logging and calls the `sangja` library; containers are
//! created, started and torn down there. It stays single-threaded, because the library clones the
//! container init from this process and a clone of a multi-threaded process may not allocate.
//!
//! Exit codes, as runc: 0 on success; 1 on any error (logged at error level and, when the log
//! does not already go to stderr, printed as one line on stderr); 1 on a usage error and 3 on an
//! unknown verb (urfave/cli's quirk, kept for scripts); `run` in the foreground exits with the
//! container's code.
use std::ffi::OsString;

use ::log::LevelFilter;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

mod cli;
mod commands;
mod context;
mod log;

use crate::cli::Cli;
use crate::context::Ctx;
use crate::log::{Format, Logger};

fn main() {
    // Non-dumpable from the first instruction of main: nothing can open /proc/<our pid>/exe (the
    // runtime binary) or ptrace us from a container we enter. A `#!/proc/self/exe` image file
    // still makes the kernel run this binary in the container: `protect_binary` makes sure that
    // is a read-only view of it (CVE-2019-5736).
    let _ = nix::sys::prctl::set_dumpable(false);
    let code = run(std::env::args_os());
    std::process::exit(code);
}

/// The whole program, returning the exit code.
fn run(argv: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    if cli.version {
        return print_or_fail(&version_text());
    }
    let logger = match setup_logging(&cli) {
        Ok(logger) => logger.install(),
        Err(msg) => {
            // As runc: a bad --log or --log-format is reported on stderr in the text format.
            Logger::stderr(Format::Text, LevelFilter::Info).install();
            ::log::error!("{msg}");
            return 1;
        }
    };
    let Some(command) = cli.command else {
        return match Cli::command().print_help() {
            Ok(()) => 0,
            Err(_) => 1,
        };
    };
    let root = cli.root.clone().unwrap_or_else(sangja::default_root);
    let result = std::path::absolute(&root)
        .map_err(|e| {
            context::CliError::Message(format!("abs {}: {}", root.display(), context::os_error(&e)))
        })
        .and_then(|root| {
            protect_binary(&command)?;
            commands::dispatch(
                &Ctx {
                    root,
                    systemd_cgroup: cli.systemd_cgroup,
                    rootless: match cli.rootless.as_str() {
                        "true" => sangja::Rootless::True,
                        "false" => sangja::Rootless::False,
                        _ => sangja::Rootless::Auto,
                    },
                    trace: cli.trace.clone().filter(|p| !p.as_os_str().is_empty()),
                },
                command,
            )
        });
    match result {
        Ok(code) => code,
        Err(e) => {
            ::log::error!("{e}");
            if !logger.is_stderr() {
                eprintln!("{e}");
            }
            e.exit_code()
        }
    }
}

/// Commands that put a process into a container run from a write-protected view of this binary
/// (re-executing once if needed), so that a container can never write it through
/// `/proc/<pid>/exe` (CVE-2019-5736; see `sangja::exe`). The others never enter a container.
fn protect_binary(command: &cli::Command) -> Result<(), context::CliError> {
    match command {
        cli::Command::Create(_) | cli::Command::Run(_) | cli::Command::Exec(_) => {
            sangja::exe::ensure_sealed().map_err(|e| context::CliError::Message(e.to_string()))
        }
        _ => Ok(()),
    }
}

/// The logger the global flags ask for.
fn setup_logging(cli: &Cli) -> Result<Logger, String> {
    let format = Format::parse(&cli.log_format)?;
    let level = if cli.debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    match &cli.log {
        Some(path) if !path.as_os_str().is_empty() => Logger::file(path, format, level),
        _ => Ok(Logger::stderr(format, level)),
    }
}

/// `-v` / `--version`: three lines, the first and last of which tools parse.
fn version_text() -> String {
    format!(
        "sangja version {}\ncommit: {}\nspec: {}\n",
        env!("CARGO_PKG_VERSION"),
        option_env!("SANGJA_COMMIT").unwrap_or("unknown"),
        sangja::OCI_VERSION
    )
}

/// Print `text` to stdout: exit 0, or 1 when stdout is gone.
fn print_or_fail(text: &str) -> i32 {
    match context::print(text) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// Report a clap error (or print help/version it produced) and choose the exit code like runc.
fn usage_error(e: &clap::Error) -> i32 {
    // Printing can only fail when stderr/stdout is gone; the exit code still tells.
    let _ = e.print();
    usage_exit_code(e.kind())
}

/// runc's exit code for a parse outcome: 0 for help, 3 for an unknown verb, else 1.
fn usage_exit_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
        ErrorKind::InvalidSubcommand => 3,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("sangja")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn version_has_three_lines() {
        let text = version_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            format!("sangja version {}", env!("CARGO_PKG_VERSION"))
        );
        assert!(lines[1].starts_with("commit: "));
        assert_eq!(lines[2], format!("spec: {}", sangja::OCI_VERSION));
    }

    #[test]
    fn usage_exit_codes() {
        let code = |args: &[&str]| match Cli::try_parse_from(argv(args)) {
            Ok(_) => 0,
            Err(e) => usage_exit_code(e.kind()),
        };
        assert_eq!(code(&["bogus"]), 3);
        assert_eq!(code(&["--bogus", "list"]), 1);
        assert_eq!(code(&["create"]), 1);
        assert_eq!(code(&["kill", "--help"]), 0);
    }

    #[test]
    fn log_flags() {
        let cli = match Cli::try_parse_from(argv(&["--log-format", "xml", "list"])) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            setup_logging(&cli).err().as_deref(),
            Some("invalid log-format: xml")
        );
        let cli = match Cli::try_parse_from(argv(&["--debug", "list"])) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let logger = setup_logging(&cli).ok();
        assert!(logger.as_ref().is_some_and(Logger::is_stderr));
        assert_eq!(logger.map(|l| l.level()), Some(LevelFilter::Debug));
    }
}
