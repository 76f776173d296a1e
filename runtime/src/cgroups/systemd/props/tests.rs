use std::borrow::Cow;

use super::*;
use crate::cgroups::files::W;

fn write(file: &'static str, value: &str) -> Write {
    Write {
        dir: 0,
        v2_controller: None,
        w: W::new(file, value, "linux.resources.x"),
    }
}

fn props(writes: &mut [Write], version: u32) -> Vec<(String, Value)> {
    for_version(resource_properties(writes, 0).unwrap_or_default(), version)
}

fn gated(writes: &[Write]) -> Vec<Gated> {
    resource_properties(&mut writes.to_vec(), 0).unwrap_or_default()
}

#[test]
fn memory_tasks_and_weight_become_unit_properties() {
    let mut w = vec![
        write("memory.max", "1048576"),
        write("memory.swap.max", "max"),
        write("memory.low", "4096"),
        write("cpu.weight", "100"),
        write("pids.max", "0"),
        write("io.max", "8:0 rbps=1"),
    ];
    assert_eq!(
        props(&mut w, 252),
        vec![
            prop("MemoryMax", Value::U64(1 << 20)),
            prop("MemorySwapMax", Value::U64(u64::MAX)),
            prop("MemoryLow", Value::U64(4096)),
            prop("CPUWeight", Value::U64(100)),
            // systemd refuses 0 tasks, as runc knows.
            prop("TasksMax", Value::U64(1)),
        ]
    );
}

#[test]
fn writes_in_other_directories_are_not_the_units() {
    let mut w = vec![write("memory.max", "5")];
    w[0].dir = 1;
    assert!(props(&mut w, 252).is_empty());
}

#[test]
fn cpu_quota_rounds_up_as_systemd_must_and_the_file_follows() {
    let mut w = vec![write("cpu.max", "123456 100000")];
    assert_eq!(
        props(&mut w, 252),
        vec![
            prop("CPUQuotaPeriodUSec", Value::U64(100_000)),
            prop("CPUQuotaPerSecUSec", Value::U64(1_240_000)),
        ]
    );
    assert_eq!(w[0].w.value, "124000 100000");
    let mut w = vec![write("cpu.max", "50000 100000")];
    assert_eq!(
        props(&mut w, 241),
        vec![prop("CPUQuotaPerSecUSec", Value::U64(500_000))],
        "no period property before systemd 242"
    );
    assert_eq!(w[0].w.value, "50000 100000");
    let mut w = vec![write("cpu.max", "max 100000")];
    assert_eq!(
        props(&mut w, 252).last(),
        Some(&prop("CPUQuotaPerSecUSec", Value::U64(u64::MAX)))
    );
}

#[test]
fn gated_properties_wait_for_their_version() {
    let mut w = vec![
        write("cpuset.cpus", "0-3,8"),
        write("cpuset.mems", "0"),
        write("memory.oom.group", "1"),
    ];
    assert!(needs_version(&gated(&w)));
    assert!(props(&mut w, 243).is_empty());
    assert_eq!(
        props(&mut w, 253),
        vec![
            prop("AllowedCPUs", Value::Bytes(vec![0x0f, 0x01])),
            prop("AllowedMemoryNodes", Value::Bytes(vec![0x01])),
            prop("OOMPolicy", Value::Str("kill".into())),
        ]
    );
    assert!(!needs_version(&gated(&[write("memory.max", "1")])));
    assert!(!needs_version(&gated(&[write("cpu.max", "5000")])));
    assert!(needs_version(&gated(&[write("cpu.max", "5000 100000")])));
}

#[test]
fn cpu_idle_is_weight_zero_from_252() {
    let mut w = vec![write("cpu.weight", "100"), write("cpu.idle", "1")];
    assert_eq!(props(&mut w, 252), vec![prop("CPUWeight", Value::U64(0))]);
    assert_eq!(props(&mut w, 251), vec![prop("CPUWeight", Value::U64(100))]);
}

#[test]
fn cpuset_lists_are_bitmasks_and_bad_lists_are_named() {
    assert_eq!(cpuset_bits("0-3", "f").ok(), Some(vec![0x0f]));
    assert_eq!(cpuset_bits("8", "f").ok(), Some(vec![0x00, 0x01]));
    assert_eq!(cpuset_bits("1,3-5", "f").ok(), Some(vec![0b0011_1010]));
    for bad in ["", "3-1", "a", "1-", "99999"] {
        let e = cpuset_bits(bad, "linux.resources.cpu.cpus").err();
        let e = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("linux.resources.cpu.cpus"), "{bad:?}: {e}");
    }
}

fn rule(allow: bool, typ: char, major: Option<i64>, minor: Option<i64>, access: &str) -> Rule {
    Rule {
        allow,
        typ,
        major,
        minor,
        access: Cow::Owned(access.into()),
        field: Cow::Borrowed("linux.resources.devices[0]"),
    }
}

#[test]
fn device_rules_become_a_strict_allow_list() {
    let rules = [
        rule(false, 'a', None, None, "rwm"),
        rule(true, 'c', None, None, "m"),
        rule(true, 'b', Some(8), None, "m"),
        rule(true, 'c', Some(1), Some(3), "rwm"),
        rule(true, 'c', None, Some(3), "rwm"),
        rule(false, 'c', Some(5), Some(1), "rwm"),
    ];
    assert_eq!(
        device_properties(&rules, 252),
        vec![
            prop("DeviceAllow", Value::StrPairs(vec![])),
            prop("DevicePolicy", Value::Str("strict".into())),
            prop(
                "DeviceAllow",
                Value::StrPairs(vec![
                    ("char-*".into(), "m".into()),
                    ("block-8".into(), "m".into()),
                    ("/dev/char/1:3".into(), "rwm".into()),
                ])
            ),
        ]
    );
    let open = [
        rule(false, 'a', None, None, "rwm"),
        rule(true, 'a', None, None, "rwm"),
    ];
    assert_eq!(
        device_properties(&open, 252).last(),
        Some(&prop("DevicePolicy", Value::Str("auto".into())))
    );
}

fn annotations(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn annotations_are_gvariant_text_and_secs_become_usecs() {
    let a = annotations(&[
        ("org.systemd.property.TimeoutStopSec", "7"),
        ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
        ("org.systemd.property.MemoryMax", "uint64 4096"),
        ("org.systemd.property.IgnoreSIGPIPE", "false"),
        ("org.systemd.property.Wants", "['a.service', 'b.service']"),
        ("io.kubernetes.other", "ignored"),
    ]);
    assert_eq!(
        annotation_properties(Some(&a)).unwrap_or_default(),
        vec![
            prop("CollectMode", Value::Str("inactive-or-failed".into())),
            prop("IgnoreSIGPIPE", Value::Bool(false)),
            prop("MemoryMax", Value::U64(4096)),
            prop("TimeoutStopUSec", Value::U64(7_000_000)),
            prop(
                "Wants",
                Value::Strs(vec!["a.service".into(), "b.service".into()])
            ),
        ]
    );
}

#[test]
fn bad_annotations_name_the_annotation() {
    for (k, v, why) in [
        ("org.systemd.property.Ab", "1", "too short"),
        ("org.systemd.property.Foo1", "1", "non-alphabetic"),
        ("org.systemd.property.Foo", "what", "parse error"),
        ("org.systemd.property.TimeoutStopSec", "'x'", "not a number"),
    ] {
        let a = annotations(&[(k, v)]);
        let e = annotation_properties(Some(&a)).err();
        let e = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            e.contains(&format!("annotations.{k}:")) && e.contains(why),
            "{k}: {e}"
        );
    }
}

#[test]
fn a_scope_is_delegated_with_its_init() {
    let unit = super::super::path::parse("system.slice:docker:abc", "abc");
    let Ok(unit) = unit else {
        panic!("parse");
    };
    let p = unit_properties(&unit, "abc", Some(42));
    let names: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Description",
            "Slice",
            "Delegate",
            "PIDs",
            "MemoryAccounting",
            "CPUAccounting",
            "IOAccounting",
            "TasksAccounting",
            "DefaultDependencies"
        ]
    );
    assert_eq!(p[3].1, Value::U32s(vec![42]));
    assert_eq!(p[1].1, Value::Str("system.slice".into()));
}

#[test]
fn values_systemd_cannot_take_are_refused_before_the_unit_exists() {
    for (file, value) in [
        ("cpuset.cpus", "0-x"),
        ("memory.max", "lots"),
        ("cpuset.mems", "3-1"),
    ] {
        let e = resource_properties(&mut [write(file, value)], 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.resources.x"), "{file}={value}: {e}");
    }
}
