//! The two examples run as a user would run them, against the spec tests' busybox rootfs: the
//! bundle-directory lifecycle (`examples/lifecycle.rs`) and the in-memory spec with piped output
//! (`examples/in_memory.rs`). `cargo test` builds them next to this test's binary.
//!
//! Needs root (they run real containers): recorded as a skip otherwise.
use std::path::PathBuf;
use std::process::Command;

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// `target/<profile>/examples/<name>`, beside `target/<profile>/deps/<this test>`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{}: not built (cargo test builds the examples)",
        path.display()
    );
    path
}

#[test]
fn lifecycle_example_runs_a_bundle() {
    if !is_root() {
        spec_tests::skip!("examples: lifecycle", "not root");
    }
    let dir = std::env::temp_dir().join(format!("sangja-example-bundle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bundle dir");
    let mut c = spec_tests::config::runc_spec();
    spec_tests::config::set_pointer(&mut c, "/process/terminal", serde_json::json!(false));
    spec_tests::config::set_pointer(
        &mut c,
        "/process/args",
        serde_json::json!(["sh", "-c", "echo from-the-bundle; exit 3"]),
    );
    let rootfs = spec_tests::rootfs::shared();
    spec_tests::config::set_pointer(&mut c, "/root/path", serde_json::json!(rootfs));
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec(&c).expect("json"),
    )
    .expect("config.json");
    let out = Command::new(example("lifecycle"))
        .arg(&dir)
        .output()
        .expect("run the lifecycle example");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("from-the-bundle"), "{stdout}");
    assert!(stdout.contains("container exited with 3"), "{stdout}");
}

#[test]
fn in_memory_example_reads_the_containers_output() {
    if !is_root() {
        spec_tests::skip!("examples: in_memory", "not root");
    }
    let rootfs = spec_tests::rootfs::shared();
    let out = Command::new(example("in_memory"))
        .arg(rootfs)
        .args(["sh", "-c", "echo piped-$((6 * 7)); hostname"])
        .output()
        .expect("run the in_memory example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What the container wrote came through the pipe (runc spec's hostname is "runc").
    assert_eq!(stdout, "piped-42\nrunc\ncontainer exited with 0\n");
}
