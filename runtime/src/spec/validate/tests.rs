//! Unit tests of [`super::validate`]: runc's `spec` config, empty args, mount destinations
//! (escaping, relative, `/proc`), uid/gid ranges, fields refused, sysctls.
use super::*;
use crate::spec::parse;

fn spec_of(json: &str) -> Result<Spec, SpecError> {
    parse(Path::new("config.json"), json.as_bytes())
}

const BASE: &str = r#"{"ociVersion":"1.0.2-dev","root":{"path":"rootfs"},
    "process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},
    "linux":{"namespaces":[{"type":"mount"}]}}"#;

#[test]
fn runc_spec_shape_validates() {
    let s = spec_of(BASE).expect("parse");
    validate(&s, false, true).expect("valid");
}

#[test]
fn missing_args_and_escaping_mounts() {
    let s = spec_of(&BASE.replace(r#""args":["sh"],"#, "")).expect("parse");
    assert!(validate(&s, false, true)
        .unwrap_err()
        .to_string()
        .contains("process.args"));
    let s = spec_of(&BASE.replace(
        r#""linux""#,
        r#""mounts":[{"destination":"/ok","type":"tmpfs"},{"destination":"/../../etc","type":"tmpfs"}],"linux""#,
    ))
    .expect("parse");
    let e = validate(&s, false, true).unwrap_err().to_string();
    assert!(e.contains("mounts[1].destination"), "{e}");
}

fn with_process(user: &str) -> Result<(), SpecError> {
    let s = spec_of(&BASE.replace(r#""user":{"uid":0,"gid":0}"#, user)).expect("parse");
    validate(&s, false, true)
}

#[test]
fn ids_beyond_i32_max_are_refused_naming_the_field() {
    with_process(r#""user":{"uid":2147483647,"gid":2147483647,"additionalGids":[0,5]}"#)
        .expect("the largest valid ids");
    for (user, field) in [
        (r#""user":{"uid":4294967295,"gid":0}"#, "process.user.uid"),
        (r#""user":{"uid":0,"gid":2147483648}"#, "process.user.gid"),
        (
            r#""user":{"uid":0,"gid":0,"additionalGids":[1,4294967295]}"#,
            "process.user.additionalGids[1]",
        ),
    ] {
        let e = with_process(user).expect_err(user).to_string();
        assert!(
            e.contains(&format!("{field}: ")) && e.contains("range 0-2147483647"),
            "{e}"
        );
    }
}

#[test]
fn intel_rdt_is_refused_not_ignored() {
    let s = spec_of(&BASE.replace(
        r#""namespaces":"#,
        r#""intelRdt":{"closID":"c"},"namespaces":"#,
    ))
    .expect("parse");
    let e = validate(&s, false, true).unwrap_err().to_string();
    assert!(e.starts_with("config.json: linux.intelRdt: "), "{e}");
}

#[test]
fn relative_mount_destinations_are_relative_to_root() {
    let s = spec_of(&BASE.replace(
        r#""linux""#,
        r#""mounts":[{"destination":"relative/x","type":"tmpfs"}],"linux""#,
    ))
    .expect("parse");
    validate(&s, false, true).expect("a relative destination is accepted");
    // ... and is still checked as the absolute path it names.
    for dest in ["proc", "a/../proc/kcore", "../../etc"] {
        let s = spec_of(&BASE.replace(
            r#""linux""#,
            &format!(r#""mounts":[{{"destination":"{dest}","type":"tmpfs"}}],"linux""#),
        ))
        .expect("parse");
        let e = validate(&s, false, true).expect_err(dest).to_string();
        assert!(e.contains("mounts[0].destination"), "{dest}: {e}");
    }
    assert_eq!(lexical_clean(Path::new("a/./b/../c/")), Path::new("/a/c"));
}

#[test]
fn sysctl_checks_run_in_validate() {
    let s = spec_of(&BASE.replace(
        r#""namespaces":"#,
        r#""sysctl":{"vm.swappiness":"10"},"namespaces":"#,
    ))
    .expect("parse");
    let e = validate(&s, false, true).unwrap_err().to_string();
    assert_eq!(
        e,
        "config.json: linux.sysctl.vm.swappiness: sysctl \"vm.swappiness\" is not in a \
         separate kernel namespace"
    );
}

#[test]
fn escape_detection() {
    assert!(escapes_root(Path::new("/../etc")));
    assert!(escapes_root(Path::new("/a/../../etc")));
    assert!(!escapes_root(Path::new("/a/../etc")));
}

fn with_maps(uids: &str, gids: &str) -> Result<(), SpecError> {
    let linux = format!(
        r#""linux":{{"namespaces":[{{"type":"mount"}},{{"type":"user"}}],
        "uidMappings":{uids},"gidMappings":{gids}}}"#
    );
    let json = BASE.replace(r#""linux":{"namespaces":[{"type":"mount"}]}"#, &linux);
    validate(&spec_of(&json).expect("parse"), false, true)
}

#[test]
fn user_namespace_maps_that_touch_but_do_not_overlap_are_accepted_up_to_the_last_id() {
    let m = |c: u64, h: u64, n: u64| format!(r#"{{"containerID":{c},"hostID":{h},"size":{n}}}"#);
    let touching = format!("[{},{}]", m(0, 100000, 1000), m(1000, 101000, 10));
    with_maps(&touching, &touching).expect("adjacent ranges");
    let last = format!("[{}]", m(0, 4294967294, 1));
    with_maps(&last, &last).expect("the largest id");
    let past = format!("[{}]", m(0, 4294967295, 1));
    let e = with_maps(&past, &last)
        .expect_err("past the largest id")
        .to_string();
    assert!(e.contains("linux.uidMappings[0]"), "{e}");
    let both = format!("[{},{}]", m(0, 100000, 10), m(5, 200000, 10));
    let e = with_maps(&last, &both).expect_err("overlap").to_string();
    assert!(
        e.contains("linux.gidMappings[1]: its container ids overlap"),
        "{e}"
    );
}
