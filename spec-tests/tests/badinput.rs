//! Bad input: each gets a one-line error naming the field or path, a non-zero exit, and leaves no state dir,
//! cgroup, mount or process behind. Wording clients match on is runc's exactly.

use std::fs;

use serde_json::json;
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

#[test]
fn relative_mount_destination() {
    let h = harness!();
    let mut b = h.bundle_private();
    let i = b.add_mount(json!({"destination": "relative/x", "type": "tmpfs", "source": "tmpfs"}));
    create_fails(&h, &b).assert_error(&format!("mounts[{i}].destination"));
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
