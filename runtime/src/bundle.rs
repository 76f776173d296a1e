//! ① The bundle: read `config.json` once (or take a spec held in memory), resolve the bundle
//! and `root.path` to absolute paths.
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::spec::SpecError;

/// A parsed (not yet validated) bundle.
#[derive(Debug)]
pub struct Bundle {
    /// Absolute, canonical bundle directory.
    pub dir: PathBuf,
    /// Absolute, canonical root filesystem.
    pub rootfs: PathBuf,
    /// The parsed config.json.
    pub spec: Spec,
}

impl Bundle {
    /// Read `<dir>/config.json` and resolve `root.path` against the bundle.
    pub fn load(dir: &Path) -> Result<Bundle, SpecError> {
        let dir = canonical_dir(dir)?;
        let config = dir.join("config.json");
        let text = std::fs::read(&config).map_err(|source| SpecError::Read {
            path: config.clone(),
            source,
        })?;
        let spec = crate::spec::parse(&config, &text)?;
        Bundle::resolve(dir, spec)
    }

    /// A bundle of a spec held in memory: `root.path` (and every relative path of the spec)
    /// resolves against `dir`, which must exist, as a bundle directory's config would.
    pub fn new(dir: &Path, spec: Spec) -> Result<Bundle, SpecError> {
        Bundle::resolve(canonical_dir(dir)?, spec)
    }

    /// Resolve `root.path` against the (canonical) bundle directory.
    fn resolve(dir: PathBuf, spec: Spec) -> Result<Bundle, SpecError> {
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| SpecError::field("root", "is required"))?;
        if root.path().as_os_str().is_empty() {
            return Err(SpecError::field("root.path", "must not be empty"));
        }
        let joined = dir.join(root.path());
        let rootfs = std::fs::canonicalize(&joined)
            .map_err(|e| SpecError::field("root.path", format!("{}: {e}", joined.display())))?;
        // As runc: the rootfs is named by its real path (the bundle directory, resolved above,
        // may be reached through a symlink; `root.path` below it may not), so that what was
        // checked here and what the init opens are the same directory, not wherever a link
        // points by then.
        if rootfs != crate::spec::lexical_clean(&joined) {
            return Err(SpecError::field(
                "root.path",
                format!(
                    "{} is or goes through a symlink (to {}): name the directory itself \
                     (runc: \"invalid rootfs: not an absolute path, or a symlink\")",
                    joined.display(),
                    rootfs.display()
                ),
            ));
        }
        if !rootfs.is_dir() {
            return Err(SpecError::field(
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ));
        }
        Ok(Bundle { dir, rootfs, spec })
    }
}

/// The bundle directory's canonical path; it must be a directory.
fn canonical_dir(dir: &Path) -> Result<PathBuf, SpecError> {
    let canonical = std::fs::canonicalize(dir).map_err(|source| SpecError::Bundle {
        path: dir.to_path_buf(),
        source,
    })?;
    if !canonical.is_dir() {
        return Err(SpecError::Bundle {
            path: canonical,
            source: std::io::Error::from_raw_os_error(libc::ENOTDIR),
        });
    }
    Ok(canonical)
}
