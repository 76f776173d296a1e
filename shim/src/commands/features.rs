//! `features`: print the runtime-spec Features structure of this build, indented by four spaces
//! and ending in a newline, exactly as `runc features` prints it.
use crate::context::{print, CliError, CmdResult};

/// Run `features`. Like runc, it takes no arguments.
pub fn run(args: &[String]) -> CmdResult {
    if !args.is_empty() {
        return Err(CliError::Message(
            "sangja: \"features\" requires exactly 0 argument(s)".into(),
        ));
    }
    print(&sangja::features::features().to_pretty_json())?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn refuses_arguments() {
        let e = super::run(&["x".to_string()]).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("sangja: \"features\" requires exactly 0 argument(s)")
        );
    }
}
