//! `kill ID [SIGNAL] [--all]`: send a signal (default SIGTERM) to the init, or with `--all` to
//! every process of the container.
use sangja::parse_signal;
use sangja::Container;

use super::{CmdResult, Ctx};
use crate::cli::KillArgs;

/// Run `kill`.
pub fn run(ctx: &Ctx, args: &KillArgs) -> CmdResult {
    let container = Container::load(&ctx.root, &args.id)?;
    let signal = parse_signal(&args.signal)?;
    container.kill(signal, args.all)?;
    Ok(0)
}
