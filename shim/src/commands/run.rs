//! `run ID [create's flags] [--detach] [--keep] [--no-subreaper]`: `create` then `start`; in the
//! foreground, wait for the container and exit with its code, deleting it unless `--keep`.
use super::create;
use crate::cli::RunArgs;
use crate::context::{CliError, CmdResult, Ctx};

/// Run `run`; errors read `sangja run failed: …`, as runc's `runc run failed: …`.
pub fn run(ctx: &Ctx, args: &RunArgs) -> CmdResult {
    run_container(ctx, args).map_err(CliError::failed("run"))
}

/// create, start, and in the foreground wait and delete.
fn run_container(ctx: &Ctx, args: &RunArgs) -> CmdResult {
    let mut container = create::create(ctx, &args.create, !args.detach)?;
    ctx.write_trace("create", &container);
    if let Err(e) = container.start() {
        // As runc: a container that could not start is not left behind.
        if let Err(cleanup) = container.delete(true) {
            ::log::warn!("delete after failed start: {cleanup}");
        }
        return Err(e.into());
    }
    ctx.write_trace("start", &container);
    if args.detach {
        return Ok(0);
    }
    let code = container.wait_forwarding_signals()?;
    if !args.keep {
        container.delete(true)?;
    }
    Ok(code)
}
