//! `start ID`: release a created container's init, which then executes the user process.
use sangja::Container;

use crate::cli::IdArg;
use crate::context::{CmdResult, Ctx};

/// Run `start`.
pub fn run(ctx: &Ctx, args: &IdArg) -> CmdResult {
    let mut c = Container::load(&ctx.root, &args.id)?;
    if ctx.trace.is_some() {
        c.enable_trace();
    }
    c.start()?;
    ctx.write_trace("start", &c);
    Ok(0)
}
