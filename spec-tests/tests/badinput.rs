//! Bad input: each gets a one-line error naming the field or path, a non-zero exit, and leaves no state dir,
//! cgroup, mount or process behind. Wording clients match on is runc's exactly.

use std::fs;
use std::path::PathBuf;

use serde_json::{json, Value};
use spec_tests::host::{self, find_mount, parse_mountinfo};
use spec_tests::{assert_nothing_left, harness, secs, Bundle, Harness, Output};

/// Writes the bundle, runs `create`, and returns the output after checking nothing is left. Bundles passed
/// here should have a private rootfs (`bundle_private`), so a leftover init is found by its root directory.
#[track_caller]
fn create_fails(h: &Harness, b: &Bundle) -> Output {
    let id = h.id();
    let (out, _) = h.try_create(b, &id, &[]);
    out.failed();
    assert_nothing_left(h, &id, b);
    out
}

#[test]
fn missing_bundle_directory() {
    let h = harness!();
    let b = h.bundle();
    fs::remove_dir(&b.dir).expect("remove bundle dir");
    let id = h.id();
    let out = h.cmd(&["create", "--bundle", b.dir_str(), &id]);
    out.assert_error(b.dir_str());
    assert_nothing_left(&h, &id, &b);
}

#[test]
fn missing_config_json() {
    let h = harness!();
    let b = h.bundle();
    let id = h.id();
    let out = h.cmd(&["create", "--bundle", b.dir_str(), &id]);
    out.assert_error("config.json");
    assert_nothing_left(&h, &id, &b);
}

#[test]
fn malformed_config_json() {
    let h = harness!();
    let b = h.bundle();
    b.write_raw("{\"ociVersion\": \"1.0.2\",\n bad");
    let id = h.id();
    let out = h.cmd(&["create", "--bundle", b.dir_str(), &id]);
    out.assert_error("config.json");
    assert_nothing_left(&h, &id, &b);
}

#[test]
fn config_json_is_a_directory() {
    let h = harness!();
    let b = h.bundle();
    fs::create_dir(b.dir.join("config.json")).expect("mkdir config.json");
    let id = h.id();
    let out = h.cmd(&["create", "--bundle", b.dir_str(), &id]);
    out.assert_error("config.json");
    assert_nothing_left(&h, &id, &b);
}

#[test]
fn unsupported_oci_version() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.set("/ociVersion", json!("2.0.0"));
    let out = create_fails(&h, &b);
    out.assert_error("ociVersion");
    assert!(
        out.stderr.contains("2.0.0"),
        "error names the version:\n{out}"
    );
}

#[test]
fn supported_oci_versions_run() {
    let h = harness!();
    let mut b = h.bundle_private();
    for v in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.3.0"] {
        b.set("/ociVersion", json!(v));
        assert_eq!(h.sh(&mut b, "echo ok"), "ok\n", "ociVersion {v}");
    }
}

#[test]
fn missing_process_args() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.remove("/process/args");
    create_fails(&h, &b).assert_error("process.args");
}

#[test]
fn empty_process_args() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.args(&[]);
    create_fails(&h, &b).assert_error("process.args");
}

#[test]
fn executable_not_in_the_rootfs_fails_at_create() {
    let h = harness!();
    let mut b = h.bundle_private();
    for exe in ["/no-such-binary", "no-such-binary"] {
        b.args(&[exe]);
        create_fails(&h, &b).assert_error(exe);
    }
}

#[test]
fn missing_rootfs() {
    let h = harness!();
    let mut b = h.bundle_private();
    let missing = b.dir.join("no-rootfs");
    b.set("/root/path", json!(missing.to_str().expect("UTF-8")));
    create_fails(&h, &b).assert_error(missing.to_str().expect("UTF-8"));
}

/// As runc: `root.path` names the directory itself; a path that is, or goes through, a symlink
/// is refused naming the field. A bundle directory reached through a symlink is fine (only the
/// path from it on counts, as runc resolves its cwd).
#[test]
fn root_path_through_a_symlink() {
    let h = harness!();
    let mut b = h.bundle_private();
    let link = b.dir.join("rootfs-link");
    std::os::unix::fs::symlink("rootfs", &link).expect("symlink");
    b.set("/root/path", json!("rootfs-link"));
    create_fails(&h, &b).assert_error("root.path: ");
    let out = create_fails(&h, &b);
    assert!(out.stderr.contains("symlink"), "{out}");
    // The same directory by its own name works, also from a symlinked bundle directory.
    b.set("/root/path", json!("rootfs"));
    b.args(&["true"]);
    b.write();
    let alias = h.base().join("bundle-alias");
    std::os::unix::fs::symlink(&b.dir, &alias).expect("symlink");
    let id = h.id();
    let out = h.cmd(&["run", "--bundle", alias.to_str().expect("UTF-8"), &id]);
    out.ok();
}

#[test]
fn hostname_without_a_uts_namespace() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces")
        .retain(|n| n["type"] != "uts");
    b.set("/hostname", json!("nope"));
    create_fails(&h, &b).assert_error("hostname");
    // And the host's hostname is untouched.
    assert_ne!(
        fs::read_to_string("/proc/sys/kernel/hostname")
            .expect("host hostname")
            .trim(),
        "nope"
    );
}

#[test]
fn invalid_container_ids() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.args(&["true"]);
    b.write();
    for id in ["../x", "a/b", "", ".", ".."] {
        let out = h.cmd(&["create", "--bundle", b.dir_str(), id]);
        out.assert_error_ci("container id");
        assert_nothing_left(&h, id, &b);
        assert!(
            !h.root().parent().expect("parent").join("x").exists(),
            "create {id:?} escaped the state root"
        );
    }
}

#[test]
fn duplicate_id() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.args(&["sleep", "30"]);
    let c = h.create(&b);
    let (out, _) = h.try_create(&b, &c.id, &[]);
    out.assert_error("container with given ID already exists");
    assert_eq!(h.status(&c.id), "created");
}

#[test]
fn unknown_id() {
    let h = harness!();
    for args in [
        &["state", "no-such-ctr"][..],
        &["start", "no-such-ctr"],
        &["kill", "no-such-ctr"],
        &["kill", "no-such-ctr", "KILL"],
        &["delete", "no-such-ctr"],
    ] {
        h.cmd(args).assert_error("container does not exist");
    }
}

#[test]
fn delete_force_of_an_unknown_id_succeeds_like_runc() {
    let h = harness!();
    h.cmd(&["delete", "--force", "no-such-ctr"]).ok();
}

#[test]
fn unknown_signal() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.args(&["sleep", "30"]);
    let c = h.create_and_start(&b);
    h.cmd(&["kill", &c.id, "FOO"]).assert_error("FOO");
    h.cmd(&["kill", &c.id, "SIGFOO"]).assert_error("SIGFOO");
    assert_eq!(
        h.status(&c.id),
        "running",
        "a refused kill must not hurt the container"
    );
}

#[test]
fn mount_destination_escaping_the_rootfs() {
    let h = harness!();
    let mut b = h.bundle_private();
    let i = b.add_mount(json!({"destination": "../../etc", "type": "tmpfs", "source": "tmpfs"}));
    let out = create_fails(&h, &b);
    out.assert_error(&format!("mounts[{i}].destination"));
}

/// Parse errors name the field in the config's terms: no Rust types, no crate-internal wording.
#[test]
fn parse_errors_name_the_field_in_the_configs_terms() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.push("/process/capabilities/bounding", json!("CAP_FOO"));
    let n = b.config["process"]["capabilities"]["bounding"]
        .as_array()
        .map_or(0, |a| a.len() - 1);
    // (The log line quotes `"` as `\"`.)
    create_fails(&h, &b).assert_error(&format!(
        r#"process.capabilities.bounding[{n}]: unknown capability \"CAP_FOO\""#
    ));
    let mut b = h.bundle_private();
    b.remove("/process/user");
    create_fails(&h, &b).assert_error("process.user: is required");
    let mut b = h.bundle_private();
    b.set("/process/rlimits", json!(["RLIMIT_NOFILE"]));
    let out = create_fails(&h, &b);
    out.assert_error(
        r#"process.rlimits[0]: invalid type: string \"RLIMIT_NOFILE\", expected an object"#,
    );
    let mut b = h.bundle_private();
    b.set("/process/user/uid", json!(-1));
    create_fails(&h, &b).assert_error(
        "process.user.uid: invalid value: integer `-1`, expected an integer from 0 to 4294967295",
    );
}

/// What the kernel refuses in the init is reported with the config entry it came from, not only
/// the path the init acted on (`mount /dev/shm: invalid argument` alone does not say which of
/// several entries, or which field, was wrong).
#[test]
fn kernel_errors_in_the_init_name_the_config_entry() {
    let h = harness!();
    let mut b = h.bundle_private();
    let i = b.add_mount(
        json!({"destination": "/bad", "type": "tmpfs", "source": "tmpfs",
        "options": ["size=not-a-size"]}),
    );
    create_fails(&h, &b).assert_error(&format!(
        "unable to start container process: mounts[{i}]: mount /bad: invalid argument"
    ));

    // A hard limit above fs.nr_open: setrlimit refuses it (EPERM), whatever our privileges.
    let nr_open: u64 = host::read_trim(std::path::Path::new("/proc/sys/fs/nr_open"))
        .parse()
        .expect("fs.nr_open");
    let mut b = h.bundle_private();
    b.set(
        "/process/rlimits",
        json!([{"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
               {"type": "RLIMIT_NOFILE", "hard": nr_open + 1, "soft": 1024}]),
    );
    create_fails(&h, &b).assert_error("process.rlimits[1]: setrlimit RLIMIT_NOFILE");

    // A namespace path that is not a namespace: setns refuses it (EINVAL).
    let mut b = h.bundle_private();
    b.push(
        "/linux/namespaces",
        json!({"type": "uts", "path": "/proc/self/cmdline"}),
    );
    let namespaces = b.config["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .clone();
    let k = namespaces.len() - 1;
    // Replace the config's own uts entry (if any) by the joined one.
    let kept: Vec<_> = namespaces
        .into_iter()
        .enumerate()
        .filter(|(n, ns)| *n == k || ns["type"] != "uts")
        .map(|(_, ns)| ns)
        .collect();
    let k = kept.len() - 1;
    b.set("/linux/namespaces", json!(kept));
    b.remove("/hostname");
    create_fails(&h, &b).assert_error(&format!("linux.namespaces[{k}].path"));
}

#[test]
fn relative_mount_destination_is_below_root() {
    // runtime-spec 1.2: a relative destination is relative to `/` (runc 1.1 warns and does so).
    let h = harness!();
    let mut b = h.bundle_private();
    let src = h.tempdir("relbind");
    fs::write(src.join("marker"), "bound\n").expect("marker");
    b.add_mount(json!({"destination": "relative/x", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(json!({"destination": "rel-bind", "type": "bind",
        "source": src.to_str().expect("UTF-8"), "options": ["rbind", "ro"]}));
    let out = h.sh(&mut b, "cat /rel-bind/marker /proc/self/mountinfo");
    let (marker, info) = out.split_once('\n').expect("marker line");
    assert_eq!(marker, "bound");
    let mounts = parse_mountinfo(info);
    let tmpfs = find_mount(&mounts, "/relative/x").expect("a mount at /relative/x");
    assert_eq!(tmpfs.fstype, "tmpfs", "{tmpfs:?}");
    assert!(find_mount(&mounts, "/rel-bind").is_some(), "{mounts:#?}");
}

/// `linux.timeOffsets` needs a new time namespace, and offsets only monotonic and boottime, with
/// nanoseconds below a second.
#[test]
fn time_offsets_without_a_new_time_namespace_or_for_another_clock() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.set("/linux/timeOffsets", json!({"boottime": {"secs": 5}}));
    create_fails(&h, &b).assert_error("linux.timeOffsets: needs a new time namespace");
    b.push(
        "/linux/namespaces",
        json!({"type": "time", "path": "/proc/1/ns/time"}),
    );
    create_fails(&h, &b).assert_error("linux.timeOffsets: needs a new time namespace");
    let mut b = h.bundle_private();
    b.push("/linux/namespaces", json!({"type": "time"}));
    b.set("/linux/timeOffsets", json!({"realtime": {"secs": 5}}));
    create_fails(&h, &b).assert_error("linux.timeOffsets.realtime: unknown clock");
    b.set(
        "/linux/timeOffsets",
        json!({"monotonic": {"secs": 5, "nanosecs": 1000000000u32}}),
    );
    create_fails(&h, &b).assert_error("linux.timeOffsets.monotonic.nanosecs");
}

/// Mappings the kernel would refuse after the clone, a namespace without mappings or mappings
/// without a namespace, unmapped process ids, mappings for a joined user namespace, and the one
/// combination a staged init cannot build: each refused naming the field, leaving nothing.
#[test]
fn user_namespace_mappings_the_kernel_would_refuse() {
    let h = harness!();
    let map = |c: u32, host: u32, n: u32| json!({"containerID": c, "hostID": host, "size": n});
    let with = |uids: serde_json::Value, gids: serde_json::Value| {
        let mut b = h.bundle_private();
        b.push("/linux/namespaces", json!({"type": "user"}));
        b.set("/linux/uidMappings", uids);
        b.set("/linux/gidMappings", gids);
        b
    };
    let ok = json!([map(0, 100000, 65536)]);
    let many: Vec<_> = (0..341).map(|i| map(i, 100000 + i, 1)).collect();
    for (b, error) in [
        (
            with(
                json!([map(0, 100000, 1000), map(500, 300000, 10)]),
                ok.clone(),
            ),
            "linux.uidMappings[1]: its container ids overlap those of linux.uidMappings[0]",
        ),
        (
            with(
                ok.clone(),
                json!([map(0, 100000, 1000), map(1000, 100999, 10)]),
            ),
            "linux.gidMappings[1]: its host ids overlap those of linux.gidMappings[0]",
        ),
        (
            with(json!([map(1, 100000, 1000)]), ok.clone()),
            "linux.uidMappings: maps no container id 0",
        ),
        (
            with(json!([map(0, 100000, 0)]), ok.clone()),
            "linux.uidMappings[0]: size must be at least 1",
        ),
        (
            with(json!([map(0, 4294967000, 1000)]), ok.clone()),
            "linux.uidMappings[0]: the range passes the largest id",
        ),
        (
            with(json!(many), ok.clone()),
            "linux.uidMappings: 341 mappings: the kernel takes at most 340",
        ),
        (
            with(json!([]), ok.clone()),
            "linux.uidMappings: needs at least one mapping",
        ),
        (
            with(json!([map(0, 100000, 100)]), ok.clone())
                .set("/process/user/uid", json!(1000))
                .clone(),
            "process.user.uid: 1000 is not mapped by linux.uidMappings",
        ),
        (
            with(ok.clone(), json!([map(0, 100000, 100)]))
                .set("/process/user/additionalGids", json!([5, 200]))
                .clone(),
            "process.user.additionalGids[1]: 200 is not mapped by linux.gidMappings",
        ),
    ] {
        create_fails(&h, &b).assert_error(error);
    }
    let mut b = h.bundle_private();
    b.set("/linux/uidMappings", ok.clone());
    create_fails(&h, &b).assert_error("linux.uidMappings: needs a user namespace");
    let mut b = with(ok.clone(), ok.clone());
    let nss = b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces");
    nss.retain(|n| n["type"] != "user");
    nss.push(json!({"type": "user", "path": "/proc/1/ns/user"}));
    create_fails(&h, &b)
        .assert_error("linux.uidMappings: a joined user namespace keeps its own mappings");
    let mut b = with(ok.clone(), ok.clone());
    let nss = b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces");
    nss.retain(|n| n["type"] != "mount");
    nss.push(json!({"type": "mount", "path": "/proc/1/ns/mnt"}));
    nss.push(json!({"type": "time"}));
    create_fails(&h, &b).assert_error(
        "a new time namespace beside a user namespace and a joined mount namespace is not supported yet",
    );
}

/// Idmapped mounts the kernel cannot make or runc refuses: not a bind, no user namespace, one list
/// without the other, ranges that overlap. Each refused naming the field, leaving nothing.
#[test]
fn idmapped_mounts_that_cannot_be_made() {
    let h = harness!();
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let with_user = |b: &mut Bundle| {
        b.push("/linux/namespaces", json!({"type": "user"}));
        b.set("/linux/uidMappings", map.clone());
        b.set("/linux/gidMappings", map.clone());
    };
    let bind = |extra: serde_json::Value| {
        let mut m = json!({"destination": "/mnt", "type": "bind", "source": "/tmp",
            "options": ["rbind", "idmap"]});
        if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
            m.extend(extra.clone());
        }
        m
    };
    let ranges = json!([{"containerID": 0, "hostID": 1000, "size": 10},
        {"containerID": 5, "hostID": 2000, "size": 10}]);
    let one = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    for (user, mount, error) in [
        (
            true,
            json!({"destination": "/mnt", "type": "tmpfs", "options": ["idmap"]}),
            "mounts[7].options[0]: only a bind mount can be idmapped",
        ),
        (
            false,
            bind(json!({})),
            "mounts[7].options[1]: an idmapped mount needs a new user namespace",
        ),
        (
            true,
            bind(json!({"uidMappings": one})),
            "mounts[7].gidMappings: is required with mounts[].uidMappings",
        ),
        (
            true,
            bind(json!({"uidMappings": ranges, "gidMappings": one})),
            "mounts[7].uidMappings[1]: its container ids overlap those of mounts[7].uidMappings[0]",
        ),
    ] {
        let mut b = h.bundle_private();
        if user {
            with_user(&mut b);
        }
        b.add_mount(mount);
        create_fails(&h, &b).assert_error(error);
    }
}

/// Fields sangja cannot apply yet are refused naming the field, never accepted and ignored.
#[test]
fn fields_not_applied_yet_are_refused() {
    let h = harness!();
    for (pointer, value, field) in [
        (
            "/process/scheduler",
            json!({"policy": "SCHED_BATCH"}),
            "process.scheduler",
        ),
        (
            "/process/ioPriority",
            json!({"class": "IOPRIO_CLASS_BE", "priority": 4}),
            "process.ioPriority",
        ),
        (
            "/process/execCPUAffinity",
            json!({"initial": "0"}),
            "process.execCPUAffinity",
        ),
        (
            "/linux/personality",
            json!({"domain": "LINUX32"}),
            "linux.personality",
        ),
        (
            "/linux/memoryPolicy",
            json!({"mode": "MPOL_BIND", "nodes": "0"}),
            "linux.memoryPolicy",
        ),
        (
            "/linux/netDevices",
            json!({"dummy0": {"name": "eth1"}}),
            "linux.netDevices",
        ),
    ] {
        let mut b = h.bundle_private();
        b.set(pointer, value);
        create_fails(&h, &b).assert_error(&format!("{field}: is not supported by sangja yet"));
    }
}

#[test]
fn intel_rdt_is_refused_naming_the_field() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.set("/linux/intelRdt", json!({"closID": "sangja-test"}));
    create_fails(&h, &b).assert_error("linux.intelRdt: ");
}

/// runc ignores letters other than r, w and m, so `RWM` becomes a rule matching nothing (a deny
/// that denies nothing); sangja refuses an access with none of the three.
#[test]
fn device_access_without_r_w_or_m_is_refused_naming_the_field() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.set(
        "/linux/resources/devices",
        json!([{"allow": false, "access": "rwm"}, {"allow": false, "type": "c", "access": "RWM"}]),
    );
    create_fails(&h, &b).assert_error("linux.resources.devices[1].access: ");
}

#[test]
fn ids_beyond_i32_max_are_refused_naming_the_field() {
    // 4294967295 is (uid_t)-1, "unchanged" to setresuid/setresgid: the process would stay root.
    let h = harness!();
    for (pointer, value, field) in [
        (
            "/process/user/uid",
            json!(4294967295u32),
            "process.user.uid",
        ),
        (
            "/process/user/gid",
            json!(2147483648u32),
            "process.user.gid",
        ),
        (
            "/process/user/additionalGids",
            json!([5, 4294967295u32]),
            "process.user.additionalGids[1]",
        ),
    ] {
        let mut b = h.bundle_private();
        b.args(&["touch", "/ran"]);
        b.set(pointer, value);
        let out = create_fails(&h, &b);
        out.assert_error(&format!("{field}: "));
        assert!(out.stderr.contains("range 0-2147483647"), "{out}");
        assert!(!b.rootfs().join("ran").exists());
    }
}

#[test]
fn cpu_shares_out_of_range_refused_at_create_and_update() {
    let h = harness!();
    for (shares, bound) in [
        (262_145, "the maximum allowed cpu-shares is 262144"),
        (1, "the minimum allowed cpu-shares is 2"),
    ] {
        let mut b = h.bundle_private();
        b.set("/linux/resources/cpu", json!({"shares": shares}));
        let out = create_fails(&h, &b);
        out.assert_error(&format!(
            "linux.resources.cpu.shares: {shares} is out of range: {bound}"
        ));
    }
    let mut b = h.bundle_private();
    b.args(&["sleep", "100"]);
    b.set("/linux/resources/cpu", json!({"shares": 512}));
    let c = h.create_and_start(&b);
    let file = cpu_weight_file(&format!("/sangja/{}", c.id));
    let before = host::read_trim(&file);
    h.cmd(&["update", "--cpu-share", "300000", &c.id])
        .assert_error("linux.resources.cpu.shares: 300000 is out of range");
    assert_eq!(host::read_trim(&file), before, "{}", file.display());
    assert_eq!(h.status(&c.id), "running");
}

/// The file `cpu.shares` lands in for cgroup `path`: v1 `cpu.shares`, else cgroup2 `cpu.weight`.
fn cpu_weight_file(path: &str) -> PathBuf {
    if let Some(d) = host::v1_dir("cpu", path) {
        return d.join("cpu.shares");
    }
    let m = host::cgroup_mounts()
        .into_iter()
        .find(|m| m.fstype == "cgroup2")
        .expect("a cpu controller somewhere");
    m.path.join(path.trim_start_matches('/')).join("cpu.weight")
}

#[test]
fn delete_of_a_running_container_without_force() {
    let h = harness!();
    let mut b = h.bundle_private();
    b.args(&["sleep", "30"]);
    let c = h.create_and_start(&b);
    h.cmd(&["delete", &c.id]).assert_error("running");
    assert_eq!(h.status(&c.id), "running");
    h.cmd(&["kill", &c.id, "KILL"]).ok();
    h.wait_status(&c.id, "stopped", secs(10));
    h.cmd(&["delete", &c.id]).ok();
    assert_nothing_left(&h, &c.id, &b);
}

/// A memory limit the init cannot even start under: the error says so and names the field
/// (instead of "the init exited"), and nothing is left behind.
#[test]
fn memory_limit_too_low_for_the_init() {
    let h = harness!();
    let mut b = h.bundle();
    b.args(&["true"]);
    b.set(
        "/linux/resources/memory",
        serde_json::json!({"limit": 1000}),
    );
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &[]);
    out.assert_error("linux.resources.memory.limit (1000 bytes) is too low");
    assert_nothing_left(&h, &id, &b);
}

#[test]
fn refused_rlimit_names_the_limit() {
    // Raising a hard limit above ours needs CAP_SYS_RESOURCE (which this machine's bounding set lacks;
    // elsewhere the test process must drop it): the error names the limit, as config.json spells it.
    let h = harness!();
    let mut b = h.bundle_private();
    let hard = fs::read_to_string("/proc/self/limits")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4).map(str::to_string))
        .unwrap();
    let above: u64 = hard.parse::<u64>().unwrap() + 1;
    b.set(
        "/process/rlimits",
        json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": above}]),
    );
    let caps = fs::read_to_string("/proc/self/status").unwrap();
    let eff = caps
        .lines()
        .find(|l| l.starts_with("CapEff:"))
        .and_then(|l| u64::from_str_radix(l.split_whitespace().nth(1).unwrap(), 16).ok())
        .unwrap();
    assert_eq!(
        eff & (1 << 24), // CAP_SYS_RESOURCE
        0,
        "run this test without CAP_SYS_RESOURCE (capsh --drop=cap_sys_resource --)"
    );
    let out = create_fails(&h, &b);
    out.assert_error("setrlimit RLIMIT_NOFILE: operation not permitted");
}

/// The host's AppArmor and SELinux, as `sangja` probes them (runc's checks).
fn host_lsms() -> (bool, bool) {
    let apparmor = std::path::Path::new("/sys/kernel/security/apparmor").exists()
        && fs::read("/sys/module/apparmor/parameters/enabled").is_ok_and(|b| b.starts_with(b"Y"));
    let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    (apparmor, selinux)
}

#[test]
fn lsm_profile_or_label_without_the_module_names_the_field() {
    // runc errors too, each way: its `exec <profile>` write fails with EINVAL (no module takes it),
    // its validation refuses a process label, and the kernel refuses `context=` mount options. The
    // LSM-enabled cases are the VM tests of lsm_vm.rs.
    let (apparmor, selinux) = host_lsms();
    let h = harness!();
    if !apparmor {
        let mut b = h.bundle_private();
        b.set("/process/apparmorProfile", json!("sangja-nope"));
        let out = create_fails(&h, &b);
        out.assert_error("process.apparmorProfile");
        assert!(
            out.stderr.contains("sangja-nope"),
            "names the profile:\n{out}"
        );
    }
    if !selinux {
        let mut b = h.bundle_private();
        b.set(
            "/process/selinuxLabel",
            json!("system_u:system_r:container_t:s0"),
        );
        create_fails(&h, &b).assert_error("process.selinuxLabel");
        let mut b = h.bundle_private();
        b.set(
            "/linux/mountLabel",
            json!("system_u:object_r:container_file_t:s0"),
        );
        create_fails(&h, &b).assert_error("linux.mountLabel");
    }
    // Empty strings mean "none", as runc.
    let mut b = h.bundle_private();
    b.set("/process/apparmorProfile", json!(""));
    b.set("/process/selinuxLabel", json!(""));
    b.set("/linux/mountLabel", json!(""));
    b.set("/process/args", json!(["true"]));
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &[]);
    out.ok();
    h.cmd(&["delete", "-f", &id]).ok();
}

/// A `/proc/sys` value of the host, trimmed.
fn host_sysctl(key: &str) -> String {
    host::read_trim(&PathBuf::from("/proc/sys").join(key.replace('.', "/")))
}

#[test]
fn sysctls_outside_the_containers_namespaces_are_refused() {
    let h = harness!();
    let swappiness = host_sysctl("vm.swappiness");
    let fwd = host_sysctl("net.ipv4.ip_forward");
    let msgmax = host_sysctl("kernel.msgmax");
    let other = |v: &str| if v == "1" { "0" } else { "1" }.to_string();
    let own = std::process::id();
    let no = |kind: &str| format!("!{kind}");
    let join = |kind: &str, ns: &str| format!("{kind}=/proc/{own}/ns/{ns}");
    // (key, value, namespace edit, error): a `!kind` edit drops the namespace, `kind=path` joins one.
    let cases = [
        (
            "vm.swappiness",
            other(&swappiness),
            String::new(),
            "is not in a separate kernel namespace",
        ),
        (
            "net.ipv4.ip_forward",
            other(&fwd),
            no("network"),
            "not allowed in host network namespace",
        ),
        (
            "net.ipv4.ip_forward",
            other(&fwd),
            join("network", "net"),
            "not allowed in host network namespace",
        ),
        (
            "kernel.msgmax",
            other(&msgmax),
            no("ipc"),
            "is not allowed in the hosts ipc namespace",
        ),
        (
            "kernel.msgmax",
            other(&msgmax),
            join("ipc", "ipc"),
            "is not allowed in the hosts ipc namespace",
        ),
    ];
    for (key, value, edit, why) in cases {
        let mut b = h.bundle_private();
        b.set("/linux/sysctl", json!({ key: value }));
        let nss = b.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces");
        if let Some(kind) = edit.strip_prefix('!') {
            nss.retain(|n| n["type"] != kind);
        } else if let Some((kind, path)) = edit.split_once('=') {
            for n in nss.iter_mut().filter(|n| n["type"] == kind) {
                n["path"] = json!(path);
            }
        }
        create_fails(&h, &b)
            .assert_error(&format!(r#"linux.sysctl.{key}: sysctl \"{key}\" {why}"#));
    }
    let mut b = h.bundle_private();
    b.set("/linux/sysctl", json!({"net/ipv4/ip_forward": other(&fwd)}));
    create_fails(&h, &b).assert_error("linux.sysctl.net/ipv4/ip_forward: invalid sysctl key");
    // The host's values are as they were.
    assert_eq!(host_sysctl("vm.swappiness"), swappiness);
    assert_eq!(host_sysctl("net.ipv4.ip_forward"), fwd);
    assert_eq!(host_sysctl("kernel.msgmax"), msgmax);
}

#[test]
fn net_sysctl_in_a_joined_network_namespace_applies_there() {
    // A `path` that is not the host's network namespace is the container's own: allowed, as runc.
    let h = harness!();
    let mut a = h.bundle_private();
    a.args(&["sleep", "100"]);
    let ca = h.create_and_start(&a);
    let pid = h.pid(&ca.id);
    let host_fwd = host_sysctl("net.ipv4.ip_forward");
    let inside = h.cmd(&["exec", &ca.id, "cat", "/proc/sys/net/ipv4/ip_forward"]);
    let want = if inside.stdout.trim() == "1" {
        "0"
    } else {
        "1"
    };
    let mut b = h.bundle_private();
    for n in b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces")
    {
        if n["type"] == "network" {
            n["path"] = json!(format!("/proc/{pid}/ns/net"));
        }
    }
    b.set("/linux/sysctl", json!({"net.ipv4.ip_forward": want}));
    assert_eq!(
        h.sh(&mut b, "cat /proc/sys/net/ipv4/ip_forward").trim(),
        want
    );
    let out = h.cmd(&["exec", &ca.id, "cat", "/proc/sys/net/ipv4/ip_forward"]);
    assert_eq!(
        out.ok().stdout.trim(),
        want,
        "A shares the namespace B wrote in"
    );
    assert_eq!(host_sysctl("net.ipv4.ip_forward"), host_fwd);
}

/// What runc accepts is accepted: relative `maskedPaths` / `readonlyPaths` (relative to `/`), a
/// bind of the host's procfs at `/proc` for a config in the host's pid namespace. And what runc
/// refuses is refused: `SCMP_ACT_NOTIFY` on `write`, which would make the runtime wait for
/// itself. Each against runc too where it is installed.
#[test]
fn accepted_and_refused_as_runc() {
    let runtimes = spec_tests::sangja_and_runc!();
    for h in &runtimes {
        let name = h.bin().display().to_string();
        let mut b = h.bundle_private();
        b.set("/root/readonly", json!(false));
        b.set("/linux/readonlyPaths", json!(["etc", "proc/sys"]));
        b.set("/linux/maskedPaths", json!(["proc/timer_list"]));
        b.args(&[
            "sh",
            "-c",
            "touch /etc/x 2>/dev/null && echo etc-writable; wc -c < /proc/timer_list",
        ]);
        let out = h.run(&b);
        assert!(out.success(), "{name}: {out}");
        assert_eq!(
            out.stdout.trim(),
            "0",
            "{name}: relative paths not applied: {out}"
        );

        let mut b = h.bundle_private();
        let ns: Vec<Value> = b.config["linux"]["namespaces"]
            .as_array()
            .expect("namespaces")
            .iter()
            .filter(|n| n["type"] != "pid")
            .cloned()
            .collect();
        b.set("/linux/namespaces", json!(ns));
        let mounts: Vec<Value> = b.config["mounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .map(|m| match m["destination"] == "/proc" {
                true => json!({"destination": "/proc", "type": "bind", "source": "/proc",
                    "options": ["rbind", "nosuid", "noexec", "nodev"]}),
                false => m.clone(),
            })
            .collect();
        b.set("/mounts", json!(mounts));
        b.args(&["cat", "/proc/1/comm"]);
        let out = h.run(&b);
        assert!(
            out.success(),
            "{name}: a procfs bind at /proc is refused: {out}"
        );

        // Device rules runc takes: access in any order, letters repeated, letters other than
        // rwm (runc's own update test denies `rwa`), an empty type for all devices (an empty
        // access both refuse). The rules still apply: /dev/zero is read, /dev/kmsg cannot be
        // opened for writing (which needs no capability, so only the device rule refuses it).
        let mut b = h.bundle_private();
        b.set(
            "/linux/resources/devices",
            json!([{"allow": false, "type": "", "access": "rwm"},
                   {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "wrrw"},
                   {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "mwr"},
                   {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rwm"},
                   {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwa"}]),
        );
        b.set(
            "/linux/devices",
            json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]),
        );
        b.args(&[
            "sh",
            "-c",
            "head -c 1 /dev/zero | wc -c; (: > /dev/kmsg) 2>&1 | grep -c 'not permitted'",
        ]);
        let out = h.run(&b);
        assert!(out.success(), "{name}: device rules: {out}");
        assert_eq!(
            out.stdout.split_whitespace().collect::<Vec<_>>(),
            ["1", "1"],
            "{name}: device rules not applied: {out}"
        );

        let mut b = h.bundle_private();
        let agent = h.base().join("agent.sock");
        b.set(
            "/linux/seccomp",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": agent.to_str().unwrap(),
                   "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}),
        );
        let id = h.id();
        let (out, _) = h.try_create(&b, &id, &[]);
        out.failed();
        assert!(out.stderr.contains("write"), "{name}: {out}");
        assert_nothing_left(h, &id, &b);
    }
}
