//! ① JSON documents the user writes (config.json, `exec --process`, `update --resources`) parsed
//! with the JSON path of a bad field, and the parser's message put in the config's own terms:
//! the field that is missing is named as a path, and no Rust type or crate-internal wording
//! (`struct PosixRlimit`, `no variant for CAP_FOO (converted to FOO)`) reaches the user.
use serde::de::DeserializeOwned;

/// Parse `text`; on failure, the JSON path of the bad field (`.` for the document itself) and
/// what is wrong with it. A field the document's type does not know is dropped, as runc drops
/// it, but not silently: once the parse succeeds, each gets a warning naming `doc` and its path
/// (`config.json: process.commandLine: ...`), so a misspelt or newer field is noticed.
pub(crate) fn parse<T: DeserializeOwned>(text: &[u8], doc: &str) -> Result<T, (String, String)> {
    let de = &mut serde_json::Deserializer::from_slice(text);
    let mut ignored = Vec::new();
    let mut note = |p: serde_ignored::Path<'_>| ignored.push(dotted(&p));
    let tracked = serde_ignored::Deserializer::new(de, &mut note);
    let value = serde_path_to_error::deserialize(tracked).map_err(|e| {
        // Keys and bad values are quoted as written: escape control characters, so that the
        // error stays one line. serde_json appends " at line L column C"; keep it, it helps
        // with malformed JSON.
        let field = escape_controls(&e.path().to_string());
        explain(field, escape_controls(&e.into_inner().to_string()))
    })?;
    for field in ignored {
        log::warn!(
            "{doc}: {}: is not a field sangja knows; ignored",
            escape_controls(&field)
        );
    }
    Ok(value)
}

/// A path the way errors name fields: `mounts[3].options`, `linux.sysctl.vm.swappiness`.
fn dotted(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match p {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", dotted(parent)),
        Path::Map { parent, key } => match dotted(parent) {
            up if up.is_empty() => key.to_string(),
            up => format!("{up}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => dotted(parent),
    }
}

/// `s` with its control characters escaped (a newline becomes `\\n`), so that an error quoting an
/// input (a JSON key in a field path, serde's echo of a bad value) stays on one line.
pub(crate) fn escape_controls(s: &str) -> String {
    if !s.contains(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Rewrite a serde message about `field` into the config's terms.
fn explain(field: String, message: String) -> (String, String) {
    // "missing field `uid` at line 1 column 9" → field `process.user.uid`, "is required ...".
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some((name, tail)) = rest.split_once('`') {
            let field = if field == "." {
                name.to_string()
            } else {
                format!("{field}.{name}")
            };
            return (field, format!("is required{tail}"));
        }
    }
    // oci-spec's capability parser: "no variant for CAP_FOO (converted to FOO)" (runc says
    // `unknown capability "CAP_FOO"`).
    if let Some(rest) = message.strip_prefix("no variant for ") {
        if let Some((name, tail)) = rest.split_once(" (converted to ") {
            let tail = tail.split_once(')').map(|t| t.1).unwrap_or("");
            return (field, format!("unknown capability {name:?}{tail}"));
        }
    }
    (field, plain_types(&message))
}

/// `expected struct LinuxNamespace` → `expected an object`; Rust integer types in words.
fn plain_types(message: &str) -> String {
    let mut out = message.to_string();
    if let Some(i) = out.find("expected struct ") {
        let end = out[i + 16..]
            .find(|c: char| !c.is_alphanumeric() && c != '_')
            .map_or(out.len(), |e| i + 16 + e);
        out.replace_range(i..end, "expected an object");
    }
    for (ty, words) in [
        ("u8", "an integer from 0 to 255"),
        ("u16", "an integer from 0 to 65535"),
        ("u32", "an integer from 0 to 4294967295"),
        ("u64", "a non-negative integer"),
        ("i32", "a 32-bit integer"),
        ("i64", "an integer"),
    ] {
        for end in [" at ", ""] {
            let pat = format!("expected {ty}{end}");
            if out.contains(&pat) && (!end.is_empty() || out.ends_with(&pat)) {
                out = out.replacen(&pat, &format!("expected {words}{end}"), 1);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err<T: DeserializeOwned + std::fmt::Debug>(text: &str) -> (String, String) {
        parse::<T>(text.as_bytes(), "test.json").expect_err(text)
    }

    #[test]
    fn ignored_fields_are_named_as_errors_name_fields() {
        use oci_spec::runtime::Spec;
        let text = br#"{"ociVersion":"1.0.0","process":{"cwd":"/","user":{"uid":0,"gid":0},
            "commandLin":"x"},"mounts":[{"destination":"/a"},{"destination":"/b","optons":[]}]}"#;
        let de = &mut serde_json::Deserializer::from_slice(text);
        let mut seen = Vec::new();
        let _: Spec = serde_ignored::deserialize(de, |p| seen.push(dotted(&p))).expect("parses");
        assert_eq!(seen, ["process.commandLin", "mounts[1].optons"]);
        assert!(parse::<Spec>(text, "config.json").is_ok());
    }

    /// The configs docker, podman, runc and sangja write have no field sangja drops (so no
    /// warning is printed for a client's ordinary container).
    #[test]
    fn clients_configs_have_no_ignored_field() {
        use oci_spec::runtime::Spec;
        for (name, text) in [
            (
                "docker-default",
                include_str!("../../../fuzz/corpus/config/docker-default.json"),
            ),
            (
                "docker-privileged",
                include_str!("../../../fuzz/corpus/config/docker-privileged.json"),
            ),
            (
                "docker-resources",
                include_str!("../../../fuzz/corpus/config/docker-resources.json"),
            ),
            (
                "podman-default",
                include_str!("../../../fuzz/corpus/config/podman-default.json"),
            ),
            (
                "podman-resources",
                include_str!("../../../fuzz/corpus/config/podman-resources.json"),
            ),
            (
                "runc-spec",
                include_str!("../../../fuzz/corpus/config/runc-spec.json"),
            ),
            (
                "sangja-spec",
                include_str!("../../../fuzz/corpus/config/sangja-spec.json"),
            ),
        ] {
            let de = &mut serde_json::Deserializer::from_str(text);
            let mut seen = Vec::new();
            let parsed: Result<Spec, _> = serde_ignored::deserialize(de, |p| seen.push(dotted(&p)));
            assert!(parsed.is_ok(), "{name}: {parsed:?}");
            assert_eq!(seen, Vec::<String>::new(), "{name}");
        }
    }

    #[test]
    fn messages_use_the_configs_terms() {
        use oci_spec::runtime::{LinuxCapabilities, Process, Spec};
        let (f, m) = err::<Process>(r#"{"cwd": "/"}"#);
        assert_eq!(f, "user");
        assert!(m.starts_with("is required at line 1"), "{m}");
        let (f, m) = err::<Spec>(r#"{"ociVersion":"1.0.0","process":{"cwd":"/"}}"#);
        assert_eq!((f.as_str(), &m[..11]), ("process.user", "is required"));
        let (f, m) = err::<LinuxCapabilities>(r#"{"bounding":["CAP_CHOWN","CAP_FOO"]}"#);
        assert_eq!(f, "bounding[1]");
        assert!(
            m.starts_with(r#"unknown capability "CAP_FOO" at line"#),
            "{m}"
        );
        let (f, m) = err::<Process>(r#"{"cwd":"/","user":{"uid":0,"gid":0},"rlimits":["x"]}"#);
        assert_eq!(f, "rlimits[0]");
        assert!(m.contains("expected an object at line"), "{m}");
        let (_, m) = err::<Process>(r#"{"cwd":"/","user":{"uid":-1,"gid":0}}"#);
        assert!(
            m.contains("expected an integer from 0 to 4294967295 at"),
            "{m}"
        );
        for (_, m) in [
            err::<Process>(r#"{"cwd":"/","user":{"uid":"x","gid":0}}"#),
            err::<Spec>(r#"{"ociVersion":"1.0.0","linux":{"namespaces":["pid"]}}"#),
        ] {
            assert!(!m.contains("struct") && !m.contains("u32"), "{m}");
        }
    }
}
