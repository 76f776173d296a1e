//! A private Docker daemon for client tests (issue 7): `dockerd` with its own data root, exec root,
//! pidfile, socket and cgroup parent under a temp dir, its managed containerd under the exec root, no
//! bridge, no iptables, no IP forwarding, cgroupfs, overlay2, and the runtime under test registered
//! with `--add-runtime sangja=<path>` (or several, [`Dockerd::try_start_with`]). The busybox image is
//! built offline from `/bin/busybox` and loaded with `docker import`.
//!
//! [`Dockerd::shutdown`] (also run on drop, so even when a test panics) removes the containers, stops
//! the daemon, kills whatever of its containerd, shims and containers survived, unmounts everything
//! under the temp dir (overlay2 layers, network namespaces), removes the cgroup parent from every
//! hierarchy and the temp dir. [`Dockerd::leftovers`] lists what would remain.
//!
//! Nothing system-wide is touched except what dockerd insists on: `/run/docker/plugins` (a hardcoded
//! plugin socket dir, removed again when the last daemon of the process stops if it was not there
//! before) and `/run/containerd/s/<hash>` (containerd 1.6's shim sockets; a killed shim leaves its
//! socket, which shutdown removes).
//! The trust key goes to the temp dir (`deprecated-key-path` in a private `--config-file`), not
//! `/etc/docker/key.json`, and `--ip-forward=false` leaves `net.ipv4.ip_forward` alone.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use crate::daemon::Footprint;
use crate::daemon::{stop_child, subdirs};
use crate::host;

/// The image every test runs (`docker import` of a busybox-static rootfs).
pub const IMAGE: &str = "sangja-busybox:latest";

/// The Docker 20.10 client of the `docker.io` package (`/usr/local/bin/docker` may be another one).
pub const DOCKER: &str = "/usr/bin/docker";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Live daemons of this process, and whether `/run/docker` existed before the first one started.
static RUN_DOCKER: Mutex<(u32, bool)> = Mutex::new((0, false));

/// Exit code and captured output of one client command.
#[derive(Debug, Clone)]
pub struct Out {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
}

impl Out {
    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// A private dockerd; see the module docs.
#[derive(Debug)]
pub struct Dockerd {
    dir: PathBuf,
    sock: PathBuf,
    cgroup_parent: String,
    footprint: Footprint,
    daemon: Option<Child>,
    done: bool,
}

impl Dockerd {
    /// Starts a daemon with `sangja` registered as runtime `sangja` and imports [`IMAGE`].
    pub fn start(sangja: &Path) -> Self {
        Self::try_start_with(&[("sangja", sangja)]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a daemon with each (name, binary) of `runtimes` registered (`--add-runtime`; `runc` is
    /// reserved by dockerd) and imports [`IMAGE`]; an error if the daemon does not come up or the
    /// import fails (everything already started is cleaned up by the drop).
    pub fn try_start_with(runtimes: &[(&str, &Path)]) -> Result<Self, String> {
        Self::try_start_opts(runtimes, &[])
    }

    /// [`Dockerd::try_start_with`], with `extra` daemon flags (`--userns-remap=default`).
    pub fn try_start_opts(runtimes: &[(&str, &Path)], extra: &[&str]) -> Result<Self, String> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("docker-sangja-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = fs::remove_dir_all(&dir);
        for d in ["data", "exec", "cli", "img"] {
            fs::create_dir_all(dir.join(d)).map_err(|e| format!("mkdir {d}: {e}"))?;
        }
        let config = serde_json::json!({ "deprecated-key-path": dir.join("key.json") });
        fs::write(dir.join("daemon.json"), config.to_string())
            .map_err(|e| format!("daemon.json: {e}"))?;
        let log =
            fs::File::create(dir.join("dockerd.log")).map_err(|e| format!("dockerd.log: {e}"))?;
        let log_err = log.try_clone().map_err(|e| format!("dockerd.log: {e}"))?;
        {
            let mut g = RUN_DOCKER.lock().unwrap_or_else(|e| e.into_inner());
            if g.0 == 0 {
                g.1 = Path::new("/run/docker").exists();
            }
            g.0 += 1;
        }
        let mut cmd = Command::new("dockerd");
        cmd.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--storage-driver=overlay2",
                "--exec-opt=native.cgroupdriver=cgroupfs",
            ])
            .arg(format!("--cgroup-parent=/{name}"))
            .args(extra)
            .args(
                runtimes
                    .iter()
                    .map(|(n, bin)| format!("--add-runtime={n}={}", bin.display())),
            )
            .stdin(Stdio::null())
            .stdout(log_err)
            .stderr(log);
        let spawned = cmd.spawn();
        // From here on, Drop cleans up whatever happens.
        let mut d = Self {
            sock: dir.join("docker.sock"),
            footprint: Footprint::new(&dir, &name),
            dir,
            cgroup_parent: name,
            daemon: None,
            done: false,
        };
        d.daemon =
            Some(spawned.map_err(|e| format!("spawn dockerd: {e} (apt-get install docker.io)"))?);
        let t0 = Instant::now();
        while !d.try_docker_quiet(&["version"])?.success() {
            if let Some(st) = d.daemon.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(format!("dockerd exited {st}:\n{}", d.log()));
            }
            if t0.elapsed() > Duration::from_secs(60) {
                return Err(format!("dockerd did not come up:\n{}", d.log()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let tar = crate::image::rootfs_tarball(&d.dir.join("img"))?;
        let tar = tar
            .to_str()
            .ok_or_else(|| format!("{}: not UTF-8", tar.display()))?;
        let o = d.try_docker(&[
            "import",
            "-c",
            "ENV PATH=/bin",
            "-c",
            r#"CMD ["sh"]"#,
            tar,
            IMAGE,
        ])?;
        if !o.success() {
            return Err(format!("docker import: {}", o.stderr));
        }
        Ok(d)
    }

    /// The temp dir holding everything of this daemon.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cgroup parent (`--cgroup-parent`, absolute, without the leading `/`).
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// The runtime's `--root` as given by dockerd (`<exec-root>/runtime-<name>`).
    pub fn runtime_root(&self, runtime: &str) -> PathBuf {
        self.dir.join("exec").join(format!("runtime-{runtime}"))
    }

    /// A container's bundle dir in the managed containerd's state (holds `log.json`).
    pub fn task_dir(&self, id: &str) -> PathBuf {
        self.dir
            .join("exec/containerd/daemon/io.containerd.runtime.v2.task/moby")
            .join(id)
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// `docker -H unix://<sock>` with a private client config dir.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(DOCKER);
        cmd.arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.dir.join("cli"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the client without logging.
    pub fn docker_quiet(&self, args: &[&str]) -> Out {
        run(self.cmd().args(args))
    }

    /// [`Dockerd::docker_quiet`], with an error instead of a panic when the client cannot be spawned.
    pub fn try_docker_quiet(&self, args: &[&str]) -> Result<Out, String> {
        try_run(self.cmd().args(args))
    }

    /// Runs the client and logs the command and its output (shown when a test fails).
    pub fn docker(&self, args: &[&str]) -> Out {
        self.try_docker(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Dockerd::docker`], with an error instead of a panic when the client cannot be spawned.
    pub fn try_docker(&self, args: &[&str]) -> Result<Out, String> {
        let o = self.try_docker_quiet(args)?;
        eprintln!(
            "docker {} -> {:?}\n  stdout: {}\n  stderr: {}",
            args.join(" "),
            o.code,
            o.stdout.trim_end(),
            o.stderr.trim_end()
        );
        Ok(o)
    }

    /// Runs the client with `stdin` piped in.
    pub fn docker_stdin(&self, args: &[&str], stdin: &str) -> Out {
        use std::io::Write;
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn docker");
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(stdin.as_bytes());
        }
        let o = child.wait_with_output().expect("wait docker");
        let o = Out {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        };
        eprintln!("docker {} <<< {stdin:?} -> {o:?}", args.join(" "));
        o
    }

    /// The client under a pty (`script` from util-linux), so `-t` has a terminal; stdout and the
    /// terminal output are merged.
    pub fn docker_pty(&self, args: &[&str]) -> Out {
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let mut line = format!(
            "{DOCKER} -H {}",
            quote(&format!("unix://{}", self.sock.display()))
        );
        for a in args {
            line.push(' ');
            line.push_str(&quote(a));
        }
        let o = run(Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env("DOCKER_CONFIG", self.dir.join("cli"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .current_dir(&self.dir)
            .stdin(Stdio::null()));
        eprintln!("script: {line} -> {o:?}");
        o
    }

    /// `docker inspect -f <format> <name>`, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        let o = self.docker_quiet(&["inspect", "-f", format, name]);
        assert!(o.success(), "inspect {name}: {}", o.stderr);
        o.stdout.trim().to_string()
    }

    /// Waits (10 s) for `State.Status` of `name` to become `want`.
    #[track_caller]
    pub fn wait_status(&self, name: &str, want: &str) {
        let mut last = String::new();
        let ok = host::wait_until(Duration::from_secs(10), || {
            last = self.inspect(name, "{{.State.Status}}");
            last == want
        });
        assert!(ok, "{name}: State.Status {last:?}, want {want:?}");
    }

    /// A container's cgroup dir in the v1 hierarchy of `controller`.
    pub fn cgroup_dir(&self, controller: &str, id: &str) -> PathBuf {
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(&self.cgroup_parent)
            .join(id)
    }

    /// Container cgroups (children of the parent) that exist in any hierarchy.
    pub fn container_cgroups(&self) -> Vec<PathBuf> {
        self.footprint
            .parent_cgroups()
            .iter()
            .flat_map(|p| subdirs(p))
            .collect()
    }

    /// Where this daemon leaves traces; checkable after the daemon is gone.
    pub fn footprint(&self) -> Footprint {
        self.footprint.clone()
    }

    /// Everything of this daemon that still exists (empty once [`Self::shutdown`] ran).
    pub fn leftovers(&self) -> Vec<String> {
        self.footprint.leftovers()
    }

    /// Removes containers, stops the daemon and removes everything it left; idempotent.
    pub fn shutdown(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        // Containers the managed containerd knows, even if dockerd died: their shim sockets.
        self.footprint.add_shim_sockets(
            &self.dir.join("exec/containerd/containerd.sock"),
            "moby",
            &self
                .dir
                .join("exec/containerd/daemon/io.containerd.runtime.v2.task/moby"),
        );
        // Runs on drop, so the client failing to spawn must not panic: nothing is then removed through it.
        if self.sock.exists() {
            let ps = self.try_docker_quiet(&["ps", "-aq"]);
            let ps = ps.map(|o| o.stdout).unwrap_or_default();
            let ids: Vec<&str> = ps.split_whitespace().collect();
            if !ids.is_empty() {
                let mut a = vec!["unpause"];
                a.extend(&ids);
                let _ = self.try_docker_quiet(&a);
                let mut a = vec!["rm", "-f"];
                a.extend(&ids);
                let _ = self.try_docker_quiet(&a);
            }
        }
        if let Some(d) = self.daemon.take() {
            stop_child(d, Duration::from_secs(30));
        }
        // containerd, shims and containers that outlived dockerd; mounts; shim sockets.
        self.footprint.clean();
        if std::thread::panicking() {
            eprintln!("dockerd log:\n{}", self.log());
        }
        let _ = fs::remove_dir_all(&self.dir);
        let mut g = RUN_DOCKER.lock().unwrap_or_else(|e| e.into_inner());
        g.0 = g.0.saturating_sub(1);
        if g.0 == 0 && !g.1 {
            let _ = fs::remove_dir("/run/docker/plugins");
            let _ = fs::remove_dir("/run/docker");
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(cmd: &mut Command) -> Out {
    try_run(cmd).unwrap_or_else(|e| panic!("{e}"))
}

/// [`run`], with an error instead of a panic when `cmd` cannot be spawned.
fn try_run(cmd: &mut Command) -> Result<Out, String> {
    let o = cmd
        .output()
        .map_err(|e| format!("spawn {cmd:?}: {e} (apt-get install docker.io util-linux)"))?;
    Ok(Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    })
}
