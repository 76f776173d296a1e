//! A private podman for client tests (issue 7) and the benchmark: podman 4.3 with conmon, a runtime
//! given by path (`--runtime <bin>`) or by name (`[engine.runtimes]`), a busybox image built offline
//! from `/bin/busybox` ([`crate::image::rootfs_tarball`]) and loaded with `podman import`.
//!
//! Needs root and Debian's `podman` (4.3, with `conmon`), `busybox-static` and `util-linux` (`unshare`,
//! `script` for a pty).
//!
//! Every test gets a private podman: nothing global is read for configuration or written.
//! - `CONTAINERS_CONF`, `CONTAINERS_STORAGE_CONF` and `CONTAINERS_REGISTRIES_CONF` name files in the
//!   test's temp dir, and `--root`, `--runroot`, `--tmpdir` are under it too. conmon gets
//!   `CONTAINERS_CONF` from podman and the `--exit-command` (`podman container cleanup`) gets all the
//!   storage/tmp flags, so the asynchronous cleanup uses the same private setup.
//! - `cgroup_manager = "cgroupfs"`, `events_logger = "file"` (the test's `events.log`), `lock_type = "file"`
//!   (locks in the tmpdir instead of the shared `/dev/shm/libpod_lock`), storage driver `vfs` (no layer
//!   mounts; overlay is not needed), `--network none`, `--pull never`. No systemd.
//! - Each run gets `--cgroup-parent /sangja-podman-<pid>-<n>`: the container cgroups (`libpod-<id>`) and
//!   conmon's (`conmon`, which podman never removes) land under a per-test parent instead of the shared
//!   `/libpod_parent`, and the drop removes that parent from every hierarchy.
//!
//! Host quirks (this machine), and what makes podman work here:
//! - Hybrid cgroups (v1 controllers + an empty cgroup2 at `/sys/fs/cgroup/unified`): podman 4.3 sees v1 and
//!   is happy with cgroupfs; nothing else is needed.
//! - No `CAP_SYS_RESOURCE`, and podman 4.3 lowers its own `RLIMIT_NPROC` to 32768 at start-up (seen with
//!   strace), so the runtime it starts cannot raise the container's limits to podman's root default
//!   (`nofile`/`nproc` = 1048576): runc fails with "error setting rlimit type 6: operation not permitted".
//!   The private `containers.conf` caps `default_ulimits` at the hard limits the runtime will have:
//!   `nofile` = our hard limit, `nproc` = min(our hard limit, 32768).
//! - `podman import` (c/image) writes its blob-info cache to `/var/lib/containers/cache` as root, with no
//!   setting to move it in 4.3, so the import alone runs in a private mount namespace (`unshare -m`) with
//!   the test's `varlib/` bound over `/var/lib`. `run`, `exec` and the rest never touch it.
//!
//! Drop stops everything the podman started, even after a failure: containers removed, conmon and
//! cleanup processes waited for (then killed), runtime state deleted (`delete --force` with every
//! runtime binary given), mounts under the temp dir unmounted, the cgroup parent removed from every
//! hierarchy, the temp dir removed. [`Podman::leftovers`] lists what would remain.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::host;

/// The image every run uses (`podman import` of the busybox rootfs).
pub const IMAGE: &str = "localhost/sangja-busybox:latest";
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Bytes as text, lossily.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sh(cmd: &mut Command) -> Output {
    try_sh(cmd).unwrap_or_else(|e| panic!("{e}"))
}

/// [`sh`], with an error instead of a panic when `cmd` cannot be spawned.
fn try_sh(cmd: &mut Command) -> Result<Output, String> {
    cmd.output().map_err(|e| {
        format!("spawn {cmd:?}: {e} (apt-get install podman conmon busybox-static util-linux)")
    })
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Our hard limit for `resource` (`Max open files`, `Max processes`) from /proc/self/limits.
pub fn hard_limit(resource: &str) -> u64 {
    try_hard_limit(resource).unwrap_or_else(|e| panic!("{e}"))
}

/// [`hard_limit`], with an error instead of a panic.
pub fn try_hard_limit(resource: &str) -> Result<u64, String> {
    let limits = fs::read_to_string("/proc/self/limits")
        .map_err(|e| format!("read /proc/self/limits: {e}"))?;
    let line = limits
        .lines()
        .find(|l| l.starts_with(resource))
        .ok_or_else(|| format!("{resource} not in /proc/self/limits"))?;
    let hard = line[resource.len()..].split_whitespace().nth(1);
    Ok(hard.and_then(|h| h.parse().ok()).unwrap_or(u64::MAX))
}

/// A private podman with the busybox image imported; see the module docs.
#[derive(Debug)]
pub struct Podman {
    dir: PathBuf,
    /// Cgroup parent (relative to each hierarchy's root) of every container of this podman.
    cgroup: String,
    /// Every runtime binary used, the default one (for [`Podman::run`]) first; for the forced
    /// `delete` on drop.
    runtimes: Vec<PathBuf>,
}

impl Podman {
    /// A podman whose [`Podman::run`] uses `runtime` (by path); panics if it cannot be set up.
    pub fn start(runtime: &Path) -> Self {
        Self::start_with(runtime, &[])
    }

    /// [`Podman::start`] with `named`: extra `[engine.runtimes]` entries (name, binary), also listed in
    /// `runtime_supports_json` (by name and by the binary's base name, so that podman passes
    /// `--log-format=json` to them whether `--runtime` gives the name or the path) and deleted with on
    /// drop. With no names, only podman's `runc` gets the JSON log.
    pub fn start_with(runtime: &Path, named: &[(&str, &Path)]) -> Self {
        Self::try_start_with(runtime, named).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Podman::start_with`], with an error instead of a panic when anything of the set-up fails
    /// (everything already set up is cleaned up by the drop).
    pub fn try_start_with(runtime: &Path, named: &[(&str, &Path)]) -> Result<Self, String> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("sangja-podman-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = fs::remove_dir_all(&dir);
        for d in ["root", "runroot", "tmp", "net", "img", "varlib"] {
            fs::create_dir_all(dir.join(d)).map_err(|e| format!("mkdir {d}: {e}"))?;
        }
        // From here on, Drop cleans up whatever happens.
        let mut p = Self {
            dir,
            cgroup: name,
            runtimes: vec![runtime.to_path_buf()],
        };
        for (_, bin) in named {
            p.add_runtime(bin);
        }
        p.write_config(named)?;
        let image = crate::image::rootfs_tarball(&p.dir.join("img"))?;
        let o = p.import(&image)?;
        if !o.status.success() {
            return Err(format!("podman import: {}", text(&o.stderr)));
        }
        if !p.dir.join("varlib/containers/cache").is_dir() {
            return Err("podman import: its blob-info cache went elsewhere".into());
        }
        Ok(p)
    }

    /// The temp dir holding everything of this podman.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cgroup parent of every container (relative to each hierarchy's root, without `/`).
    pub fn cgroup(&self) -> &str {
        &self.cgroup
    }

    /// Also `delete --force` containers with `bin` on drop (a runtime passed to [`Podman::run_with`]).
    pub fn add_runtime(&mut self, bin: &Path) {
        if !self.runtimes.iter().any(|r| r == bin) {
            self.runtimes.push(bin.to_path_buf());
        }
    }

    fn write_config(&self, runtimes: &[(&str, &Path)]) -> Result<(), String> {
        let d = self.dir.display();
        let nofile = try_hard_limit("Max open files")?;
        let nproc = try_hard_limit("Max processes")?.min(32768);
        let mut conf = format!(
            "[containers]\n\
             default_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n\
             netns = \"none\"\n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             events_logfile_path = \"{d}/events.log\"\n\
             lock_type = \"file\"\n\
             static_dir = \"{d}/root/libpod\"\n\
             volume_path = \"{d}/root/volumes\"\n\
             tmp_dir = \"{d}/tmp\"\n"
        );
        if !runtimes.is_empty() {
            // Both the names and the binaries' base names (for `--runtime /path/to/bin`).
            let names: Vec<String> = runtimes
                .iter()
                .flat_map(|(n, bin)| [n.to_string(), base_name(bin)])
                .map(|n| format!("\"{n}\""))
                .collect();
            conf.push_str(&format!(
                "runtime_supports_json = [\"runc\", {}]\n[engine.runtimes]\n",
                names.join(", ")
            ));
            for (n, bin) in runtimes {
                conf.push_str(&format!("\"{n}\" = [\"{}\"]\n", bin.display()));
            }
        }
        conf.push_str(&format!("[network]\nnetwork_config_dir = \"{d}/net\"\n"));
        fs::write(self.dir.join("containers.conf"), conf)
            .map_err(|e| format!("containers.conf: {e}"))?;
        fs::write(
            self.dir.join("storage.conf"),
            format!("[storage]\ndriver = \"vfs\"\ngraphroot = \"{d}/root\"\nrunroot = \"{d}/runroot\"\n"),
        )
        .map_err(|e| format!("storage.conf: {e}"))?;
        fs::write(
            self.dir.join("registries.conf"),
            "unqualified-search-registries = []\n",
        )
        .map_err(|e| format!("registries.conf: {e}"))
    }

    /// `podman import`, in a private mount namespace with `varlib/` over `/var/lib` (see the module doc).
    fn import(&self, tarball: &Path) -> Result<Output, String> {
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(r#"mount --bind "$1" /var/lib && shift && exec "$@""#)
            .arg("sh")
            .arg(self.dir.join("varlib"));
        cmd.arg("podman")
            .args(self.global_args())
            .args(["import", "--change", "CMD=sh"])
            .arg(tarball)
            .arg(IMAGE);
        self.env(&mut cmd);
        try_sh(&mut cmd)
    }

    /// The flags that keep every podman command on this private setup.
    pub fn global_args(&self) -> Vec<String> {
        let d = |s: &str| self.dir.join(s).to_string_lossy().into_owned();
        vec![
            "--root".into(),
            d("root"),
            "--runroot".into(),
            d("runroot"),
            "--tmpdir".into(),
            d("tmp"),
            "--cgroup-manager".into(),
            "cgroupfs".into(),
            "--events-backend".into(),
            "file".into(),
            "--storage-driver".into(),
            "vfs".into(),
        ]
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"))
            .env(
                "CONTAINERS_REGISTRIES_CONF",
                self.dir.join("registries.conf"),
            )
            .current_dir(&self.dir)
            .stdin(Stdio::null());
    }

    /// `podman <global args>` with the private environment, run in the temp dir.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new("podman");
        cmd.args(self.global_args());
        self.env(&mut cmd);
        cmd
    }

    /// Runs podman without logging.
    pub fn podman_quiet(&self, args: &[&str]) -> Output {
        sh(self.cmd().args(args))
    }

    /// [`Podman::podman_quiet`], with an error instead of a panic when podman cannot be spawned.
    pub fn try_podman_quiet(&self, args: &[&str]) -> Result<Output, String> {
        try_sh(self.cmd().args(args))
    }

    /// Runs podman and logs the command and its output (shown when a test fails).
    pub fn podman(&self, args: &[&str]) -> Output {
        let o = self.podman_quiet(args);
        eprintln!(
            "podman {} -> {:?}\n  stdout: {}\n  stderr: {}",
            args.join(" "),
            o.status.code(),
            text(&o.stdout).trim_end(),
            text(&o.stderr).trim_end()
        );
        o
    }

    /// `run` flags: the runtime (a path, or a name from `[engine.runtimes]`), our cgroup parent, no network
    /// and no pulling.
    pub fn run_args<'a>(
        &self,
        runtime: &'a str,
        extra: &[&'a str],
        args: &[&'a str],
    ) -> Vec<String> {
        let mut a: Vec<String> = vec!["run".into(), "--pull".into(), "never".into()];
        a.extend(["--runtime".into(), runtime.into()]);
        a.extend(["--cgroup-parent".into(), format!("/{}", self.cgroup)]);
        a.extend(["--network".into(), "none".into()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a.push(IMAGE.into());
        a.extend(args.iter().map(|s| s.to_string()));
        a
    }

    /// `podman run` with `runtime` (a path, or a name from `[engine.runtimes]`), logged.
    pub fn run_with(&self, runtime: &Path, extra: &[&str], args: &[&str]) -> Output {
        let a = self.run_args(&runtime.to_string_lossy(), extra, args);
        self.podman(&a.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// `podman run` with the runtime given to [`Podman::start`], logged.
    pub fn run(&self, extra: &[&str], args: &[&str]) -> Output {
        self.run_with(&self.runtimes[0], extra, args)
    }

    /// `podman ...` under a pty (`script`), so that `-t` has a terminal; returns (exit code, output).
    pub fn under_pty(&self, args: &[String]) -> (Option<i32>, String) {
        let mut line = "exec podman".to_string();
        for a in self.global_args().iter().chain(args) {
            line.push(' ');
            line.push_str(&quote(a));
        }
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]);
        self.env(&mut cmd);
        let o = sh(&mut cmd);
        let out = format!("{}{}", text(&o.stdout), text(&o.stderr));
        eprintln!("script: {line} -> {:?}\n{out}", o.status.code());
        (o.status.code(), out)
    }

    /// `State.Status` of container `name`.
    pub fn status(&self, name: &str) -> String {
        let o = self.podman_quiet(&["inspect", "--format", "{{.State.Status}}", name]);
        text(&o.stdout).trim().to_string()
    }

    /// Waits (10 s) for `State.Status` of `name` to become `want`.
    #[track_caller]
    pub fn wait_status(&self, name: &str, want: &str) {
        let mut last = String::new();
        let ok = host::wait_until(Duration::from_secs(10), || {
            last = self.status(name);
            last == want
        });
        assert!(ok, "container {name} status {last:?}, want {want}");
    }

    /// Ids of the containers podman lists (none if podman cannot be spawned: this runs on drop).
    pub fn containers(&self) -> Vec<String> {
        let Ok(o) = self.try_podman_quiet(&["ps", "-aq", "--no-trunc"]) else {
            return Vec::new();
        };
        text(&o.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Every container id podman ever created here (from the events log; `--rm` ones included).
    fn ids_ever(&self) -> BTreeSet<String> {
        let log = fs::read_to_string(self.dir.join("events.log")).unwrap_or_default();
        let mut ids: BTreeSet<String> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["Type"] == "container")
            .filter_map(|v| v["ID"].as_str().map(str::to_string))
            .collect();
        ids.extend(self.containers());
        ids
    }

    /// Processes started for this podman: conmons and `podman container cleanup` (their command line
    /// names our dir).
    fn own_pids(&self) -> Vec<i32> {
        let needle = self.dir.to_string_lossy().into_owned();
        let me = std::process::id() as i32;
        host::all_pids()
            .into_iter()
            .filter_map(|p| i32::try_from(p).ok())
            .filter(|&p| p != me)
            .filter(|p| {
                let c = fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                String::from_utf8_lossy(&c).contains(&needle)
            })
            .collect()
    }

    /// Our cgroup parent in every hierarchy that has it.
    fn cgroup_parents(&self) -> Vec<PathBuf> {
        host::cgroup_mounts()
            .into_iter()
            .map(|m| m.path.join(&self.cgroup))
            .filter(|p| p.is_dir())
            .collect()
    }

    fn mounts(&self) -> Vec<String> {
        host::own_mounts()
            .into_iter()
            .map(|m| m.mount_point)
            .filter(|m| Path::new(m).starts_with(&self.dir))
            .collect()
    }

    /// What remains of this test's containers: podman containers, runtime state, container cgroups,
    /// mounts, conmon or cleanup processes, processes naming a container id.
    pub fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        for c in self.containers() {
            found.push(format!("podman container {c}"));
        }
        let ids = self.ids_ever();
        for id in &ids {
            for root in ["/run/sangja", "/run/runc"] {
                let p = Path::new(root).join(id);
                if p.exists() {
                    found.push(format!("runtime state {}", p.display()));
                }
            }
        }
        for parent in self.cgroup_parents() {
            for e in fs::read_dir(&parent).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.path().is_dir() && name != "conmon" {
                    found.push(format!("cgroup {}", e.path().display()));
                }
            }
            let procs = fs::read_to_string(parent.join("conmon/cgroup.procs")).unwrap_or_default();
            if !procs.trim().is_empty() {
                found.push(format!("processes in {}/conmon: {procs}", parent.display()));
            }
        }
        for m in self.mounts() {
            found.push(format!("mount {m}"));
        }
        for p in self.own_pids() {
            found.push(format!("process {p} ({})", cmdline(p)));
        }
        for p in host::all_pids() {
            let c = cmdline(p as i32);
            if ids.iter().any(|id| c.contains(id.as_str())) {
                found.push(format!("process {p} ({c})"));
            }
        }
        found
    }

    /// Asserts (allowing podman's asynchronous cleanup 10 s) that nothing of the test is left but the
    /// (empty) cgroup parent and temp dir, which the drop removes.
    #[track_caller]
    pub fn assert_nothing_left(&self) {
        let mut last = Vec::new();
        let clean = host::wait_until(Duration::from_secs(10), || {
            last = self.leftovers();
            last.is_empty()
        });
        assert!(clean, "left behind:\n  {}", last.join("\n  "));
    }
}

/// The file name of `p`, as text.
pub fn base_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn cmdline(pid: i32) -> String {
    let c = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&c).replace('\0', " ")
}

/// Sends `sig` to `pid`, which must be positive (0 and negatives name process groups).
fn kill(pid: i32, sig: i32) {
    if pid <= 0 {
        return;
    }
    // SAFETY: kill(2) takes no pointers and touches no memory of ours; for a pid that no longer
    // exists it fails with ESRCH, which is ignored. The pids come from /proc (a command line naming our
    // temp dir) or from our containers' cgroup.procs, read just before, so the window in which the pid
    // could be reused by an unrelated process is that short gap.
    unsafe { libc::kill(pid, sig) };
}

impl Drop for Podman {
    fn drop(&mut self) {
        let ids = self.ids_ever();
        let _ = self.try_podman_quiet(&["rm", "--all", "--force", "--time", "0"]);
        // conmon and `podman container cleanup` finish on their own; give them a moment, then kill.
        let t0 = Instant::now();
        while !self.own_pids().is_empty() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        for p in self.own_pids() {
            kill(p, libc::SIGKILL);
        }
        // Container processes still alive (podman failed): thaw, kill.
        for parent in self.cgroup_parents() {
            for e in fs::read_dir(&parent).into_iter().flatten().flatten() {
                let _ = fs::write(e.path().join("freezer.state"), "THAWED");
                let procs = fs::read_to_string(e.path().join("cgroup.procs")).unwrap_or_default();
                for p in procs.lines().filter_map(|l| l.trim().parse().ok()) {
                    kill(p, libc::SIGKILL);
                }
            }
        }
        for id in &ids {
            for bin in &self.runtimes {
                let _ = Command::new(bin)
                    .args(["delete", "--force", id])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let mut mounts = self.mounts();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        for parent in self.cgroup_parents() {
            remove_cgroup_tree(&parent);
        }
        if std::thread::panicking() {
            eprintln!(
                "events:\n{}",
                fs::read_to_string(self.dir.join("events.log")).unwrap_or_default()
            );
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// rmdir a cgroup and its children, deepest first, retrying while the kernel reaps killed tasks.
fn remove_cgroup_tree(dir: &Path) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            remove_cgroup_tree(&e.path());
        }
    }
    host::wait_until(Duration::from_secs(2), || {
        fs::remove_dir(dir).is_ok() || !dir.exists()
    });
}
