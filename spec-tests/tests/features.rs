//! `features` (runtime-spec features.md): the JSON has runc's shape, and everything it lists is really
//! accepted by `create`: both oci versions, every hook kind, every namespace, every mount option and every
//! capability.

use serde_json::{json, Value};
use spec_tests::host::{ns_id, parse_mountinfo};
use spec_tests::{harness, runc_bin, Bundle, Harness};

/// `features`, parsed; asserts exit 0 and runc's formatting (four-space indent, trailing newline).
fn features(h: &Harness) -> Value {
    let out = h.cmd(&["features"]);
    out.ok();
    assert!(
        out.stdout.starts_with("{\n    \"ociVersionMin\": ") && out.stdout.ends_with("}\n"),
        "features is printed as runc prints it (MarshalIndent with four spaces, newline):\n{out}"
    );
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("features output is not JSON ({e}):\n{out}"))
}

fn list(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{pointer} is not an array in {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("{pointer}: {s} is not a string"))
                .to_string()
        })
        .collect()
}

fn keys(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("{pointer} is not an object in {v}"))
        .keys()
        .cloned()
        .collect()
}

/// The top-level keys in the order they are printed.
fn printed_key_order(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("    \""))
        .filter_map(|l| l.split_once('"').map(|(k, _)| k.to_string()))
        .collect()
}

#[test]
fn features_json_shape() {
    let h = harness!();
    let f = features(&h);
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert_eq!(f["ociVersionMax"], "1.3.0");
    assert_eq!(
        list(&f, "/hooks"),
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
    let opts = list(&f, "/mountOptions");
    for o in [
        "ro", "rw", "nosuid", "nodev", "noexec", "bind", "rbind", "rro", "rprivate",
    ] {
        assert!(
            opts.contains(&o.to_string()),
            "mountOptions lacks {o}: {opts:?}"
        );
    }
    let mut sorted = opts.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(opts, sorted, "mountOptions sorted and unique, as runc");
    assert_eq!(
        list(&f, "/linux/namespaces"),
        ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"]
    );
    let caps = list(&f, "/linux/capabilities");
    assert_eq!(caps.first().map(String::as_str), Some("CAP_CHOWN"));
    assert!(caps.iter().all(|c| c.starts_with("CAP_")), "{caps:?}");
    assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()), "{caps:?}");
    assert_eq!(
        f["linux"]["cgroup"],
        json!({"v1": true, "v2": true, "systemd": true, "systemdUser": false})
    );
    for lsm in ["apparmor", "selinux"] {
        assert_eq!(f["linux"][lsm], json!({"enabled": true}), "linux.{lsm}");
    }
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
    for (key, want) in [
        ("actions", "SCMP_ACT_NOTIFY"),
        ("operators", "SCMP_CMP_MASKED_EQ"),
        ("archs", "SCMP_ARCH_X86"),
        ("knownFlags", "SECCOMP_FILTER_FLAG_LOG"),
    ] {
        let got = list(&f, &format!("/linux/seccomp/{key}"));
        assert!(
            got.iter().any(|x| x == want),
            "linux.seccomp.{key} lacks {want}: {got:?}"
        );
    }
    assert!(
        f["annotations"]["io.github.sangja.version"].is_string(),
        "annotations: {}",
        f["annotations"]
    );
    let out = h.cmd(&["features"]);
    assert_eq!(
        printed_key_order(&out.stdout),
        [
            "ociVersionMin",
            "ociVersionMax",
            "hooks",
            "mountOptions",
            "linux",
            "annotations"
        ]
    );
}

#[test]
fn features_takes_no_arguments() {
    let h = harness!();
    h.cmd(&["features", "extra"])
        .assert_error("features\\\" requires exactly 0 argument(s)");
}

/// Runs `true` with `ociVersion` set to each end of the range.
#[test]
fn oci_version_min_and_max_are_accepted() {
    let h = harness!();
    let f = features(&h);
    for key in ["ociVersionMin", "ociVersionMax"] {
        let mut b = h.bundle();
        b.set("/ociVersion", f[key].clone());
        b.args(&["true"]);
        h.run(&b).ok();
    }
}

#[test]
fn every_hook_kind_is_accepted() {
    let h = harness!();
    let f = features(&h);
    let mut b = h.bundle();
    b.args(&["true"]);
    for kind in list(&f, "/hooks") {
        // `true` is a host binary for the host-side hooks and a busybox applet (argv[0] picks it) in
        // the container.
        b.push(
            &format!("/hooks/{kind}"),
            json!({"path": "/bin/true", "args": ["true"]}),
        );
    }
    h.run(&b).ok();
}

/// Keeps only the `mount` namespace and `kind`, dropping the hostname without a UTS namespace and
/// mapping a user namespace (which needs the pid and ipc namespaces its procfs and mqueue belong to).
fn only_namespace(b: &mut Bundle, kind: &str) {
    let mut nss = vec![json!({"type": "mount"})];
    if kind != "mount" {
        nss.push(json!({"type": kind}));
    }
    if kind == "user" {
        // procfs and mqueue are mounted only by the owner of the pid and ipc namespaces (sysfs
        // without a network namespace of its own is the host's, bound).
        nss.extend([json!({"type": "pid"}), json!({"type": "ipc"})]);
    }
    b.set("/linux/namespaces", Value::Array(nss));
    if kind != "uts" {
        b.remove("/hostname");
    }
    if kind == "user" {
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        b.set("/linux/uidMappings", map.clone());
        b.set("/linux/gidMappings", map);
    }
}

/// runtime-spec names to `/proc/<pid>/ns` names.
fn proc_ns_name(kind: &str) -> &str {
    match kind {
        "mount" => "mnt",
        "network" => "net",
        other => other,
    }
}

#[test]
fn every_namespace_is_accepted_and_new() {
    let h = harness!();
    let f = features(&h);
    for kind in list(&f, "/linux/namespaces") {
        let mut b = h.bundle();
        only_namespace(&mut b, &kind);
        let proc = proc_ns_name(&kind);
        let seen = h.sh(&mut b, &format!("readlink /proc/self/ns/{proc}"));
        assert_ne!(
            seen.trim(),
            ns_id("self", proc),
            "{kind}: the container must get a new namespace"
        );
    }
}

/// Every listed option on a mount of its own under a tmpfs at /mnt/a: a bind of a host dir for bind,
/// propagation and recursive-attribute options and for `remount` (on a new mount, MS_REMOUNT only makes
/// sense with a bind, in runc too), a tmpfs otherwise. One container; then a few options are checked in its
/// mount table.
#[test]
fn every_mount_option_is_accepted() {
    let h = harness!();
    let f = features(&h);
    let src = h.tempdir("src");
    let src = src.to_str().expect("UTF-8");
    let mut b = h.bundle();
    b.add_mount(json!({"destination": "/mnt/a", "type": "tmpfs", "source": "tmpfs"}));
    let opts = list(&f, "/mountOptions");
    let mut dest_of = std::collections::BTreeMap::new();
    // Idmapped binds need a user namespace: see `idmap_options_are_accepted`.
    let idmap = |o: &String| o == "idmap" || o == "ridmap";
    for (i, o) in opts.iter().enumerate().filter(|(_, o)| !idmap(o)) {
        let dest = format!("/mnt/a/{i}");
        let binding = o == "bind"
            || o == "rbind"
            || o == "remount"
            || o.starts_with("rno")
            || o == "rro"
            || o.ends_with("private")
            || o.ends_with("shared")
            || o.ends_with("slave")
            || o.ends_with("unbindable");
        let m = if binding {
            let mut options = vec![o.as_str()];
            if o != "bind" && o != "rbind" {
                options.insert(0, "rbind");
            }
            json!({"destination": dest, "type": "bind", "source": src, "options": options})
        } else {
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": [o]})
        };
        b.add_mount(m);
        dest_of.insert(o.clone(), dest);
    }
    let out = h.sh(&mut b, "cat /proc/self/mountinfo");
    let mounts = parse_mountinfo(&out);
    let find = |o: &str| {
        let dest = &dest_of[o];
        mounts
            .iter()
            .rev()
            .find(|m| &m.mount_point == dest)
            .unwrap_or_else(|| panic!("no mount at {dest} (option {o}):\n{out}"))
    };
    for (o, flag) in [
        ("ro", "ro"),
        ("rro", "ro"),
        ("nosuid", "nosuid"),
        ("rnosuid", "nosuid"),
        ("nodev", "nodev"),
        ("rnodev", "nodev"),
        ("noexec", "noexec"),
        ("rnoexec", "noexec"),
        ("noatime", "noatime"),
    ] {
        assert!(
            find(o).has_opt(flag),
            "{o}: mount lacks {flag}: {:?}",
            find(o)
        );
    }
    assert!(find("rw").has_opt("rw"), "rw: {:?}", find("rw"));
}

/// A `CapXxx:` mask of `/proc/self/status` text.
fn cap_mask(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

/// Every listed capability is accepted in all sets. The list is in kernel number order from
/// CAP_CHOWN (0); a container can only get what the caller's bounding set holds (a capability missing
/// there fails capset, in runc too), so the listed capabilities are intersected with it.
#[test]
fn every_capability_is_accepted() {
    let h = harness!();
    let f = features(&h);
    let own = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let own_bnd = cap_mask(&own, "CapBnd:");
    let listed = list(&f, "/linux/capabilities");
    let usable: Vec<&String> = listed
        .iter()
        .enumerate()
        .filter(|(n, _)| *n < 64 && own_bnd & (1u64 << n) != 0)
        .map(|(_, c)| c)
        .collect();
    let want = usable
        .iter()
        .map(|c| listed.iter().position(|x| &x == c).unwrap_or(0))
        .fold(0u64, |m, n| m | 1u64 << n);
    let caps = json!(usable);
    let mut b = h.bundle();
    b.set(
        "/process/capabilities",
        json!({"bounding": caps, "permitted": caps, "effective": caps, "inheritable": caps}),
    );
    let out = h.sh(&mut b, "cat /proc/self/status");
    for field in ["CapBnd:", "CapPrm:", "CapEff:", "CapInh:"] {
        assert_eq!(
            cap_mask(&out, field),
            want,
            "{field} of a container given every listed capability the caller holds"
        );
    }
}

/// The shape of `runc features` (where runc prints it): same top-level and `linux` keys; the same hook
/// kinds and capability names; our namespaces and mount options are a subset of runc's.
#[test]
fn shape_matches_runc_features() {
    let h = harness!();
    let ours = features(&h);
    let out = std::process::Command::new(runc_bin())
        .arg("features")
        .output()
        .expect("run runc features (runc must be installed)");
    assert!(out.status.success(), "runc features failed: {out:?}");
    let theirs: Value = serde_json::from_slice(&out.stdout).expect("runc features is JSON");
    assert_eq!(keys(&ours, ""), keys(&theirs, ""), "top-level keys");
    // runc lists `mountExtensions` from 1.2 on (idmapped mounts); 1.1 has none.
    let linux_keys = |f: &Value| {
        let mut k = keys(f, "/linux");
        k.retain(|k| k != "mountExtensions");
        k
    };
    assert_eq!(linux_keys(&ours), linux_keys(&theirs), "linux keys");
    assert_eq!(ours["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    assert_eq!(
        keys(&ours, "/linux/cgroup"),
        keys(&theirs, "/linux/cgroup"),
        "linux.cgroup keys"
    );
    assert_eq!(list(&ours, "/hooks"), list(&theirs, "/hooks"), "hooks");
    assert_eq!(
        list(&ours, "/linux/capabilities"),
        list(&theirs, "/linux/capabilities"),
        "capabilities (runc 1.1.5 lists the same 41 names)"
    );
    for (p, what) in [
        ("/linux/namespaces", "namespace"),
        ("/mountOptions", "mount option"),
    ] {
        let mut t = list(&theirs, p);
        if what == "namespace" {
            // runc 1.1.5 predates time namespaces (runc 1.2 lists them); runtime-spec has them.
            t.push("time".into());
        } else {
            // Idmapped mounts came with runc 1.2 too.
            t.extend(["idmap".into(), "ridmap".into()]);
        }
        for x in list(&ours, p) {
            assert!(t.contains(&x), "{what} {x} is not one runc knows");
        }
    }
}

/// `idmap` and `ridmap`, listed, make idmapped binds (the mount table says `idmapped`) in a
/// container with a user namespace.
#[test]
fn idmap_options_are_accepted() {
    let h = harness!();
    let f = features(&h);
    let src = h.tempdir("src");
    // A rootfs of its own: the mapped root makes the mount points.
    let mut b = h.bundle_private();
    let map = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
    b.push("/linux/namespaces", json!({"type": "user"}));
    b.set("/linux/uidMappings", map.clone());
    b.set("/linux/gidMappings", map);
    for o in ["idmap", "ridmap"] {
        assert!(
            list(&f, "/mountOptions").contains(&o.to_string()),
            "{o} listed"
        );
        b.add_mount(json!({"destination": format!("/mnt/{o}"), "type": "bind",
            "source": src.to_str().expect("UTF-8"), "options": ["rbind", o]}));
    }
    let out = h.sh(&mut b, "cat /proc/self/mountinfo");
    for o in ["idmap", "ridmap"] {
        let dest = format!("/mnt/{o}");
        let m = parse_mountinfo(&out)
            .into_iter()
            .find(|m| m.mount_point == dest)
            .unwrap_or_else(|| panic!("no mount at {dest}:\n{out}"));
        assert!(m.has_opt("idmapped"), "{o}: {m:?}");
    }
}
