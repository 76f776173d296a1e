//! sangja on a stock distro (issue 15): Debian 12 with systemd as PID 1 and cgroup v2 only, booted once
//! under qemu ([`spec_tests::guest`]; the image is built from Debian's packages on first use and cached).
//! The guest runs `spec-tests/guest/run.sh` (and `clients.sh`): sangja's systemd cgroup driver
//! (`--systemd-cgroup`: the transient scope, resources as unit properties and files, update, pause,
//! exec, ps, stats, kill --all, delete, a failed or killed create leaving nothing), cgroupfs on a pure v2
//! host, create→delete against runc, and docker, podman and containerd with their default (systemd)
//! cgroup settings. Each test here asserts one group of the guest's checks.
//!
//! Alone: `cargo test -p sangja-shim --test stock_distro` (as root; the first run builds the image).

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};
use spec_tests::config::{runc_spec, set_pointer};
use spec_tests::guest::{self, Payload, Report};

const RUN: &str = include_str!("../guest/run.sh");
const CLIENTS: &str = include_str!("../guest/clients.sh");
const CRI_CLIENT: &str = include_str!("../cri/cri_client.py");
const CRI_PROTO: &str = include_str!("../cri/cri.proto");

/// A `runc spec` config for the guest's rootfs running `args`.
fn config(args: &[&str], cgroups_path: &str) -> Value {
    let mut c = runc_spec();
    set_pointer(&mut c, "/process/terminal", json!(false));
    set_pointer(&mut c, "/process/args", json!(args));
    set_pointer(&mut c, "/root/path", json!("/var/lib/sangja-test/rootfs"));
    if !cgroups_path.is_empty() {
        set_pointer(&mut c, "/linux/cgroupsPath", json!(cgroups_path));
    }
    c
}

/// `config` with a new user namespace (container 0–65535 on host 100000–165535) and an idmapped
/// bind of `/var/lib/sangja-test/idsrc` (the guest's root's files) at `/mnt`.
fn userns(args: &[&str], cgroups_path: &str) -> serde_json::Value {
    let mut c = config(args, cgroups_path);
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    set_pointer(&mut c, "/linux/uidMappings", map.clone());
    set_pointer(&mut c, "/linux/gidMappings", map);
    if let Some(ns) = c["linux"]["namespaces"].as_array_mut() {
        ns.push(json!({"type": "user"}));
    }
    if let Some(m) = c["mounts"].as_array_mut() {
        m.push(json!({"destination": "/mnt", "type": "bind",
            "source": "/var/lib/sangja-test/idsrc", "options": ["rbind", "idmap"]}));
    }
    c
}

fn bundles(p: &Payload) {
    let mut sd = config(&["sleep", "1000"], "system.slice:sangja:sd1");
    set_pointer(
        &mut sd,
        "/linux/resources",
        json!({
            "memory": {"limit": 67108864},
            "pids": {"limit": 32},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000}
        }),
    );
    // A node the config makes but does not allow: the device program keeps it closed.
    set_pointer(
        &mut sd,
        "/linux/devices",
        json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 420}]),
    );
    set_pointer(
        &mut sd,
        "/annotations",
        json!({"org.systemd.property.TimeoutStopSec": "7"}),
    );
    let fs = {
        let mut c = config(&["sleep", "1000"], "/sangja-fs/fs1");
        set_pointer(
            &mut c,
            "/linux/resources",
            json!({"memory": {"limit": 67108864}}),
        );
        c
    };
    for (name, c) in [
        ("sd", sd),
        (
            "sd-bad",
            config(&["/nonexistent"], "system.slice:sangja:sdbad"),
        ),
        ("sd-default", config(&["sleep", "1000"], "")),
        (
            "sd-nested",
            config(&["sleep", "1000"], "machine-sangja.slice:sangja:sdn"),
        ),
        (
            "sd-kill",
            config(&["sleep", "1000"], "system.slice:sangja:sdk"),
        ),
        ("fs", fs),
        ("time", config(&["true"], "")),
        ("un", userns(&["sleep", "1000"], "system.slice:sangja:un1")),
        ("un-fs", userns(&["sleep", "1000"], "/sangja-un/un2")),
    ] {
        let text = serde_json::to_vec_pretty(&c).unwrap_or_default();
        p.file(&format!("bundles/{name}/config.json"), &text, 0o644);
    }
}

/// The one boot of this test run, shared by the tests below.
fn report() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        let p = Payload::new("stock");
        p.copy(
            "sangja",
            &spec_tests::sangja_bin(env!("CARGO_BIN_EXE_sangja")),
        );
        p.copy("sangja-dist", &guest::dist_binary());
        p.copy("busybox", &spec_tests::rootfs::busybox());
        // SANGJA_GUEST_RUN: another script in place of run.sh (to look into one thing by hand).
        let run = std::env::var_os("SANGJA_GUEST_RUN")
            .map(|f| std::fs::read(&f).unwrap_or_else(|e| panic!("SANGJA_GUEST_RUN: {e}")))
            .unwrap_or_else(|| RUN.as_bytes().to_vec());
        p.file("run", &run, 0o755);
        p.file("clients.sh", CLIENTS.as_bytes(), 0o644);
        p.file("cri/cri_client.py", CRI_CLIENT.as_bytes(), 0o755);
        p.file("cri/cri.proto", CRI_PROTO.as_bytes(), 0o644);
        let work = std::env::temp_dir().join(format!("sangja-stock-image-{}", std::process::id()));
        let archive = spec_tests::image::oci_archive(
            &work,
            "localhost/sangja-pause:latest",
            &["sleep", "1000000"],
        )
        .unwrap_or_else(|e| panic!("pause image: {e}"));
        p.copy("pause.tar", &archive);
        let _ = std::fs::remove_dir_all(&work);
        bundles(&p);
        let r = guest::boot(&p, 256, 4096, Duration::from_secs(40 * 60));
        eprintln!(
            "stock-distro guest ({}) ran {:?}; report:\n{}",
            r.accel, r.took, r.report
        );
        r
    })
}

fn assert_checks(prefix: &str) {
    let r = report();
    assert!(r.finished(), "the guest did not finish\n{}", r.tail());
    let names: Vec<&str> = r
        .report
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("CHECK "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .collect();
    assert!(!names.is_empty(), "no {prefix}* checks ran\n{}", r.tail());
    for n in names {
        r.assert_ok(n);
    }
}

#[test]
fn systemd_driver_scope_resources_and_lifecycle() {
    let r = report();
    for name in [
        "sd.run",
        "sd.delegate",
        "sd.init_in_scope",
        "sd.memory_unit",
        "sd.memory_file",
        "sd.cpu_quota_unit",
        "sd.annotation",
        "sd.after_reload",
        "sd.dev_denied",
        "sd.update_unit",
        "sd.update_after_reload",
        "sd.exec_in_scope",
        "sd.paused",
        "sd.ps",
        "sd.stats",
        "sd.kill_all",
        "sd.no_unit_left",
        "sd.no_cgroup_left",
        "sd.bad_no_unit",
        "sd.default_unit",
        "sd.nested_cgroup",
        "sd.killed_create_no_unit",
        "sd.private_socket",
        "sd.private_socket_unit",
    ] {
        r.assert_ok(name);
    }
    assert_checks("sd.");
}

#[test]
fn cgroupfs_on_a_pure_v2_host() {
    assert_checks("fs.");
}

#[test]
fn user_namespaces_and_idmapped_mounts_on_debian_12() {
    assert_checks("un.");
}

#[test]
fn create_delete_against_runc_and_the_systemd_step() {
    let r = report();
    assert_checks("time.");
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let sangja = median(r.metric("sangja_systemd_create_delete_ms"));
    let runc = median(r.metric("runc_systemd_create_delete_ms"));
    let step = median(r.metric("sangja_systemd_step_us"));
    let cgroupfs = median(r.metric("sangja_cgroupfs_create_delete_ms"));
    // Figures, not assertions on speed (the benches measure): each series must have run.
    eprintln!(
        "guest ({}): create→delete median sangja {sangja:?} ms, runc {runc:?} ms (both --systemd-cgroup), \
         sangja with cgroupfs {cgroupfs:?} ms; systemd step {step:?} µs",
        r.accel
    );
    assert!(
        sangja.is_some() && runc.is_some() && step.is_some() && cgroupfs.is_some(),
        "a timing series is missing\n{}",
        r.tail()
    );
}

#[test]
fn docker_with_its_systemd_driver() {
    assert_checks("docker.");
}

#[test]
fn podman_with_its_systemd_cgroup_manager() {
    assert_checks("podman.");
}

#[test]
fn containerd_cri_with_systemd_cgroup() {
    assert_checks("cri.");
}

#[test]
fn nothing_is_left_in_the_guest() {
    assert_checks("end.");
}
