//! `state ID`: print the container's state JSON, indented by two spaces and without a trailing
//! newline, exactly as runc prints it (`json.MarshalIndent` written as is).
use sangja::Container;

use crate::cli::IdArg;
use crate::context::{print, CliError, CmdResult, Ctx};

/// Run `state`.
pub fn run(ctx: &Ctx, args: &IdArg) -> CmdResult {
    let container = Container::load(&ctx.root, &args.id)?;
    let text = serde_json::to_string_pretty(&container.state())
        .map_err(|e| CliError::Message(format!("marshal state: {e}")))?;
    print(&text)?;
    Ok(0)
}
