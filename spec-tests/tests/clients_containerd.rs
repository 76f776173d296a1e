//! containerd drives sangja (issue 7): a private `containerd` (own root, state dir, socket, runc root
//! and fifo dir under a temp dir; no CRI; cgroupfs) runs a busybox image built offline from
//! `/bin/busybox` through `ctr run --runc-binary <sangja>` and the `io.containerd.runc.v2` shim.
//!
//! Needs root and Debian's `containerd` (ctr, containerd-shim-runc-v2), `busybox-static` and
//! `util-linux` (`script`, for a tty). Each test starts its own daemon in its own namespace and stops
//! it on drop, even when the test fails: tasks killed, containers deleted, daemon and shims stopped,
//! mounts under its root unmounted, the namespace's cgroups removed, the temp dir removed.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const IMAGE: &str = "localhost/sangja-busybox:latest";
static COUNTER: AtomicU32 = AtomicU32::new(0);

fn sangja() -> PathBuf {
    spec_tests::harness::sangja_bin(env!("CARGO_BIN_EXE_sangja"))
}

fn sh(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| {
        panic!("spawn {cmd:?}: {e} (apt-get install containerd busybox-static)")
    })
}

fn sha256_file(p: &Path) -> String {
    let o = sh(Command::new("sha256sum").arg(p));
    assert!(o.status.success(), "sha256sum {}", p.display());
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Writes `blobs/sha256/<digest>` and returns (digest, size).
fn put_blob(layout: &Path, src: &Path) -> (String, u64) {
    let d = sha256_file(src);
    let size = fs::metadata(src).unwrap().len();
    fs::copy(src, layout.join("blobs/sha256").join(&d)).unwrap();
    (format!("sha256:{d}"), size)
}

/// An OCI image-layout tarball (one uncompressed layer: static busybox and a few applet links).
fn build_image(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "dev", "proc", "sys", "etc", "tmp", "root"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    let bb = Path::new("/bin/busybox");
    assert!(
        bb.exists(),
        "/bin/busybox missing: apt-get install busybox-static"
    );
    fs::copy(bb, rootfs.join("bin/busybox")).unwrap();
    for a in [
        "sh", "echo", "true", "ps", "sleep", "cat", "tty", "stty", "id", "ls",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();

    let layout = dir.join("layout");
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let layer = dir.join("layer.tar");
    let o = sh(Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&layer)
        .arg("."));
    assert!(
        o.status.success(),
        "tar layer: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (layer_digest, layer_size) = put_blob(&layout, &layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    });
    let cfg = dir.join("config.json");
    fs::write(&cfg, serde_json::to_vec(&config).unwrap()).unwrap();
    let (cfg_digest, cfg_size) = put_blob(&layout, &cfg);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": cfg_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}],
    });
    let man = dir.join("manifest.json");
    fs::write(&man, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let (man_digest, man_size) = put_blob(&layout, &man);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man_digest, "size": man_size,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": IMAGE, "org.opencontainers.image.ref.name": "latest"},
        }],
    });
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let tarball = dir.join("image.tar");
    let o = sh(Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(&layout)
        .arg("-cf")
        .arg(&tarball)
        .arg("."));
    assert!(
        o.status.success(),
        "tar image: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let _ = fs::remove_dir_all(&rootfs);
    tarball
}

/// A private containerd with the busybox image imported into namespace `ns`.
struct Containerd {
    dir: PathBuf,
    sock: PathBuf,
    ns: String,
    daemon: Option<Child>,
}

impl Containerd {
    fn start() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let ns = format!("sangja-ct-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&ns);
        let _ = fs::remove_dir_all(&dir);
        for d in ["root", "state", "runc", "fifo", "img"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        let sock = dir.join("c.sock");
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/c.sock\"\n[ttrpc]\n  address = \"{d}/c.sock.ttrpc\"\n\
             [debug]\n  address = \"{d}/debug.sock\"\n  level = \"debug\"\n",
            d = dir.display()
        );
        fs::write(dir.join("config.toml"), config).unwrap();
        let log = fs::File::create(dir.join("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn containerd (apt-get install containerd)");
        // From here on, Drop cleans up whatever happens.
        let c = Self {
            dir,
            sock,
            ns,
            daemon: Some(daemon),
        };
        let t0 = Instant::now();
        while !c.ctr_quiet(&["version"]).status.success() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "containerd did not come up: {}",
                fs::read_to_string(c.dir.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let image = build_image(&c.dir.join("img"));
        let o = c.ctr(&["image", "import", image.to_str().unwrap()]);
        assert!(o.status.success(), "image import: {}", text(&o.stderr));
        c
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address").arg(&self.sock).args(["-n", &self.ns]);
        cmd.current_dir(&self.dir).stdin(Stdio::null());
        cmd
    }

    /// `task exec` gets `--fifo-dir` inside our temp dir too (ctr's default is /run/containerd/fifo).
    fn with_fifo_dir(&self, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if args.starts_with(&["task", "exec"]) {
            v.insert(2, "--fifo-dir".into());
            v.insert(3, self.dir.join("fifo").to_str().unwrap().into());
        }
        v
    }

    fn ctr_quiet(&self, args: &[&str]) -> Output {
        sh(self.cmd().args(self.with_fifo_dir(args)))
    }

    fn ctr(&self, args: &[&str]) -> Output {
        let o = self.ctr_quiet(args);
        eprintln!(
            "ctr {} -> {:?}\n  stdout: {}\n  stderr: {}",
            args.join(" "),
            o.status.code(),
            text(&o.stdout).trim_end(),
            text(&o.stderr).trim_end()
        );
        o
    }

    /// `ctr run` flags selecting sangja with runtime root and fifos inside our temp dir.
    fn run_flags(&self, bin: &Path) -> Vec<String> {
        vec![
            "--runc-binary".into(),
            bin.to_str().unwrap().into(),
            "--runc-root".into(),
            self.dir.join("runc").to_str().unwrap().into(),
            "--fifo-dir".into(),
            self.dir.join("fifo").to_str().unwrap().into(),
        ]
    }

    fn run(&self, extra: &[&str], id: &str, args: &[&str]) -> Output {
        let flags = self.run_flags(&sangja());
        let mut a: Vec<&str> = vec!["run"];
        a.extend(extra);
        a.extend(flags.iter().map(String::as_str));
        a.push(IMAGE);
        a.push(id);
        a.extend(args);
        self.ctr(&a)
    }

    /// `ctr ...` under a pty (`script`), so that `-t` has a terminal; returns (exit code, output).
    fn under_pty(&self, args: &[&str]) -> (Option<i32>, String) {
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let mut line = format!(
            "ctr --address {} -n {}",
            quote(self.sock.to_str().unwrap()),
            quote(&self.ns)
        );
        for a in self.with_fifo_dir(args) {
            line.push(' ');
            line.push_str(&quote(&a));
        }
        let o = sh(Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .current_dir(&self.dir)
            .stdin(Stdio::null()));
        let out = format!("{}{}", text(&o.stdout), text(&o.stderr));
        eprintln!("script: {line} -> {:?}\n{out}", o.status.code());
        (o.status.code(), out)
    }

    fn task_status(&self, id: &str) -> String {
        let o = self.ctr_quiet(&["task", "ls"]);
        text(&o.stdout)
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or("")
            .to_string()
    }

    fn wait_status(&self, id: &str, want: &str) {
        let t0 = Instant::now();
        loop {
            let s = self.task_status(id);
            if s == want {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "task {id} status {s:?}, want {want}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_json(&self, id: &str) -> String {
        let p = self
            .dir
            .join("state/io.containerd.runtime.v2.task")
            .join(&self.ns)
            .join(id)
            .join("log.json");
        fs::read_to_string(p).unwrap_or_default()
    }

    /// Pids of shims serving this daemon (their command line names our socket).
    fn shim_pids(&self) -> Vec<i32> {
        let needle = format!("-address\0{}\0", self.sock.display());
        let mut pids = Vec::new();
        for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            if cmdline.starts_with("/usr/bin/containerd-shim") && cmdline.contains(&needle) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.sock.exists() {
            let tasks = self.ctr_quiet(&["task", "ls", "-q"]);
            for t in text(&tasks.stdout).lines().filter(|l| !l.is_empty()) {
                let _ = self.ctr_quiet(&["task", "kill", "-s", "SIGKILL", t]);
                let _ = self.ctr_quiet(&["task", "delete", "-f", t]);
            }
            let cs = self.ctr_quiet(&["container", "ls", "-q"]);
            for c in text(&cs.stdout).lines().filter(|l| !l.is_empty()) {
                let _ = self.ctr_quiet(&["container", "delete", c]);
            }
        }
        if let Some(mut d) = self.daemon.take() {
            // SAFETY: kill(2) on the pid of a child we spawned and have not yet reaped.
            unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
            let t0 = Instant::now();
            while d.try_wait().ok().flatten().is_none() && t0.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
        for pid in self.shim_pids() {
            // SAFETY: kill(2) on a shim of our own daemon, found by its socket address.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // Mounts under our dir, deepest first.
        let prefix = self.dir.to_str().unwrap().to_string();
        let mut mounts: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        // ctr puts the cgroups at /<ns>/<id> under each hierarchy.
        for h in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let ns = h.path().join(&self.ns);
            if ns.is_dir() {
                for c in fs::read_dir(&ns).into_iter().flatten().flatten() {
                    if c.path().is_dir() {
                        let _ = fs::remove_dir(c.path());
                    }
                }
                let _ = fs::remove_dir(&ns);
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "containerd log:\n{}",
                fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
            );
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn ctr_run_propagates_output_and_exit_code() {
    let c = Containerd::start();
    let o = c.run(&["--rm"], "hello", &["echo", "hello"]);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "hello\n");
    let o = c.run(&["--rm"], "exit3", &["sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    let o = c.ctr(&["container", "ls", "-q"]);
    assert_eq!(text(&o.stdout).trim(), "", "ctr run --rm left containers");
}

#[test]
fn ctr_run_reports_sangjas_error() {
    let c = Containerd::start();
    let o = c.run(&["--rm"], "nocmd", &["/nonexistent"]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("OCI runtime create failed")
            && err
                .contains(r#"exec: "/nonexistent": stat /nonexistent: no such file or directory"#),
        "{err}"
    );
}

#[test]
fn ctr_run_with_a_missing_binary_fails_cleanly() {
    let c = Containerd::start();
    let flags = c.run_flags(Path::new("/nonexistent/sangja"));
    let mut a: Vec<&str> = vec!["run", "--rm"];
    a.extend(flags.iter().map(String::as_str));
    a.extend([IMAGE, "nobin", "true"]);
    let o = c.ctr(&a);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("/nonexistent/sangja"),
        "{}",
        text(&o.stderr)
    );
    let o = c.ctr(&["container", "ls", "-q"]);
    assert_eq!(text(&o.stdout).trim(), "");
}

#[test]
fn ctr_detached_task_lifecycle() {
    let c = Containerd::start();
    let id = "det";
    let o = c.run(&["-d"], id, &["sleep", "1000"]);
    assert!(o.status.success());
    c.wait_status(id, "RUNNING");

    let o = c.ctr(&["task", "exec", "--exec-id", "e1", id, "ps"]);
    assert!(o.status.success());
    let ps = text(&o.stdout);
    assert!(ps.contains("sleep 1000") && ps.contains(" ps"), "{ps}");
    let o = c.ctr(&["task", "exec", "--exec-id", "e2", id, "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    let o = c.ctr(&["task", "exec", "--exec-id", "e3", id, "/nope"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("OCI runtime exec failed: sangja exec failed"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        c.log_json(id).contains(r#""level":"error""#),
        "log.json: {}",
        c.log_json(id)
    );

    let o = c.ctr(&["task", "ps", id]);
    assert!(o.status.success());
    assert_eq!(
        text(&o.stdout).lines().count(),
        2,
        "one process: {}",
        text(&o.stdout)
    );
    let o = c.ctr(&["task", "metrics", id]);
    assert!(o.status.success());
    assert!(
        text(&o.stdout).contains("pids.current"),
        "{}",
        text(&o.stdout)
    );

    assert!(c.ctr(&["task", "pause", id]).status.success());
    c.wait_status(id, "PAUSED");
    assert!(c.ctr(&["task", "resume", id]).status.success());
    c.wait_status(id, "RUNNING");
    let o = c.ctr(&["task", "exec", "--exec-id", "e4", id, "echo", "resumed"]);
    assert_eq!(text(&o.stdout), "resumed\n");

    assert!(c
        .ctr(&["task", "kill", "-s", "SIGKILL", id])
        .status
        .success());
    c.wait_status(id, "STOPPED");
    assert!(c.ctr(&["task", "delete", id]).status.success());
    assert!(c.ctr(&["container", "delete", id]).status.success());
    let o = c.ctr(&["container", "ls", "-q"]);
    assert_eq!(text(&o.stdout).trim(), "");
}

#[test]
fn ctr_run_and_exec_with_a_tty() {
    let c = Containerd::start();
    let flags = c.run_flags(&sangja());
    let mut a: Vec<&str> = vec!["run", "--rm", "-t"];
    a.extend(flags.iter().map(String::as_str));
    a.extend([IMAGE, "tty1", "sh", "-c", "tty; exit 4"]);
    let (code, out) = c.under_pty(&a);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");

    let o = c.run(&["-d"], "tty2", &["sleep", "1000"]);
    assert!(o.status.success());
    let (code, out) = c.under_pty(&[
        "task",
        "exec",
        "-t",
        "--exec-id",
        "t1",
        "tty2",
        "sh",
        "-c",
        "tty; exit 6",
    ]);
    assert_eq!(code, Some(6), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    let o = c.ctr(&["task", "exec", "--exec-id", "t2", "tty2", "tty"]);
    assert_eq!(text(&o.stdout), "not a tty\n");
}
