//! The per-test harness: a private state root, a work directory for bundles and captured output, unique
//! container ids, and cleanup (`delete --force` of every id, removal of temp dirs) that runs even when the
//! test panics.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::{self, remove_pointer, set_pointer};
use crate::host;
use crate::output::Output;
use crate::rootfs;

/// How long one runtime command may take before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

static HARNESS_COUNTER: AtomicU32 = AtomicU32::new(0);

type Cleanup = Box<dyn FnOnce() + Send>;

/// Runs one runtime binary for one test. Dropping it deletes every container it created and removes its
/// temp dirs.
pub struct Harness {
    name: String,
    bin: PathBuf,
    base: PathBuf,
    root: PathBuf,
    ids: Mutex<Vec<String>>,
    counter: AtomicU32,
    cleanups: Mutex<Vec<Cleanup>>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("name", &self.name)
            .field("bin", &self.bin)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// Options for [`Harness::cmd_opts`].
#[derive(Debug, Default, Clone)]
pub struct CmdOpts<'a> {
    /// Working directory of the runtime command.
    pub cwd: Option<&'a Path>,
    /// Send stdout (and so the container's stdout, for `create`) to this file instead of a fresh one.
    pub stdout: Option<&'a Path>,
    /// Send stderr to this file instead of a fresh one.
    pub stderr: Option<&'a Path>,
    /// Extra environment variables for the runtime command.
    pub env: Vec<(&'a str, &'a str)>,
    /// Do not pass `--root` (to test the default).
    pub no_root: bool,
}

/// A bundle directory and its config, edited as JSON and written with [`Bundle::write`].
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory (absolute).
    pub dir: PathBuf,
    /// The config that [`Bundle::write`] saves as `config.json`.
    pub config: Value,
    rootfs: PathBuf,
}

impl Bundle {
    /// The rootfs this bundle uses, as a host path.
    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    /// The bundle directory as a `&str` (for command lines).
    pub fn dir_str(&self) -> &str {
        self.dir.to_str().expect("bundle path is UTF-8")
    }

    /// Sets `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.set("/process/args", Value::from(args.to_vec()))
    }

    /// Sets the value at a JSON pointer (creating objects on the way).
    pub fn set(&mut self, pointer: &str, value: Value) -> &mut Self {
        set_pointer(&mut self.config, pointer, value);
        self
    }

    /// Removes the value at a JSON pointer.
    pub fn remove(&mut self, pointer: &str) -> &mut Self {
        remove_pointer(&mut self.config, pointer);
        self
    }

    /// Appends to the array at a JSON pointer (created if missing).
    pub fn push(&mut self, pointer: &str, value: Value) -> &mut Self {
        if self.config.pointer(pointer).is_none_or(|v| !v.is_array()) {
            set_pointer(&mut self.config, pointer, Value::Array(Vec::new()));
        }
        self.config
            .pointer_mut(pointer)
            .and_then(Value::as_array_mut)
            .expect("array")
            .push(value);
        self
    }

    /// Appends an entry to `mounts`; returns its index.
    pub fn add_mount(&mut self, mount: Value) -> usize {
        self.push("/mounts", mount);
        self.config["mounts"].as_array().map_or(0, |m| m.len() - 1)
    }

    /// Writes `config.json`.
    pub fn write(&self) {
        let path = self.dir.join("config.json");
        let text = serde_json::to_string_pretty(&self.config).expect("serialize config");
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Writes `config.json` with raw text (for malformed-config tests).
    pub fn write_raw(&self, text: &str) {
        let path = self.dir.join("config.json");
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// A created container: its id and the files its stdout and stderr go to.
#[derive(Debug, Clone)]
pub struct Container {
    /// Container id.
    pub id: String,
    /// File receiving the container's stdout.
    pub stdout: PathBuf,
    /// File receiving the container's stderr (and `create`'s own).
    pub stderr: PathBuf,
}

impl Container {
    /// What the container has written to stdout so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }
}

/// The sangja binary to test: `$SANGJA_BIN` if set, else the one cargo built.
pub fn sangja_bin(built: &str) -> PathBuf {
    std::env::var_os("SANGJA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(built))
}

/// The runc binary for differential tests: `$RUNC_BIN` or `/usr/sbin/runc`.
pub fn runc_bin() -> PathBuf {
    std::env::var_os("RUNC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/runc"))
}

/// Turns `type_name_of_val` of a fn nested in a test (`lifecycle::run_exit_code::here`) into `run_exit_code`.
pub fn test_name(type_name: &str) -> String {
    let mut parts: Vec<&str> = type_name.split("::").collect();
    parts.pop();
    while parts.last() == Some(&"{{closure}}") {
        parts.pop();
    }
    parts.last().copied().unwrap_or("test").to_string()
}

fn sanitize(name: &str, max: usize) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(max)
        .collect()
}

impl Harness {
    /// A harness for `bin` in a test called `name`. Requires root.
    pub fn new(bin: &Path, name: &str) -> Self {
        let euid = fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap_or(u32::MAX);
        assert_eq!(
            euid, 0,
            "the spec tests run containers and need root: sudo cargo test --workspace"
        );
        assert!(
            bin.exists(),
            "runtime binary {} does not exist",
            bin.display()
        );
        let n = HARNESS_COUNTER.fetch_add(1, Ordering::SeqCst);
        let short = sanitize(name, 40);
        let base =
            std::env::temp_dir().join(format!("sangja-spec-{short}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let root = base.join("state");
        for d in [&root, &base.join("out")] {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        }
        Self {
            name: short,
            bin: bin.to_path_buf(),
            base,
            root,
            ids: Mutex::new(Vec::new()),
            counter: AtomicU32::new(0),
            cleanups: Mutex::new(Vec::new()),
        }
    }

    /// A harness for runc (differential tests). Panics if runc is missing: CI installs it.
    pub fn runc(name: &str) -> Self {
        let bin = runc_bin();
        assert!(
            bin.exists(),
            "runc not found at {} (set RUNC_BIN or apt-get install runc): \
             the differential tests compare sangja against it and must not pass without it",
            bin.display()
        );
        Self::new(&bin, &format!("{name}-runc"))
    }

    /// The runtime binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The private `--root` state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The per-test work directory (removed on drop).
    pub fn base(&self) -> &Path {
        &self.base
    }

    fn next(&self) -> u32 {
        self.counter.fetch_add(1, Ordering::SeqCst)
    }

    /// A fresh unique container id (test name + pid + counter), registered for cleanup.
    pub fn id(&self) -> String {
        let id = format!("{}-{}-{}", self.name, std::process::id(), self.next());
        self.track(&id);
        id
    }

    /// Registers `id` for `delete --force` on drop.
    pub fn track(&self, id: &str) {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }

    /// Runs `f` on drop (after containers are deleted, before temp dirs are removed). LIFO.
    pub fn defer(&self, f: impl FnOnce() + Send + 'static) {
        self.cleanups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(f));
    }

    /// A new empty directory under the work dir.
    pub fn tempdir(&self, prefix: &str) -> PathBuf {
        let d = self.base.join(format!("{prefix}{}", self.next()));
        fs::create_dir_all(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        d
    }

    /// A bundle using the shared busybox rootfs (absolute `root.path`, read-only), config from `runc spec`
    /// with `terminal: false`. Not written yet.
    pub fn bundle(&self) -> Bundle {
        let dir = self.tempdir("bundle");
        let rootfs = rootfs::shared().to_path_buf();
        let mut config = config::runc_spec();
        set_pointer(&mut config, "/process/terminal", Value::Bool(false));
        set_pointer(
            &mut config,
            "/root/path",
            Value::from(rootfs.to_str().expect("UTF-8 rootfs path")),
        );
        Bundle {
            dir,
            config,
            rootfs,
        }
    }

    /// A bundle with its own copy of the rootfs in `<bundle>/rootfs` and the relative `root.path` `rootfs`.
    pub fn bundle_private(&self) -> Bundle {
        let mut b = self.bundle();
        let rootfs = b.dir.join("rootfs");
        rootfs::copy_shared_to(&rootfs);
        b.set("/root/path", Value::from("rootfs"));
        b.rootfs = rootfs;
        b
    }

    /// Runs `<bin> --root <root> <args>` and waits (at most [`COMMAND_TIMEOUT`]).
    #[track_caller]
    pub fn cmd(&self, args: &[&str]) -> Output {
        self.cmd_opts(args, &CmdOpts::default())
    }

    /// Like [`Harness::cmd`], with options.
    #[track_caller]
    pub fn cmd_opts(&self, args: &[&str], opts: &CmdOpts<'_>) -> Output {
        let n = self.next();
        let out_dir = self.base.join("out");
        let stdout_path = opts
            .stdout
            .map(Path::to_path_buf)
            .unwrap_or_else(|| out_dir.join(format!("{n}.stdout")));
        let stderr_path = opts
            .stderr
            .map(Path::to_path_buf)
            .unwrap_or_else(|| out_dir.join(format!("{n}.stderr")));
        let stdout = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stdout_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", stdout_path.display()));
        let stderr = fs::File::create(&stderr_path).expect("create stderr file");
        let mut command = Command::new(&self.bin);
        if !opts.no_root {
            command.arg("--root").arg(&self.root);
        }
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        if let Some(cwd) = opts.cwd {
            command.current_dir(cwd);
        }
        for (k, v) in &opts.env {
            command.env(k, v);
        }
        let cmdline = format!("{} {}", self.bin.display(), args.join(" "));
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let mut pause = Duration::from_micros(500);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "`{cmdline}` did not finish within {COMMAND_TIMEOUT:?}; stderr: {}",
                        fs::read_to_string(&stderr_path).unwrap_or_default()
                    );
                }
                Err(e) => panic!("wait {cmdline}: {e}"),
            }
        };
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        Output {
            cmdline,
            code,
            stdout: fs::read_to_string(&stdout_path).unwrap_or_default(),
            stderr: fs::read_to_string(&stderr_path).unwrap_or_default(),
        }
    }

    /// Writes the bundle's config and runs `create --bundle <dir> [extra...] <id>` with the container's
    /// stdout going to a file; does not assert success.
    #[track_caller]
    pub fn try_create(&self, b: &Bundle, id: &str, extra: &[&str]) -> (Output, Container) {
        b.write();
        self.track(id);
        let stdout = self.base.join("out").join(format!("{id}.container.stdout"));
        let stderr = self.base.join("out").join(format!("{id}.container.stderr"));
        let mut args = vec!["create", "--bundle", b.dir_str()];
        args.extend_from_slice(extra);
        args.push(id);
        let out = self.cmd_opts(
            &args,
            &CmdOpts {
                stdout: Some(&stdout),
                stderr: Some(&stderr),
                ..CmdOpts::default()
            },
        );
        let c = Container {
            id: id.to_string(),
            stdout,
            stderr,
        };
        (out, c)
    }

    /// Creates a container from the bundle with a fresh id; asserts success.
    #[track_caller]
    pub fn create(&self, b: &Bundle) -> Container {
        let id = self.id();
        let (out, c) = self.try_create(b, &id, &[]);
        out.ok();
        c
    }

    /// Creates and starts a container; asserts success.
    #[track_caller]
    pub fn create_and_start(&self, b: &Bundle) -> Container {
        let c = self.create(b);
        self.cmd(&["start", &c.id]).ok();
        c
    }

    /// `state <id>` parsed; asserts success.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.cmd(&["state", id]);
        out.ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON ({e}):\n{out}"))
    }

    /// The `status` field of `state <id>`.
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .expect("state has a string status")
            .to_string()
    }

    /// The `pid` field of `state <id>`.
    #[track_caller]
    pub fn pid(&self, id: &str) -> i64 {
        self.state(id)["pid"].as_i64().expect("state has a pid")
    }

    /// Polls `state` until the status is `want`; panics after `timeout`.
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) {
        let mut last = String::new();
        let ok = host::wait_until(timeout, || {
            last = self.status(id);
            last == want
        });
        assert!(
            ok,
            "container {id} did not reach status {want:?} in {timeout:?} (last: {last:?})"
        );
    }

    /// Writes the bundle and runs it in the foreground (`run --bundle <dir> <fresh id>`).
    #[track_caller]
    pub fn run(&self, b: &Bundle) -> Output {
        self.run_with(b, &[])
    }

    /// Like [`Harness::run`] with extra flags before the id.
    #[track_caller]
    pub fn run_with(&self, b: &Bundle, extra: &[&str]) -> Output {
        b.write();
        let id = self.id();
        let mut args = vec!["run", "--bundle", b.dir_str()];
        args.extend_from_slice(extra);
        args.push(&id);
        self.cmd(&args)
    }

    /// Sets `process.args`, runs the container, asserts exit 0 and returns its stdout.
    #[track_caller]
    pub fn probe(&self, b: &mut Bundle, args: &[&str]) -> String {
        b.args(args);
        let out = self.run(b);
        out.ok();
        out.stdout
    }

    /// Shorthand: probe `sh -c <script>`.
    #[track_caller]
    pub fn sh(&self, b: &mut Bundle, script: &str) -> String {
        self.probe(b, &["sh", "-c", script])
    }

    fn unmount_under_base(&self) {
        let mut mounts: Vec<String> = host::own_mounts()
            .into_iter()
            .map(|m| m.mount_point)
            .filter(|p| Path::new(p).starts_with(&self.base))
            .collect();
        mounts.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for m in mounts {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&m)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut *self.ids.lock().unwrap_or_else(|e| e.into_inner()));
        for id in ids.iter().rev() {
            if id.is_empty() {
                continue;
            }
            let _ = Command::new(&self.bin)
                .arg("--root")
                .arg(&self.root)
                .args(["delete", "--force", id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let cleanups =
            std::mem::take(&mut *self.cleanups.lock().unwrap_or_else(|e| e.into_inner()));
        for f in cleanups.into_iter().rev() {
            f();
        }
        if fs::remove_dir_all(&self.base).is_err() {
            self.unmount_under_base();
            let _ = fs::remove_dir_all(&self.base);
        }
    }
}
