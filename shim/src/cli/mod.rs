//! Command-line surface, shaped like runc's so that containerd, conmon and scripts can call us
//! unchanged: the same global flags (before the verb), the same verbs, and the same per-verb flags,
//! which may also follow the container id (`create ID --bundle B`, `delete ID --force`).
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod update;

pub use update::UpdateArgs;

/// `sangja [global options] command [command options] [arguments...]`
#[derive(Debug, Parser)]
#[command(
    name = "sangja",
    about = "sangja - an OCI container runtime, command-line compatible with runc",
    disable_version_flag = true
)]
pub struct Cli {
    /// root directory for storage of container state (this should be located in tmpfs)
    /// [default: /run/sangja, or $XDG_RUNTIME_DIR/sangja when not root]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// set the log file to write sangja logs to (default is stderr)
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// set the log format ('text' (default), or 'json')
    #[arg(long = "log-format", value_name = "FORMAT", default_value = "text")]
    pub log_format: String,

    /// enable debug logging
    #[arg(long)]
    pub debug: bool,

    /// enable systemd cgroup support, expects cgroupsPath to be of form "slice:prefix:name" for e.g. "system.slice:runc:434234"
    #[arg(long = "systemd-cgroup")]
    pub systemd_cgroup: bool,

    /// path to the criu binary used for checkpoint and restore (accepted, unused)
    #[arg(long, value_name = "PATH", default_value = "criu")]
    pub criu: String,

    /// ignore cgroup permission errors ('true', 'false', or 'auto')
    #[arg(long, value_name = "VALUE", default_value = "auto",
          value_parser = ["true", "false", "auto"])]
    pub rootless: String,

    /// append one JSON line of per-phase timings per create/start to FILE (also: SANGJA_TRACE)
    #[arg(long, value_name = "FILE", env = "SANGJA_TRACE")]
    pub trace: Option<PathBuf>,

    /// print the version
    #[arg(short = 'v', long)]
    pub version: bool,

    /// The verb; without one the help is printed.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The verbs, in runc's order.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// checkpoint a running container (not implemented yet)
    Checkpoint(Loose),
    /// create a container
    Create(CreateArgs),
    /// delete any resources held by the container often used with detached container
    Delete(DeleteArgs),
    /// display container events such as OOM notifications, cpu, memory, and IO usage statistics
    Events(EventsArgs),
    /// execute new process inside the container
    Exec(Box<ExecArgs>),
    /// kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill(KillArgs),
    /// lists containers started by sangja with the given root
    List(ListArgs),
    /// pause suspends all processes inside the container
    Pause(IdArg),
    /// ps displays the processes running inside a container
    Ps(PsArgs),
    /// restore a container from a previous checkpoint (not implemented yet)
    Restore(Loose),
    /// resumes all processes that have been previously paused
    Resume(IdArg),
    /// create and run a container
    Run(RunArgs),
    /// create a new specification file
    Spec(SpecArgs),
    /// executes the user defined process in a created container
    Start(IdArg),
    /// output the state of a container
    State(IdArg),
    /// update container resource constraints
    Update(Box<UpdateArgs>),
    /// show the enabled features (takes no arguments, as runc; `Loose` so that the refusal is
    /// runc's one line rather than a usage error)
    Features(Loose),
}

/// A verb whose only argument is the container id (`start`, `state`).
#[derive(Debug, Args)]
pub struct IdArg {
    /// the container id
    #[arg(value_name = "container-id")]
    pub id: String,
}

/// Flags shared by `create` and `run`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// the container id
    #[arg(value_name = "container-id")]
    pub id: String,

    /// path to the root of the bundle directory, defaults to the current directory
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub bundle: PathBuf,

    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,

    /// specify the file to write the process id to
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// do not use pivot root to jail process inside rootfs
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,

    /// do not create a new session keyring for the container
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,

    /// pass N additional file descriptors to the container (stdio + N in total)
    #[arg(long = "preserve-fds", value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
}

/// `run`: create's flags plus the foreground/background choice.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Everything `create` takes.
    #[command(flatten)]
    pub create: CreateArgs,

    /// detach from the container's process
    #[arg(short, long)]
    pub detach: bool,

    /// do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,

    /// disable the use of the subreaper used to reap reparented processes (accepted, unused)
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

/// `kill ID [SIGNAL] [--all]`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// the container id
    #[arg(value_name = "container-id")]
    pub id: String,

    /// signal name or number (KILL, SIGKILL, 9, RTMIN+1)
    #[arg(
        value_name = "signal",
        default_value = "SIGTERM",
        allow_negative_numbers = true
    )]
    pub signal: String,

    /// send the specified signal to all processes inside the container
    #[arg(short, long)]
    pub all: bool,
}

/// `delete ID [--force]`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// the container id
    #[arg(value_name = "container-id")]
    pub id: String,

    /// forcibly deletes the container if it is still running (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
}

/// `list [--format table|json] [--quiet]`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// select one of: table or json
    #[arg(short, long, value_name = "FORMAT", default_value = "table")]
    pub format: String,

    /// display only container IDs
    #[arg(short, long)]
    pub quiet: bool,
}

/// `spec [--bundle DIR] [--rootless]`.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// path to the root of the bundle directory
    #[arg(short, long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,

    /// generate a configuration for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

/// `exec [flags] ID CMD...` or `exec --process FILE ID`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,

    /// current working directory in the container
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,

    /// set environment variables
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,

    /// UID (format: <uid>[:<gid>])
    #[arg(short, long, value_name = "UID[:GID]")]
    pub user: Option<String>,

    /// additional gids
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<u32>,

    /// path to the process.json
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,

    /// detach from the container's process
    #[arg(short, long)]
    pub detach: bool,

    /// specify the file to write the process id to
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// set the asm process label for the process commonly used with selinux
    #[arg(long = "process-label", value_name = "LABEL")]
    pub process_label: Option<String>,

    /// set the apparmor profile for the process
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,

    /// set the no new privileges value for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,

    /// add a capability to the bounding set for the process
    #[arg(short, long = "cap", value_name = "CAP")]
    pub cap: Vec<String>,

    /// pass N additional file descriptors to the container (stdio + N in total)
    #[arg(long = "preserve-fds", value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,

    /// run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.
    #[arg(long, value_name = "CGROUP")]
    pub cgroup: Vec<String>,

    /// allow exec in a paused container
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,

    /// the container id
    #[arg(value_name = "container-id")]
    pub id: String,

    /// the command and its arguments
    #[arg(value_name = "command", num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// A verb not implemented yet: takes any flags and arguments so that the refusal names the verb
/// rather than a flag.
#[derive(Debug, Args)]
pub struct Loose {
    /// Flags and arguments, unparsed.
    #[arg(num_args = 0.., allow_hyphen_values = true, trailing_var_arg = true)]
    pub args: Vec<String>,
}

/// `events` flags.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// the container id
    #[arg(value_name = "container-id")]
    pub id: String,

    /// set the stats collection interval
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub interval: String,

    /// display the container's stats then exit
    #[arg(long)]
    pub stats: bool,
}

/// `ps` flags.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// select one of: table or json
    #[arg(short, long, value_name = "FORMAT", default_value = "table")]
    pub format: String,

    /// the container id
    #[arg(value_name = "container-id")]
    pub id: String,

    /// options passed to ps (default -ef)
    #[arg(
        value_name = "ps options",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub ps_args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Cli {
        let argv = std::iter::once("sangja").chain(args.iter().copied());
        match Cli::try_parse_from(argv) {
            Ok(cli) => cli,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    fn parse_err(args: &[&str]) -> ErrorKind {
        let argv = std::iter::once("sangja").chain(args.iter().copied());
        match Cli::try_parse_from(argv) {
            Ok(cli) => panic!("{args:?} parsed: {cli:?}"),
            Err(e) => e.kind(),
        }
    }

    #[test]
    fn global_defaults() {
        let cli = parse(&["state", "x"]);
        assert_eq!(cli.root, None);
        assert_eq!(cli.log, None);
        assert_eq!(cli.log_format, "text");
        assert!(!cli.debug && !cli.systemd_cgroup && !cli.version);
        assert_eq!(cli.rootless, "auto");
    }

    #[test]
    fn containerd_create_line() {
        let cli = parse(&[
            "--root",
            "/r",
            "--log",
            "/l.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "c1",
        ]);
        assert_eq!(cli.root, Some(PathBuf::from("/r")));
        assert_eq!(cli.log, Some(PathBuf::from("/l.json")));
        assert_eq!(cli.log_format, "json");
        let Some(Command::Create(c)) = cli.command else {
            panic!("not create")
        };
        assert_eq!(c.id, "c1");
        assert_eq!(c.bundle, PathBuf::from("/b"));
        assert_eq!(c.pid_file, Some(PathBuf::from("/p")));
        assert_eq!(c.preserve_fds, 0);
    }

    #[test]
    fn options_after_the_id() {
        let cli = parse(&[
            "create",
            "c1",
            "--bundle",
            "/b",
            "--no-pivot",
            "--preserve-fds",
            "2",
        ]);
        let Some(Command::Create(c)) = cli.command else {
            panic!("not create")
        };
        assert_eq!((c.id.as_str(), c.bundle.to_str()), ("c1", Some("/b")));
        assert!(c.no_pivot && !c.no_new_keyring);
        assert_eq!(c.preserve_fds, 2);

        let cli = parse(&["delete", "c1", "--force"]);
        let Some(Command::Delete(d)) = cli.command else {
            panic!("not delete")
        };
        assert!(d.force);
        assert_eq!(d.id, "c1");

        let cli = parse(&["--log-format=json", "run", "r1", "-d", "-b", "/b", "--keep"]);
        let Some(Command::Run(r)) = cli.command else {
            panic!("not run")
        };
        assert!(r.detach && r.keep && !r.no_subreaper);
        assert_eq!(r.create.bundle, PathBuf::from("/b"));
    }

    #[test]
    fn create_bundle_defaults_to_cwd() {
        let Some(Command::Create(c)) = parse(&["create", "c1"]).command else {
            panic!()
        };
        assert_eq!(c.bundle, PathBuf::from("."));
    }

    #[test]
    fn kill_default_signal_and_all() {
        let Some(Command::Kill(k)) = parse(&["kill", "c1"]).command else {
            panic!()
        };
        assert_eq!((k.signal.as_str(), k.all), ("SIGTERM", false));
        let Some(Command::Kill(k)) = parse(&["kill", "--all", "c1", "9"]).command else {
            panic!()
        };
        assert_eq!((k.signal.as_str(), k.all), ("9", true));
        let Some(Command::Kill(k)) = parse(&["kill", "c1", "KILL", "-a"]).command else {
            panic!()
        };
        assert_eq!((k.signal.as_str(), k.all), ("KILL", true));
        let Some(Command::Kill(k)) = parse(&["kill", "c1", "-9"]).command else {
            panic!()
        };
        assert_eq!(k.signal, "-9");
    }

    #[test]
    fn list_and_spec_flags() {
        let Some(Command::List(l)) = parse(&["list", "-f", "json", "-q"]).command else {
            panic!()
        };
        assert_eq!((l.format.as_str(), l.quiet), ("json", true));
        let Some(Command::Spec(s)) = parse(&["spec", "--rootless", "-b", "/b"]).command else {
            panic!()
        };
        assert!(s.rootless);
        assert_eq!(s.bundle, Some(PathBuf::from("/b")));
    }

    #[test]
    fn unimplemented_verbs_take_anything() {
        let cli = parse(&[
            "exec",
            "--process",
            "/p.json",
            "--detach",
            "--pid-file",
            "/p",
            "--console-socket",
            "/s",
            "c1",
        ]);
        let Some(Command::Exec(l)) = cli.command else {
            panic!("not exec")
        };
        assert_eq!(l.process.as_deref(), Some(std::path::Path::new("/p.json")));
        assert!(l.detach && l.command.is_empty());
        assert_eq!(l.id, "c1");
        assert!(matches!(
            parse(&["update", "--resources", "-", "c1"]).command,
            Some(Command::Update(_))
        ));
        assert!(matches!(
            parse(&["ps", "--format", "json", "c1"]).command,
            Some(Command::Ps(_))
        ));
        assert!(matches!(
            parse(&["pause", "c1"]).command,
            Some(Command::Pause(_))
        ));
        assert!(matches!(
            parse(&["features"]).command,
            Some(Command::Features(_))
        ));
    }

    #[test]
    fn version_and_no_verb() {
        let cli = parse(&["-v"]);
        assert!(cli.version && cli.command.is_none());
        assert!(parse(&["--version"]).version);
        assert!(
            parse(&["--systemd-cgroup", "--criu", "/x", "--rootless", "true"])
                .command
                .is_none()
        );
    }

    #[test]
    fn usage_errors() {
        assert_eq!(parse_err(&["bogus"]), ErrorKind::InvalidSubcommand);
        assert_eq!(parse_err(&["list", "--bogus"]), ErrorKind::UnknownArgument);
        assert_eq!(parse_err(&["create"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(parse_err(&["state", "a", "b"]), ErrorKind::UnknownArgument);
        assert_eq!(
            parse_err(&["kill", "a", "b", "c"]),
            ErrorKind::UnknownArgument
        );
        assert_eq!(
            parse_err(&["--rootless", "maybe", "list"]),
            ErrorKind::InvalidValue
        );
    }
}
