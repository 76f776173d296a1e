//! A private containerd for client tests (issue 7): own root, state dir, sockets, runtime roots and
//! fifo dir under a temp dir, its plugins configured by the test (e.g. the CRI plugin off, or on with
//! sangja registered as a runtime handler), images built offline ([`crate::image::oci_archive`]) and
//! imported with `ctr image import`.
//!
//! [`Containerd::shutdown`] (also run on drop, so even when a test panics) kills and deletes the
//! tasks and containers of its namespace, stops the daemon, kills whatever of its shims and
//! containers survived, unmounts everything under the temp dir, removes the cgroup parent
//! `/<name>` (see [`Containerd::name`]) from every hierarchy, the shim sockets containerd 1.6 keeps
//! in `/run/containerd/s`, and the temp dir. [`Containerd::leftovers`] lists what would remain.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::daemon::{stop_child, Footprint};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A private containerd; see the module docs.
#[derive(Debug)]
pub struct Containerd {
    dir: PathBuf,
    sock: PathBuf,
    name: String,
    ns: String,
    footprint: Footprint,
    daemon: Option<Child>,
    done: bool,
}

impl Containerd {
    /// Starts a daemon named `<prefix>-<pid>-<n>` whose clients use namespace `ns` (default: the
    /// name). `plugins` goes into its config.toml after the top-level `root` and `state` (so it may
    /// set top-level keys, then tables), with `{dir}` replaced by the temp dir.
    pub fn start(prefix: &str, ns: Option<&str>, plugins: &str) -> Self {
        Self::try_start(prefix, ns, plugins).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Containerd::start`], with an error instead of a panic when the daemon does not come up
    /// (everything already started is cleaned up by the drop).
    pub fn try_start(prefix: &str, ns: Option<&str>, plugins: &str) -> Result<Self, String> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = fs::remove_dir_all(&dir);
        for d in ["root", "state", "runc", "fifo", "img"] {
            fs::create_dir_all(dir.join(d)).map_err(|e| format!("mkdir {d}: {e}"))?;
        }
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n{plugins}\n\
             [grpc]\n  address = \"{d}/c.sock\"\n[ttrpc]\n  address = \"{d}/c.sock.ttrpc\"\n\
             [debug]\n  address = \"{d}/debug.sock\"\n  level = \"debug\"\n",
            d = dir.display(),
            plugins = plugins.replace("{dir}", &dir.to_string_lossy()),
        );
        fs::write(dir.join("config.toml"), config).map_err(|e| format!("config.toml: {e}"))?;
        let log = fs::File::create(dir.join("containerd.log"))
            .map_err(|e| format!("containerd.log: {e}"))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("containerd.log: {e}"))?;
        let spawned = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log_err)
            .stderr(log)
            .spawn();
        // From here on, Drop cleans up whatever happens.
        let mut c = Self {
            sock: dir.join("c.sock"),
            footprint: Footprint::new(&dir, &name),
            dir,
            ns: ns.unwrap_or(&name).to_string(),
            name,
            daemon: None,
            done: false,
        };
        c.daemon = Some(
            spawned.map_err(|e| format!("spawn containerd: {e} (apt-get install containerd)"))?,
        );
        let t0 = Instant::now();
        while !c.try_ctr_quiet(&["version"])?.status.success() {
            if let Some(st) = c.daemon.as_mut().and_then(|d| d.try_wait().ok().flatten()) {
                return Err(format!("containerd exited {st}:\n{}", c.log()));
            }
            if t0.elapsed() > Duration::from_secs(20) {
                return Err(format!("containerd did not come up:\n{}", c.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(c)
    }

    /// Builds the busybox image `name` with default command `cmd` and imports it into the namespace.
    pub fn import_image(&self, name: &str, cmd: &[&str]) {
        self.try_import_image(name, cmd)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// [`Containerd::import_image`], with an error instead of a panic when the import fails.
    pub fn try_import_image(&self, name: &str, cmd: &[&str]) -> Result<(), String> {
        let image = crate::image::oci_archive(&self.dir.join("img"), name, cmd)?;
        let o = self.try_ctr(&["image", "import", &image.to_string_lossy()])?;
        if o.status.success() {
            Ok(())
        } else {
            Err(format!("image import: {}", text(&o.stderr)))
        }
    }

    /// The temp dir holding everything of this daemon.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The daemon's gRPC socket.
    pub fn sock(&self) -> &Path {
        &self.sock
    }

    /// The namespace `ctr` uses.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// The unique name of this daemon: its temp dir's name and the cgroup parent (without `/`)
    /// that shutdown removes.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// `ctr --address <sock> -n <ns>`, run in the temp dir.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address").arg(&self.sock).args(["-n", &self.ns]);
        cmd.current_dir(&self.dir).stdin(Stdio::null());
        cmd
    }

    /// `task exec` gets `--fifo-dir` inside our temp dir too (ctr's default is /run/containerd/fifo).
    pub fn with_fifo_dir(&self, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if args.starts_with(&["task", "exec"]) {
            v.insert(2, "--fifo-dir".into());
            v.insert(3, self.dir.join("fifo").to_string_lossy().into_owned());
        }
        v
    }

    /// Runs `ctr` without logging.
    pub fn ctr_quiet(&self, args: &[&str]) -> Output {
        self.try_ctr_quiet(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Containerd::ctr_quiet`], with an error instead of a panic when `ctr` cannot be spawned.
    pub fn try_ctr_quiet(&self, args: &[&str]) -> Result<Output, String> {
        let mut cmd = self.cmd();
        cmd.args(self.with_fifo_dir(args));
        cmd.output()
            .map_err(|e| format!("spawn {cmd:?}: {e} (apt-get install containerd)"))
    }

    /// Runs `ctr` and logs the command and its output (shown when a test fails).
    pub fn ctr(&self, args: &[&str]) -> Output {
        self.try_ctr(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Containerd::ctr`], with an error instead of a panic when `ctr` cannot be spawned.
    pub fn try_ctr(&self, args: &[&str]) -> Result<Output, String> {
        let o = self.try_ctr_quiet(args)?;
        eprintln!(
            "ctr {} -> {:?}\n  stdout: {}\n  stderr: {}",
            args.join(" "),
            o.status.code(),
            text(&o.stdout).trim_end(),
            text(&o.stderr).trim_end()
        );
        Ok(o)
    }

    /// A task's bundle dir in the daemon's state (holds `log.json`).
    pub fn task_dir(&self, id: &str) -> PathBuf {
        self.dir
            .join("state/io.containerd.runtime.v2.task")
            .join(&self.ns)
            .join(id)
    }

    /// Where this daemon leaves traces; checkable after the daemon is gone.
    pub fn footprint(&self) -> Footprint {
        self.footprint.clone()
    }

    /// Everything of this daemon that still exists (empty once [`Self::shutdown`] ran).
    pub fn leftovers(&self) -> Vec<String> {
        self.footprint.leftovers()
    }

    /// Removes tasks and containers, stops the daemon and removes everything it left; idempotent.
    pub fn shutdown(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        self.footprint.add_shim_sockets(
            &self.sock,
            &self.ns,
            &self
                .dir
                .join("state/io.containerd.runtime.v2.task")
                .join(&self.ns),
        );
        // Runs on drop, so `ctr` failing to spawn must not panic: nothing is then deleted through it.
        if self.sock.exists() {
            let out = |args: &[&str]| {
                self.try_ctr_quiet(args)
                    .map(|o| text(&o.stdout))
                    .unwrap_or_default()
            };
            for t in out(&["task", "ls", "-q"]).lines().filter(|l| !l.is_empty()) {
                out(&["task", "kill", "-s", "SIGKILL", t]);
                out(&["task", "delete", "-f", t]);
            }
            for c in out(&["container", "ls", "-q"])
                .lines()
                .filter(|l| !l.is_empty())
            {
                out(&["container", "delete", c]);
            }
        }
        if let Some(d) = self.daemon.take() {
            stop_child(d, Duration::from_secs(10));
        }
        self.footprint.clean();
        if std::thread::panicking() {
            eprintln!("containerd log:\n{}", self.log());
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
