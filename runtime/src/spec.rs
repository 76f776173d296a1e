//! ② Load config.json: [`parse`] the text (every error names the JSON path of the offending
//! field, `process.args`, `mounts[3].destination`, so a user can fix the bundle without guessing),
//! the runtime-spec versions accepted, and [`SpecError`]. The checks of a parsed spec are in
//! [`validate`](mod@validate) (`linux.sysctl` in `sysctl`, the fields sangja does not apply in
//! `unsupported`); the parser every JSON document the user writes goes through is [`json`].
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use json::escape_controls;

pub(crate) mod json;
mod sysctl;
mod unsupported;
mod validate;

pub(crate) use validate::lexical_clean;
pub use validate::{validate, validate_process};

/// The runtime-spec version sangja implements and reports (`ociVersion` in `state`, `spec:` in
/// `--version`).
pub const OCI_VERSION: &str = "1.2.0";

/// A bundle or config.json problem.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The bundle directory is missing or unusable.
    #[error("bundle {}: {source}", path.display())]
    Bundle {
        /// The bundle path as given.
        path: PathBuf,
        /// Why it is unusable.
        source: std::io::Error,
    },
    /// config.json could not be read.
    #[error("read {}: {source}", path.display())]
    Read {
        /// Path of config.json.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// config.json is not valid JSON or a field has the wrong type.
    #[error("{}: {field}: {message}", path.display())]
    Parse {
        /// Path of config.json.
        path: PathBuf,
        /// JSON path of the field (`.` for the document).
        field: String,
        /// Parser message.
        message: String,
    },
    /// A field is present and well-typed but invalid or unsupported.
    #[error("config.json: {field}: {message}")]
    Field {
        /// JSON path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl SpecError {
    /// A [`SpecError::Field`] for `field` (control characters escaped: the error is one line).
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> SpecError {
        SpecError::Field {
            field: escape_controls(&field.into()),
            message: escape_controls(&message.into()),
        }
    }
}

/// A C string from `s`, or an error naming `field` when it holds a NUL byte.
pub fn cstr(s: String, field: &str) -> Result<std::ffi::CString, SpecError> {
    std::ffi::CString::new(s).map_err(|_| SpecError::field(field, "contains a NUL byte"))
}

/// Parse config.json text, naming the JSON path of a bad field.
pub fn parse(path: &Path, text: &[u8]) -> Result<Spec, SpecError> {
    let first = json::parse(text, "config.json");
    let result = match &first {
        Err((field, message)) if is_empty_device_type(field, message) => {
            without_empty_device_types(text).map_or(first, |t| json::parse(&t, "config.json"))
        }
        _ => first,
    };
    result.map_err(|(field, message)| SpecError::Parse {
        path: path.to_path_buf(),
        field,
        message,
    })
}

/// Is this oci-spec's refusal of `"type": ""` in `linux.resources.devices`? runc reads an
/// empty type as `a` (all devices), and configs written by hand or by tools carry it.
fn is_empty_device_type(field: &str, message: &str) -> bool {
    field.starts_with("linux.resources.devices[")
        && field.ends_with("].type")
        && message.starts_with("unknown variant ``")
}

/// The config with every empty device rule type dropped (so it defaults to `a`), or `None`
/// when it is not an object of that shape. Only a config that failed on such a type is read
/// twice, so the common parse stays one pass.
fn without_empty_device_types(text: &[u8]) -> Option<Vec<u8>> {
    let mut doc: serde_json::Value = serde_json::from_slice(text).ok()?;
    let rules = doc
        .pointer_mut("/linux/resources/devices")?
        .as_array_mut()?;
    for rule in rules
        .iter_mut()
        .filter_map(serde_json::Value::as_object_mut)
    {
        if rule.get("type").and_then(serde_json::Value::as_str) == Some("") {
            rule.remove("type");
        }
    }
    serde_json::to_vec(&doc).ok()
}

/// The runtime-spec versions accepted: 1.0.0 through 1.3.x.
fn check_version(v: &str) -> Result<(), SpecError> {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let nums: Option<Vec<u32>> = parts.iter().map(|p| p.parse().ok()).collect();
    match nums.as_deref() {
        Some([1, minor, _]) if *minor <= 3 => Ok(()),
        _ => Err(SpecError::field(
            "ociVersion",
            format!("unsupported version {v:?} (sangja accepts 1.0.0 through 1.3.x)"),
        )),
    }
}

#[cfg(test)]
mod tests;
