//! One module per verb. Each parses nothing (clap did) and decides nothing about containers (the
//! library does): it maps flags to a library call and the result to output and an exit code.
use crate::cli::Command;
use crate::context::{CmdResult, Ctx};

mod create;
mod delete;
pub(crate) mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
pub(crate) mod ps;
mod run;
mod spec;
mod start;
mod state;
mod unimplemented;
pub(crate) mod update;

/// Run one verb.
pub fn dispatch(ctx: &Ctx, command: Command) -> CmdResult {
    match command {
        Command::Create(args) => create::run(ctx, &args),
        Command::Start(args) => start::run(ctx, &args),
        Command::Run(args) => run::run(ctx, &args),
        Command::State(args) => state::run(ctx, &args),
        Command::Kill(args) => kill::run(ctx, &args),
        Command::Delete(args) => delete::run(ctx, &args),
        Command::List(args) => list::run(ctx, &args),
        Command::Spec(args) => spec::run(&args),
        Command::Checkpoint(_) => unimplemented::run("checkpoint"),
        Command::Events(args) => events::run(ctx, &args),
        Command::Exec(args) => exec::run(ctx, &args),
        Command::Pause(args) => pause::pause(ctx, &args),
        Command::Ps(args) => ps::run(ctx, &args),
        Command::Restore(_) => unimplemented::run("restore"),
        Command::Resume(args) => pause::resume(ctx, &args),
        Command::Update(args) => update::run(ctx, &args),
        Command::Features(args) => features::run(&args.args),
    }
}
