//! `start ID`: release a created container's init, which then executes the user process.
use sangja::Container;

use super::{CmdResult, Ctx};
use crate::cli::IdArg;

/// Run `start`.
pub fn run(ctx: &Ctx, args: &IdArg) -> CmdResult {
    Container::load(&ctx.root, &args.id)?.start()?;
    Ok(0)
}
