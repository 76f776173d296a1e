//! `kill ID [SIGNAL] [--all]`: send a signal (default SIGTERM) to the init, or with `--all` to
//! every process of the container.
use sangja::parse_signal;
use sangja::Container;

use crate::cli::KillArgs;
use crate::context::{CmdResult, Ctx};

/// Run `kill`.
pub fn run(ctx: &Ctx, args: &KillArgs) -> CmdResult {
    let container = Container::load(&ctx.root, &args.id)?;
    let signal = parse_signal(&args.signal)?;
    container.kill(signal, args.all)?;
    Ok(0)
}
