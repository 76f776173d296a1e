//! `delete ID [--force]`: remove a container's resources. As runc, `--force` on an id with no
//! (complete) state succeeds and removes whatever state directory a failed `create` left, because
//! containerd and podman call `delete --force` to clean up after exactly such failures.
use std::io::ErrorKind;

use sangja::{Container, Error};

use super::{os_error, CliError, CmdResult, Ctx};
use crate::cli::DeleteArgs;

/// Run `delete`.
pub fn run(ctx: &Ctx, args: &DeleteArgs) -> CmdResult {
    match Container::load(&ctx.root, &args.id) {
        Ok(container) => container.delete(args.force)?,
        Err(Error::NotExist) if args.force => remove_leftover(ctx, &args.id)?,
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}

/// Remove `<root>/<id>` if a half-created container left it; an absent directory is fine.
fn remove_leftover(ctx: &Ctx, id: &str) -> Result<(), CliError> {
    if !valid_id(id) {
        // Never join an unchecked id onto the root (`..` would name the root's parent).
        return Ok(());
    }
    let dir = ctx.root.join(id);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CliError::Message(format!(
            "remove {}: {}",
            dir.display(),
            os_error(&e)
        ))),
    }
}

/// runc's id rule: `[A-Za-z0-9_+.-]+`, not `.` or `..`.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+.-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "abc-1.2_3+x", "..a"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn leftover_dir_is_removed_and_absence_is_fine() {
        let root = std::env::temp_dir().join(format!("sangja-delete-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(root.join("c1"));
        let ctx = Ctx {
            root: root.clone(),
            systemd_cgroup: false,
            trace: None,
        };
        assert!(remove_leftover(&ctx, "c1").is_ok());
        assert!(!root.join("c1").exists());
        assert!(remove_leftover(&ctx, "c1").is_ok());
        assert!(remove_leftover(&ctx, "..").is_ok());
        assert!(root.exists());
        let _ = std::fs::remove_dir_all(&root);
    }
}
