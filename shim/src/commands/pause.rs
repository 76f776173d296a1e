//! `pause ID` and `resume ID`: freeze and thaw every process of the container (its cgroup's
//! freezer). `state` then says `paused`, and `running` again after `resume`.
use sangja::Container;

use crate::cli::IdArg;
use crate::context::{CmdResult, Ctx};

/// Run `pause`.
pub fn pause(ctx: &Ctx, args: &IdArg) -> CmdResult {
    Container::load(&ctx.root, &args.id)?.pause()?;
    Ok(0)
}

/// Run `resume`.
pub fn resume(ctx: &Ctx, args: &IdArg) -> CmdResult {
    Container::load(&ctx.root, &args.id)?.resume()?;
    Ok(0)
}
