//! `create ID [--bundle DIR] [--pid-file F] [--console-socket S] [--no-pivot] [--no-new-keyring]
//! [--preserve-fds N]`: set the container up and leave its init waiting for `start`. Prints nothing.
use sangja::{CgroupDriver, Container, CreateOptions};

use crate::cli::CreateArgs;
use crate::context::{absolute, CliError, CmdResult, Ctx};

/// Run `create`.
pub fn run(ctx: &Ctx, args: &CreateArgs) -> CmdResult {
    let c = create(ctx, args, false).map_err(CliError::failed("create"))?;
    ctx.write_trace("create", &c);
    Ok(0)
}

/// Create the container of `args` (shared with `run`, which waits in the `foreground` unless
/// detached).
pub fn create(ctx: &Ctx, args: &CreateArgs, foreground: bool) -> Result<Container, CliError> {
    let mut opts = options(ctx, args)?;
    opts.foreground = foreground;
    opts.trace = ctx.trace.is_some();
    let bundle = absolute(&args.bundle)?;
    Ok(Container::create(&args.id, bundle, &opts)?)
}

/// The library options for `args`, paths made absolute against the caller's directory.
fn options(ctx: &Ctx, args: &CreateArgs) -> Result<CreateOptions, CliError> {
    Ok(CreateOptions {
        root: ctx.root.clone(),
        pid_file: args.pid_file.as_deref().map(absolute).transpose()?,
        console_socket: args.console_socket.as_deref().map(absolute).transpose()?,
        no_pivot: args.no_pivot,
        no_new_keyring: args.no_new_keyring,
        preserve_fds: args.preserve_fds,
        listen_fds: crate::context::listen_fds(),
        foreground: false,
        trace: false,
        cgroup_driver: if ctx.systemd_cgroup {
            CgroupDriver::Systemd
        } else {
            CgroupDriver::Cgroupfs
        },
        rootless: ctx.rootless,
        ..CreateOptions::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn args() -> CreateArgs {
        CreateArgs {
            id: "c1".into(),
            bundle: PathBuf::from("."),
            console_socket: Some(PathBuf::from("/s.sock")),
            pid_file: Some(PathBuf::from("rel.pid")),
            no_pivot: true,
            no_new_keyring: false,
            preserve_fds: 3,
        }
    }

    #[test]
    fn flags_map_to_options() {
        let ctx = Ctx {
            root: PathBuf::from("/r"),
            systemd_cgroup: false,
            rootless: sangja::Rootless::True,
            trace: None,
        };
        let opts = match options(&ctx, &args()) {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(opts.root, PathBuf::from("/r"));
        assert_eq!(opts.console_socket, Some(PathBuf::from("/s.sock")));
        assert!(opts
            .pid_file
            .is_some_and(|p| p.is_absolute() && p.ends_with("rel.pid")));
        assert!(opts.no_pivot && !opts.no_new_keyring);
        assert_eq!(opts.preserve_fds, 3);
        assert_eq!(opts.rootless, sangja::Rootless::True);
    }

    #[test]
    fn systemd_cgroup_picks_the_systemd_driver() {
        let ctx = |systemd_cgroup| Ctx {
            root: PathBuf::from("/r"),
            systemd_cgroup,
            rootless: sangja::Rootless::Auto,
            trace: None,
        };
        let driver = |s| options(&ctx(s), &args()).map(|o| o.cgroup_driver).ok();
        assert_eq!(driver(true), Some(CgroupDriver::Systemd));
        assert_eq!(driver(false), Some(CgroupDriver::Cgroupfs));
    }
}
