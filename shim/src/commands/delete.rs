//! `delete ID [--force]`: remove a container's resources. As runc, `--force` on an id with no
//! (complete) state succeeds and undoes whatever a failed or killed `create` left, because
//! containerd and podman call `delete --force` to clean up after exactly such failures.
use sangja::Container;

use crate::cli::DeleteArgs;
use crate::context::{CmdResult, Ctx};

/// Run `delete`.
pub fn run(ctx: &Ctx, args: &DeleteArgs) -> CmdResult {
    if args.force {
        Container::force_delete(&ctx.root, &args.id)?;
    } else {
        Container::load(&ctx.root, &args.id)?.delete(false)?;
    }
    Ok(0)
}
