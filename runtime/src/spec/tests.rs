//! Unit tests of the parser and the version check (`spec.rs`): empty device rule types, errors
//! that stay one line and name the JSON path, the versions accepted.
use super::*;

/// runc reads `"type": ""` in a device rule as `a`; any other bad type stays refused.
#[test]
fn an_empty_device_rule_type_means_all_devices() {
    let text = |t: &str| {
        format!(
            r#"{{"ociVersion":"1.0.2","linux":{{"resources":{{"devices":[
                {{"allow":false,"type":"{t}","access":"rwm"}}]}}}}}}"#
        )
    };
    let spec = parse(Path::new("config.json"), text("").as_bytes());
    let typ = spec.ok().and_then(|s| {
        let rule = s
            .linux()
            .as_ref()?
            .resources()
            .as_ref()?
            .devices()
            .as_ref()?
            .first()?
            .clone();
        Some(rule.typ())
    });
    assert_eq!(typ, Some(None));
    let e = parse(Path::new("config.json"), text("x").as_bytes()).map(|_| ());
    assert!(
        e.as_ref()
            .is_err_and(|e| e.to_string().contains("linux.resources.devices[0].type")),
        "{e:?}"
    );
}

/// Fuzzing (fuzz/regressions/config/rlimit-type-newline.json): serde quotes a bad enum value and
/// the path quotes map keys verbatim; a newline in either must not split the error.
#[test]
fn parse_error_quoting_a_newline_is_one_line() {
    let bad_value =
        br#"{"ociVersion":"1.0.2","process":{"rlimits":[{"type":"R\n","hard":1,"soft":1}]}}"#;
    let e = parse(Path::new("config.json"), bad_value)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("config.json: process.rlimits[0].type: unknown variant `R\\n`"),
        "{e}"
    );
    let bad_key = br#"{"ociVersion":"1.0.2","annotations":{"a\nb":1}}"#;
    let e = parse(Path::new("config.json"), bad_key)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("config.json: annotations.a\\nb: invalid type"),
        "{e}"
    );
    let e = SpecError::field("linux.sysctl.a\nb", "bad\r").to_string();
    assert_eq!(e, "config.json: linux.sysctl.a\\nb: bad\\r");
}

fn spec_of(json: &str) -> Result<Spec, SpecError> {
    parse(Path::new("config.json"), json.as_bytes())
}

#[test]
fn versions() {
    assert!(check_version("1.0.0").is_ok());
    assert!(check_version("1.0.2-dev").is_ok());
    assert!(check_version("1.3.0").is_ok());
    let e = check_version("2.0.0").unwrap_err().to_string();
    assert!(e.contains("ociVersion"), "{e}");
    assert!(check_version("1.4.0").is_err());
    assert!(check_version("x").is_err());
}

#[test]
fn bad_types_name_the_json_path() {
    let e = spec_of(
        r#"{"ociVersion":"1.0.0","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":"sh"}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("process.args"), "{e}");
    let e = spec_of(r#"{"ociVersion":"1.0.0","mounts":[{"destination":"/a"},{"destination":5}]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("mounts[1].destination"), "{e}");
}
