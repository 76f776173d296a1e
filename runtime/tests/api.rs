//! The embedder's API beyond create/start/wait (which threads.rs and examples.rs cover):
//! validation without side effects, exec of a runtime-spec process with piped stdio, hooks
//! switched off, and options that contradict the config.
//!
//! Needs root (real containers): recorded as a skip otherwise.
use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use sangja::{Container, ContainerBuilder, ExecOptions, Stdio};

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// runc's spec on the shared busybox rootfs, running `args`, no terminal.
fn spec(args: &[&str]) -> serde_json::Value {
    let mut c = spec_tests::config::runc_spec();
    spec_tests::config::set_pointer(&mut c, "/process/terminal", serde_json::json!(false));
    spec_tests::config::set_pointer(&mut c, "/process/args", serde_json::json!(args));
    let rootfs = spec_tests::rootfs::shared();
    spec_tests::config::set_pointer(&mut c, "/root/path", serde_json::json!(rootfs));
    c
}

fn typed(v: serde_json::Value) -> Spec {
    serde_json::from_value(v).expect("spec")
}

/// A private state root, removed (with any container left in it) on drop.
struct Root(PathBuf);

impl Root {
    fn new(name: &str) -> Root {
        Root(std::env::temp_dir().join(format!("sangja-api-{name}-{}", std::process::id())))
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        if let Ok(list) = Container::list(&self.0) {
            for c in list {
                let _ = c.delete(true);
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn validate_names_the_field_and_makes_nothing() {
    if !is_root() {
        spec_tests::skip!("api: validate", "not root");
    }
    let root = Root::new("validate");
    let mut bad = spec(&["true"]);
    spec_tests::config::set_pointer(
        &mut bad,
        "/linux/sysctl",
        serde_json::json!({"vm.swappiness": "10"}),
    );
    let b = ContainerBuilder::new("api-validate")
        .root(&root.0)
        .spec(typed(bad));
    let err = b
        .validate()
        .expect_err("a host sysctl must be refused")
        .to_string();
    assert!(err.contains("linux.sysctl.vm.swappiness"), "{err}");
    assert_eq!(
        entries(&root.0),
        0,
        "validate made something in the state root"
    );
    let err = b.create().expect_err("create refuses it too").to_string();
    assert!(err.contains("linux.sysctl.vm.swappiness"), "{err}");
    assert_eq!(entries(&root.0), 0, "a refused create left something");
    let ok = ContainerBuilder::new("api-validate")
        .root(&root.0)
        .spec(typed(spec(&["true"])));
    ok.validate().expect("the plain spec validates");
    assert!(
        ContainerBuilder::new("../x")
            .spec(typed(spec(&["true"])))
            .validate()
            .is_err(),
        "a bad id"
    );
}

#[test]
fn exec_a_process_with_piped_stdio() {
    if !is_root() {
        spec_tests::skip!("api: exec with stdio", "not root");
    }
    let root = Root::new("exec");
    let mut c = ContainerBuilder::new("api-exec")
        .root(&root.0)
        .spec(typed(spec(&["sleep", "30"])))
        .create()
        .expect("create");
    c.start().expect("start");
    let mut process = typed(spec(&["true"])).process().clone().expect("process");
    process.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "read line; echo \"got $line\"; echo oops >&2; exit 4".into(),
    ]));
    let (in_r, mut in_w) = std::io::pipe().expect("pipe");
    let (mut out_r, out_w) = std::io::pipe().expect("pipe");
    let (mut err_r, err_w) = std::io::pipe().expect("pipe");
    let opts = ExecOptions {
        stdio: Stdio {
            stdin: Some(in_r.into()),
            stdout: Some(out_w.into()),
            stderr: Some(err_w.into()),
        },
        ..ExecOptions::default()
    };
    let p = c.exec(&process, &opts).expect("exec");
    drop(opts);
    std::io::Write::write_all(&mut in_w, b"hello\n").expect("write stdin");
    drop(in_w);
    let (mut out, mut err) = (String::new(), String::new());
    out_r.read_to_string(&mut out).expect("read stdout");
    err_r.read_to_string(&mut err).expect("read stderr");
    assert_eq!(p.wait().expect("wait"), 4);
    assert_eq!(out, "got hello\n");
    assert_eq!(err, "oops\n");
    c.kill(libc::SIGKILL, false).expect("kill");
    assert_eq!(c.wait().expect("wait"), 128 + libc::SIGKILL);
    c.delete(false).expect("delete");
}

#[test]
fn hooks_can_be_switched_off() {
    if !is_root() {
        spec_tests::skip!("api: hooks off", "not root");
    }
    let root = Root::new("hooks");
    let marker = root.0.with_extension("hook-ran");
    let _ = std::fs::remove_file(&marker);
    let mut v = spec(&["true"]);
    let hook = serde_json::json!([{
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("touch {}", marker.display())]
    }]);
    spec_tests::config::set_pointer(
        &mut v,
        "/hooks",
        serde_json::json!({"createRuntime": hook, "poststop": hook}),
    );
    for (run_hooks, expect_marker) in [(false, false), (true, true)] {
        let id = format!("api-hooks-{run_hooks}");
        let mut c = ContainerBuilder::new(&id)
            .root(&root.0)
            .spec(typed(v.clone()))
            .hooks(run_hooks)
            .create()
            .expect("create");
        c.start().expect("start");
        assert_eq!(c.wait().expect("wait"), 0);
        c.delete(false).expect("delete");
        assert_eq!(marker.exists(), expect_marker, "hooks({run_hooks})");
        let _ = std::fs::remove_file(&marker);
    }
}

#[test]
fn stdio_fds_with_a_terminal_are_refused() {
    if !is_root() {
        spec_tests::skip!("api: stdio with terminal", "not root");
    }
    let root = Root::new("tty");
    let mut v = spec(&["true"]);
    spec_tests::config::set_pointer(&mut v, "/process/terminal", serde_json::json!(true));
    let (_r, w) = std::io::pipe().expect("pipe");
    let err = ContainerBuilder::new("api-tty")
        .root(&root.0)
        .spec(typed(v))
        .stdout(w)
        .create()
        .expect_err("stdio and a terminal")
        .to_string();
    assert!(err.contains("process.terminal"), "{err}");
    assert_eq!(entries(&root.0), 0);
}
