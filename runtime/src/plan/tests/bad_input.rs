//! Bad input, refused naming the field: each edit of runc spec's config is refused by validation
//! or planning with a [`SpecError::Field`] naming exactly the JSON path given, by concern (mounts,
//! `linux`, `process`, hostname and hooks); then the messages of a few.
use super::*;

/// An edit of runc spec's config.
type Edit = fn(&mut Value);

/// Each edit is refused naming its field, with a message.
fn assert_refused(cases: &[(&str, Edit)]) {
    for (want, edit) in cases {
        let v = with(edit);
        let (field, message) = refusal(&v);
        assert_eq!(&field, want, "{message}");
        assert!(!message.is_empty());
    }
}

/// Mount options, sources and types (planning), destinations (validation).
#[test]
fn bad_mounts_are_refused_naming_the_field() {
    assert_refused(&[
        // Planning.
        ("mounts[3].options", |v| {
            v["mounts"][3]["options"][3] = json!("mode=17\u{0}77")
        }),
        ("mounts[7].source", |v| {
            add_mount(
                v,
                json!({"destination": "/data", "type": "bind", "options": ["rbind"]}),
            )
        }),
        ("mounts[7].source", |v| {
            add_mount(
                v,
                json!({"destination": "/data", "type": "bind",
                       "source": "/nonexistent-sangja-plan-tests/src"}),
            )
        }),
        ("mounts[7].source", |v| {
            // Relative: below the (nonexistent) bundle.
            add_mount(
                v,
                json!({"destination": "/data", "options": ["bind"], "source": "src"}),
            )
        }),
        ("mounts[7].type", |v| {
            add_mount(v, json!({"destination": "/data", "source": "tmpfs"}))
        }),
        // Validation.
        ("mounts[7].destination", |v| {
            add_mount(v, json!({"destination": "/../etc", "type": "tmpfs"}))
        }),
        ("mounts[7].destination", |v| {
            add_mount(
                v,
                json!({"destination": "/proc/kcore", "type": "bind", "source": "/dev/null"}),
            )
        }),
    ]);
}

/// `linux`: devices, namespaces, masked and read-only paths, root propagation, sysctls.
#[test]
fn bad_linux_fields_are_refused_naming_the_field() {
    assert_refused(&[
        // Planning.
        ("linux.devices[0].type", |v| {
            v["linux"]["devices"] = json!([{"path": "/dev/all", "type": "a"}])
        }),
        ("linux.devices[1].path", |v| {
            v["linux"]["devices"] = json!([
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
                {"path": "/dev/fu\u{0}se", "type": "c", "major": 10, "minor": 229},
            ])
        }),
        ("linux.namespaces[1].path", |v| {
            v["linux"]["namespaces"][1] = json!({"type": "network", "path": "/run/netns/\u{0}"})
        }),
        ("linux.readonlyPaths", |v| {
            v["linux"]["readonlyPaths"][2] = json!("/proc/\u{0}irq")
        }),
        // Validation.
        (
            "linux.devices[0].path",
            |v| {
                v["linux"]["devices"] =
                    json!([{"path": "dev/fuse", "type": "c", "major": 10, "minor": 229}])
            },
        ),
        ("linux.namespaces[1].path", |v| {
            v["linux"]["namespaces"][1] = json!({"type": "network", "path": "run/netns/x"})
        }),
        ("linux.namespaces[5].type", |v| {
            v["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces")
                .push(json!({"type": "pid"}))
        }),
        ("linux.namespaces", |v| {
            v["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces")
                .pop();
        }),
        ("linux.rootfsPropagation", |v| {
            v["linux"]["rootfsPropagation"] = json!("sideways")
        }),
        ("linux.maskedPaths[1]", |v| {
            v["linux"]["maskedPaths"][1] = json!("../../etc")
        }),
        ("linux.sysctl.vm.swappiness", |v| {
            v["linux"]["sysctl"] = json!({"vm.swappiness": "10"})
        }),
    ]);
}

/// `process`: missing (planning), cwd, args and env (validation).
#[test]
fn bad_process_is_refused_naming_the_field() {
    assert_refused(&[
        // Planning.
        ("process", |v| {
            v.as_object_mut().expect("config").remove("process");
        }),
        // Validation.
        ("process.cwd", |v| v["process"]["cwd"] = json!("srv")),
        ("process.args", |v| v["process"]["args"] = json!([])),
        ("process.args[1]", |v| {
            v["process"]["args"] = json!(["sh", "-c\u{0}"])
        }),
        ("process.env[1]", |v| v["process"]["env"][1] = json!("TERM")),
    ]);
}

/// `hostname` (a NUL, or no UTS namespace of its own) and hooks (a NUL in an arg, a relative path).
#[test]
fn bad_hostname_and_hooks_are_refused_naming_the_field() {
    assert_refused(&[
        // Planning.
        ("hostname", |v| v["hostname"] = json!("ru\u{0}nc")),
        (
            "hooks.createContainer[0]",
            |v| {
                v["hooks"] =
                    json!({"createContainer": [{"path": "/bin/hook", "args": ["hook", "\u{0}"]}]})
            },
        ),
        // Validation.
        ("hostname", |v| {
            v["linux"]["namespaces"][3] = json!({"type": "uts", "path": "/proc/1/ns/uts"})
        }),
        ("hooks.prestart[0].path", |v| {
            v["hooks"] = json!({"prestart": [{"path": "hook"}]})
        }),
    ]);
}

#[test]
fn refusals_say_what_is_wrong() {
    let (field, message) = refusal(&with(|v| {
        add_mount(v, json!({"destination": "/data", "type": "bind"}))
    }));
    assert_eq!(
        (field.as_str(), message.as_str()),
        ("mounts[7].source", "is required for a bind mount")
    );
    let (_, message) = refusal(&with(|v| {
        add_mount(v, json!({"destination": "/data", "source": "x"}))
    }));
    assert_eq!(message, "is required unless the mount is a bind mount");
    let (_, message) = refusal(&with(|v| {
        add_mount(
            v,
            json!({"destination": "/data", "type": "bind",
                   "source": "/nonexistent-sangja-plan-tests/src"}),
        )
    }));
    assert!(
        message.starts_with("/nonexistent-sangja-plan-tests/src: No such file or directory"),
        "{message}"
    );
    let (_, message) = refusal(&with(|v| v["hostname"] = json!("a\u{0}b")));
    assert_eq!(message, "contains a NUL byte");
    let (_, message) = refusal(&with(|v| {
        v["linux"]["devices"] = json!([{"path": "/dev/all", "type": "a"}])
    }));
    assert_eq!(message, "\"a\" is not a device node type");
}
