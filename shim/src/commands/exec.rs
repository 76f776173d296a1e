//! `exec [flags] ID CMD...` / `exec --process FILE ID`: run a new process in a running container.
//! Without `--detach` waits and exits with the process's status; a process that cannot be started
//! exits 255 with the reason, as runc.
use sangja::{Container, ExecArgs as LibExecArgs, ExecOptions};

use crate::cli::ExecArgs;
use crate::context::{absolute, CliError, CmdResult, Ctx};

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
        listen_fds: crate::context::listen_fds(),
        ..ExecOptions::default()
    };
    let proc = container
        .exec(&process, &opts)
        .map_err(|e| name_flag(e, args))?;
    if args.detach {
        return Ok(0);
    }
    Ok(proc.wait_forwarding_signals()?)
}

/// A refused process field, named as the user gave it: the flag (`--cwd`), or the field of the
/// `--process` file; never `config.json`, which `exec` does not read.
fn name_flag(e: sangja::Error, args: &ExecArgs) -> CliError {
    let sangja::Error::Spec(sangja::SpecError::Field { field, message }) = &e else {
        return e.into();
    };
    let Some(rest) = field.strip_prefix("process") else {
        return e.into();
    };
    let named = match &args.process {
        Some(file) => format!("{}: {}", file.display(), rest.trim_start_matches('.')),
        None => flag_of(rest).to_string(),
    };
    CliError::Runtime(sangja::Error::Usage(format!("{named}: {message}")))
}

/// The `exec` flag that sets `process<rest>` (`.cwd` → `--cwd`).
fn flag_of(rest: &str) -> &str {
    let top = rest
        .trim_start_matches('.')
        .split(['.', '['])
        .next()
        .unwrap_or("");
    match top {
        "cwd" => "--cwd",
        "env" => "--env",
        "args" => "the command",
        "user" if rest.contains("additionalGids") => "--additional-gids",
        "user" => "--user",
        "capabilities" => "--cap",
        "apparmorProfile" => "--apparmor",
        "selinuxLabel" => "--process-label",
        "noNewPrivileges" => "--no-new-privs",
        "terminal" => "--tty",
        _ => rest.trim_start_matches('.'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_named_by_their_flags() {
        assert_eq!(flag_of(".cwd"), "--cwd");
        assert_eq!(flag_of(".env[2]"), "--env");
        assert_eq!(flag_of(".user.uid"), "--user");
        assert_eq!(flag_of(".user.additionalGids[0]"), "--additional-gids");
        assert_eq!(flag_of(".rlimits[0]"), "rlimits[0]");
    }

    #[test]
    fn users() {
        assert!(matches!(parse_user("1000"), Ok((1000, None))));
        assert!(matches!(parse_user("1000:5"), Ok((1000, Some(5)))));
        assert!(parse_user("bob").is_err());
    }
}
