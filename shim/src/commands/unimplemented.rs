//! Verbs parsed but not implemented yet: `exec`, `pause`, `resume`, `ps`, `update`, `events`,
//! `checkpoint`, `restore`, `features`. They fail with one clear line instead of a usage error, so
//! a client's log says what is missing.
use crate::context::{CliError, CmdResult};

/// Refuse `verb`.
pub fn run(verb: &str) -> CmdResult {
    Err(CliError::Message(format!("{verb} is not implemented yet")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_the_verb() {
        let e = super::run("exec").err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("exec is not implemented yet"));
    }
}
