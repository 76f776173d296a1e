//! `exec [flags] ID CMD...` / `exec --process FILE ID`: run a new process in a running container.
//! Without `--detach` waits and exits with the process's status; a process that cannot be started
//! exits 255 with the reason, as runc.
use sangja::{Container, ExecArgs as LibExecArgs, ExecOptions};

use super::{absolute, CliError, CmdResult, Ctx};
use crate::cli::ExecArgs;

/// Run `exec`.
pub fn run(ctx: &Ctx, args: &ExecArgs) -> CmdResult {
    exec(ctx, args).map_err(CliError::failed("exec"))
}

fn parse_user(u: &str) -> Result<(u32, Option<u32>), CliError> {
    let bad = || CliError::Message(format!("invalid --user {u:?}: expected <uid>[:<gid>]"));
    let (uid, gid) = match u.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (u, None),
    };
    let uid = uid.parse().map_err(|_| bad())?;
    let gid = gid.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

fn exec(ctx: &Ctx, args: &ExecArgs) -> CmdResult {
    if !args.cgroup.is_empty() {
        return Err(CliError::Message("--cgroup is not supported yet".into()));
    }
    let container = Container::load(&ctx.root, &args.id)?;
    let process = match &args.process {
        Some(file) => sangja::process_from_file(&absolute(file)?)?,
        None => {
            if args.command.is_empty() {
                return Err(CliError::Message(
                    "exec: a command is required (or --process FILE)".into(),
                ));
            }
            container.exec_process(&LibExecArgs {
                args: args.command.clone(),
                env: args.env.clone(),
                cwd: args.cwd.clone(),
                user: args.user.as_deref().map(parse_user).transpose()?,
                additional_gids: args.additional_gids.clone(),
                caps: args.cap.clone(),
                tty: args.tty,
                no_new_privs: args.no_new_privs,
                apparmor: args.apparmor.clone(),
                process_label: args.process_label.clone(),
            })?
        }
    };
    let opts = ExecOptions {
        detach: args.detach,
        pid_file: args.pid_file.as_deref().map(absolute).transpose()?,
        console_socket: args.console_socket.as_deref().map(absolute).transpose()?,
        preserve_fds: args.preserve_fds,
        ignore_paused: args.ignore_paused,
        listen_fds: super::listen_fds(),
    };
    let proc = container.exec(&process, &opts)?;
    if args.detach {
        return Ok(0);
    }
    Ok(proc.wait()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users() {
        assert!(matches!(parse_user("1000"), Ok((1000, None))));
        assert!(matches!(parse_user("1000:5"), Ok((1000, Some(5)))));
        assert!(parse_user("bob").is_err());
    }
}
