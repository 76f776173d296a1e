//! `spec [--bundle DIR] [--rootless]`: write runc's default `config.json` (our `ociVersion`) into
//! the bundle, refusing to overwrite one.
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::Path;

use crate::cli::SpecArgs;
use crate::context::{os_error, CliError, CmdResult};

/// Run `spec`.
pub fn run(args: &SpecArgs) -> CmdResult {
    let dir = args.bundle.as_deref().unwrap_or(Path::new("."));
    write_spec(dir, &sangja::default_spec(args.rootless))?;
    Ok(0)
}

/// Create `dir/config.json` with `text`; runc's wording when the directory is missing or the
/// file exists.
fn write_spec(dir: &Path, text: &str) -> Result<(), CliError> {
    if let Err(e) = std::fs::read_dir(dir) {
        return Err(CliError::Message(format!(
            "chdir {}: {}",
            dir.display(),
            os_error(&e)
        )));
    }
    let path = dir.join("config.json");
    let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(CliError::Message(
                "File config.json exists. Remove it first".into(),
            ));
        }
        Err(e) => {
            return Err(CliError::Message(format!(
                "open {}: {}",
                path.display(),
                os_error(&e)
            )))
        }
    };
    file.write_all(text.as_bytes())
        .map_err(|e| CliError::Message(format!("write {}: {}", path.display(), os_error(&e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_then_refuses() {
        let dir = std::env::temp_dir().join(format!("sangja-spec-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::remove_file(dir.join("config.json"));
        assert!(write_spec(&dir, "{}").is_ok());
        assert_eq!(
            std::fs::read_to_string(dir.join("config.json"))
                .ok()
                .as_deref(),
            Some("{}")
        );
        let again = write_spec(&dir, "{}").err().map(|e| e.to_string());
        assert_eq!(
            again.as_deref(),
            Some("File config.json exists. Remove it first")
        );
        let _ = std::fs::remove_dir_all(&dir);
        let missing = write_spec(&dir, "{}").err().map(|e| e.to_string());
        assert_eq!(
            missing,
            Some(format!(
                "chdir {}: no such file or directory",
                dir.display()
            ))
        );
    }
}
