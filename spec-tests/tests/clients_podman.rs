//! podman drives sangja (issue 7): podman 4.3 with conmon, `--runtime <sangja>`, a busybox image
//! built offline from `/bin/busybox` and loaded with `podman import`.
//!
//! Needs root and Debian's `podman` (4.3, with `conmon`), `busybox-static`, `util-linux` (`unshare`,
//! `script` for a pty) and, for the comparisons, `runc`. `SANGJA_BIN=/usr/sbin/runc` runs the same steps
//! against runc.
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
//! How sangja's errors reach the user: podman passes `--log-format=json --log <rundir>/oci-log` only to
//! runtimes named in `runtime_supports_json` (crun, runc, ...; matched against the `--runtime` name or the
//! base name of its path), and then shows the `msg` of that file.
//! For any other runtime (`--runtime /path/to/sangja`) conmon reads what the runtime wrote to its stderr
//! (a pipe conmon gives it, also the container's stderr when there is no tty; with `-t` the container's
//! output goes to the pty but the runtime's stderr is still that pipe) and sends it to podman over the
//! sync pipe; podman shows it after `Error: <runtime>: ` and classifies it (`no such file or directory` → 127,
//! `permission denied` → 126). sangja, like runc without `--log`, writes a logrus-style line
//! (`time="…" level=error msg="…"`) on stderr, so the real message reaches the user either way; with
//! `sangja` added to `runtime_supports_json` it arrives as cleanly as runc's. Both paths are tested; sangja
//! needed no change for either.
//!
//! Each test stops everything it started on drop, even after a failure: containers removed, conmon and
//! cleanup processes waited for (then killed), sangja state deleted, mounts under the temp dir
//! unmounted, the cgroup parent removed from every hierarchy, the temp dir removed.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use spec_tests::host;

const IMAGE: &str = "localhost/sangja-busybox:latest";
static COUNTER: AtomicU32 = AtomicU32::new(0);

fn sangja() -> PathBuf {
    spec_tests::harness::sangja_bin(env!("CARGO_BIN_EXE_sangja"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sh(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| {
        panic!("spawn {cmd:?}: {e} (apt-get install podman conmon busybox-static util-linux)")
    })
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Our hard limit for `resource` (`Max open files`, `Max processes`) from /proc/self/limits.
fn hard_limit(resource: &str) -> u64 {
    let limits = fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with(resource))
        .unwrap_or_else(|| panic!("{resource} not in /proc/self/limits"));
    let hard = line[resource.len()..].split_whitespace().nth(1).unwrap();
    hard.parse().unwrap_or(u64::MAX)
}

/// A private podman with the busybox image imported.
struct Podman {
    dir: PathBuf,
    /// Cgroup parent (relative to each hierarchy's root) of every container of this test.
    cgroup: String,
    /// Every runtime binary the test used, for the forced `delete` on drop.
    runtimes: Vec<PathBuf>,
}

impl Podman {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// `runtimes`: extra `[engine.runtimes]` entries (name, binary), also listed in `runtime_supports_json`.
    fn start_with(runtimes: &[(&str, &Path)]) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("sangja-podman-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = fs::remove_dir_all(&dir);
        for d in ["root", "runroot", "tmp", "net", "img", "varlib"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        // From here on, Drop cleans up whatever happens.
        let p = Self {
            dir,
            cgroup: name,
            runtimes: vec![sangja()],
        };
        p.write_config(runtimes);
        let image = p.build_image();
        let o = p.import(&image);
        assert!(o.status.success(), "podman import: {}", text(&o.stderr));
        assert!(
            p.dir.join("varlib/containers/cache").is_dir(),
            "the import's blob-info cache went elsewhere"
        );
        p
    }

    fn write_config(&self, runtimes: &[(&str, &Path)]) {
        let d = self.dir.display();
        let nofile = hard_limit("Max open files");
        let nproc = hard_limit("Max processes").min(32768);
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
                conf.push_str(&format!("{n} = [\"{}\"]\n", bin.display()));
            }
        }
        conf.push_str(&format!("[network]\nnetwork_config_dir = \"{d}/net\"\n"));
        fs::write(self.dir.join("containers.conf"), conf).unwrap();
        fs::write(
            self.dir.join("storage.conf"),
            format!("[storage]\ndriver = \"vfs\"\ngraphroot = \"{d}/root\"\nrunroot = \"{d}/runroot\"\n"),
        )
        .unwrap();
        fs::write(
            self.dir.join("registries.conf"),
            "unqualified-search-registries = []\n",
        )
        .unwrap();
    }

    /// A tarball of the shared busybox rootfs (static busybox, every applet, /etc/passwd and group).
    fn build_image(&self) -> PathBuf {
        let tarball = self.dir.join("img/busybox.tar");
        let o = sh(Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(spec_tests::rootfs::shared())
            .arg("-cf")
            .arg(&tarball)
            .arg("."));
        assert!(o.status.success(), "tar: {}", text(&o.stderr));
        tarball
    }

    /// `podman import`, in a private mount namespace with `varlib/` over `/var/lib` (see the module doc).
    fn import(&self, tarball: &Path) -> Output {
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
        sh(&mut cmd)
    }

    fn global_args(&self) -> Vec<String> {
        let d = |s: &str| self.dir.join(s).to_str().unwrap().to_string();
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

    fn podman_quiet(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("podman");
        cmd.args(self.global_args()).args(args);
        self.env(&mut cmd);
        sh(&mut cmd)
    }

    fn podman(&self, args: &[&str]) -> Output {
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
    fn run_args<'a>(&self, runtime: &'a str, extra: &[&'a str], args: &[&'a str]) -> Vec<String> {
        let mut a: Vec<String> = vec!["run".into(), "--pull".into(), "never".into()];
        a.extend(["--runtime".into(), runtime.into()]);
        a.extend(["--cgroup-parent".into(), format!("/{}", self.cgroup)]);
        a.extend(["--network".into(), "none".into()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a.push(IMAGE.into());
        a.extend(args.iter().map(|s| s.to_string()));
        a
    }

    fn run_with(&self, runtime: &Path, extra: &[&str], args: &[&str]) -> Output {
        let a = self.run_args(runtime.to_str().unwrap(), extra, args);
        self.podman(&a.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn run(&self, extra: &[&str], args: &[&str]) -> Output {
        self.run_with(&sangja(), extra, args)
    }

    /// `podman ...` under a pty (`script`), so that `-t` has a terminal; returns (exit code, output).
    fn under_pty(&self, args: &[String]) -> (Option<i32>, String) {
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

    fn status(&self, name: &str) -> String {
        let o = self.podman_quiet(&["inspect", "--format", "{{.State.Status}}", name]);
        text(&o.stdout).trim().to_string()
    }

    fn wait_status(&self, name: &str, want: &str) {
        let mut last = String::new();
        let ok = host::wait_until(Duration::from_secs(10), || {
            last = self.status(name);
            last == want
        });
        assert!(ok, "container {name} status {last:?}, want {want}");
    }

    fn containers(&self) -> Vec<String> {
        let o = self.podman_quiet(&["ps", "-aq", "--no-trunc"]);
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
        let needle = self.dir.to_str().unwrap().to_string();
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
    fn leftovers(&self) -> Vec<String> {
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
    fn assert_nothing_left(&self) {
        let mut last = Vec::new();
        let clean = host::wait_until(Duration::from_secs(10), || {
            last = self.leftovers();
            last.is_empty()
        });
        assert!(clean, "left behind:\n  {}", last.join("\n  "));
    }
}

fn base_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn cmdline(pid: i32) -> String {
    let c = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&c).replace('\0', " ")
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a pid we found by its command line or cgroup; at worst it fails with ESRCH.
    unsafe { libc::kill(pid, sig) };
}

impl Drop for Podman {
    fn drop(&mut self) {
        let ids = self.ids_ever();
        let _ = self.podman_quiet(&["rm", "--all", "--force", "--time", "0"]);
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

#[test]
fn podman_run_propagates_output_and_exit_code() {
    let p = Podman::start();
    let o = p.run(&["--rm"], &["sh", "-c", "echo hi; exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "hi\n");
    let o = p.run(&["--rm"], &["sh", "-c", "echo out; echo err >&2"]);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "out\n");
    assert!(text(&o.stderr).contains("err\n"), "{}", text(&o.stderr));
    // The ulimits of the private containers.conf, and podman's own settings, reached the container.
    let o = p.run(
        &["--rm"],
        &["sh", "-c", "ulimit -n; hostname; echo $container"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], hard_limit("Max open files").to_string());
    assert_eq!(lines[2], "podman");
    assert!(p.containers().is_empty(), "run --rm left containers");
    p.assert_nothing_left();
}

#[test]
fn podman_detached_exec_pause_stop_rm() {
    let p = Podman::start();
    // pid 1 exits 7 on SIGTERM, so `stop` needs no SIGKILL and the exit code tells us who stopped it.
    let o = p.run(
        &["-d", "--name", "det"],
        &[
            "sh",
            "-c",
            "trap 'exit 7' TERM; echo up; while :; do sleep 0.1; done",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    p.wait_status("det", "running");

    let o = p.podman(&["exec", "det", "echo", "from exec"]);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "from exec\n");
    let o = p.podman(&["exec", "det", "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    let o = p.podman(&["exec", "det", "ps", "-o", "pid,args"]);
    let ps = text(&o.stdout);
    assert!(
        ps.lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains("trap")),
        "{ps}"
    );
    let o = p.podman(&["logs", "det"]);
    assert_eq!(text(&o.stdout), "up\n");

    assert!(p.podman(&["pause", "det"]).status.success());
    p.wait_status("det", "paused");
    let freezer = host::v1_hierarchy("freezer")
        .map(|h| h.join(&p.cgroup))
        .filter(|d| d.is_dir());
    if let Some(parent) = freezer {
        let states: Vec<String> = fs::read_dir(&parent)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("libpod-"))
            .map(|e| fs::read_to_string(e.path().join("freezer.state")).unwrap_or_default())
            .collect();
        assert_eq!(states, vec!["FROZEN\n".to_string()]);
    }
    assert!(p.podman(&["unpause", "det"]).status.success());
    p.wait_status("det", "running");
    let o = p.podman(&["exec", "det", "echo", "resumed"]);
    assert_eq!(text(&o.stdout), "resumed\n");

    let o = p.podman(&["stop", "--time", "10", "det"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    p.wait_status("det", "exited");
    let o = p.podman_quiet(&["inspect", "--format", "{{.State.ExitCode}}", "det"]);
    assert_eq!(
        text(&o.stdout).trim(),
        "7",
        "stopped by SIGTERM, not killed"
    );

    // Started again, killed, removed.
    assert!(p.podman(&["start", "det"]).status.success());
    p.wait_status("det", "running");
    assert!(p.podman(&["kill", "det"]).status.success());
    p.wait_status("det", "exited");
    assert!(p.podman(&["rm", "det"]).status.success());
    assert!(p.containers().is_empty());
    p.assert_nothing_left();
}

#[test]
fn podman_run_it_gets_a_tty() {
    let p = Podman::start();
    let bin = sangja();
    // The short sleep lets podman attach before the output: podman 4.3 can lose the first bytes of a
    // very short-lived `-it` container (with runc too).
    let a = p.run_args(
        bin.to_str().unwrap(),
        &["--rm", "-it"],
        &["sh", "-c", "sleep 0.3; tty; exit 4"],
    );
    let (code, out) = p.under_pty(&a);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("/dev/pts/0"), "{out}");

    let o = p.run(&["--rm"], &["tty"]);
    assert_eq!(text(&o.stdout), "not a tty\n");

    let o = p.run(&["-d", "--name", "ttyd"], &["sleep", "1000"]);
    assert!(o.status.success());
    p.wait_status("ttyd", "running");
    let a: Vec<String> = ["exec", "-it", "ttyd", "sh", "-c", "tty; exit 6"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (code, out) = p.under_pty(&a);
    assert_eq!(code, Some(6), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(p
        .podman(&["rm", "--force", "--time", "0", "ttyd"])
        .status
        .success());
    p.assert_nothing_left();
}

/// The message podman shows for a missing `args[0]`, whatever the runtime (runc's words).
const NOT_FOUND: &str = r#"exec: "/nonexistent": stat /nonexistent: no such file or directory"#;

/// stderr with the logrus quoting of `msg="…"` undone (runc, when podman knows it, sends JSON instead).
fn unescape(b: &[u8]) -> String {
    text(b).replace(r#"\""#, "\"")
}

#[test]
fn podman_shows_sangjas_error_from_stderr() {
    let p = Podman::start();
    let o = p.run(&["--rm"], &["/nonexistent"]);
    let err = unescape(&o.stderr);
    assert_eq!(o.status.code(), Some(127), "{err}");
    assert!(
        err.contains("create failed: unable to start container process"),
        "{err}"
    );
    assert!(err.contains(NOT_FOUND), "{err}");
    assert!(
        err.contains("OCI runtime attempted to invoke a command that was not found"),
        "{err}"
    );

    let o = p.run(&["--rm"], &["/etc/passwd"]);
    let err = unescape(&o.stderr);
    assert_eq!(o.status.code(), Some(126), "{err}");
    assert!(
        err.contains(r#"exec: "/etc/passwd""#) && err.contains("permission denied"),
        "{err}"
    );

    // Under a tty too (the container's stdio is the pty, the runtime's stderr is still conmon's pipe).
    let bin = sangja();
    let a = p.run_args(bin.to_str().unwrap(), &["--rm", "-it"], &["/nonexistent"]);
    let (code, out) = p.under_pty(&a);
    assert_eq!(code, Some(127), "{out}");
    assert!(
        out.contains("stat /nonexistent: no such file or directory"),
        "{out}"
    );

    // exec: same path through conmon.
    let o = p.run(&["-d", "--name", "e"], &["sleep", "1000"]);
    assert!(o.status.success());
    p.wait_status("e", "running");
    let o = p.podman(&["exec", "e", "/nope"]);
    let err = unescape(&o.stderr);
    assert_eq!(o.status.code(), Some(127), "{err}");
    assert!(
        err.contains(r#"exec: "/nope": stat /nope: no such file or directory"#),
        "{err}"
    );
    assert!(p
        .podman(&["rm", "--force", "--time", "0", "e"])
        .status
        .success());
    assert!(p.containers().is_empty());
    p.assert_nothing_left();
}

#[test]
fn podman_shows_sangjas_error_from_the_json_log() {
    let bin = sangja();
    let p = Podman::start_with(&[("sangja", &bin)]);
    let o = p.run_with(Path::new("sangja"), &["--rm"], &["/nonexistent"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(127), "{err}");
    // The whole `msg`, unescaped, between podman's prefix and its classification.
    assert!(
        err.contains(&format!(
            "Error: sangja: {} create failed: unable to start container process: {NOT_FOUND}: \
             OCI runtime attempted to invoke a command that was not found",
            base_name(&bin)
        )),
        "{err}"
    );
    assert!(!err.contains("level=error"), "{err}");
    // By path too: podman matches the base name of the binary.
    let o = p.run(&["--rm"], &["/nonexistent"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(127), "{err}");
    assert!(
        err.contains(NOT_FOUND) && !err.contains("level=error"),
        "{err}"
    );

    let o = p.run_with(
        Path::new("sangja"),
        &["-d", "--name", "j"],
        &["sleep", "1000"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = p.podman(&["exec", "j", "/nope"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(127), "{err}");
    assert!(
        err.contains(r#"unable to start container process: exec: "/nope": stat /nope: no such file or directory"#),
        "{err}"
    );
    assert!(p
        .podman(&["rm", "--force", "--time", "0", "j"])
        .status
        .success());
    p.assert_nothing_left();
}

#[test]
fn podman_with_a_missing_runtime_binary_fails_cleanly() {
    let p = Podman::start();
    let o = p.run_with(Path::new("/nonexistent/sangja"), &["--rm"], &["true"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.contains("/nonexistent/sangja"), "{err}");
    assert!(p.containers().is_empty());
    p.assert_nothing_left();
}

/// The same `podman run --rm` steps with runc and sangja give the same exit codes and output (ids,
/// hostnames and the runtime's name aside).
#[test]
fn podman_runs_like_runc() {
    let runc = spec_tests::runc_bin();
    if !runc.exists() {
        eprintln!("skipped: {} not installed", runc.display());
        return;
    }
    let mut p = Podman::start();
    p.runtimes.push(runc.clone());
    let cases: &[&[&str]] = &[
        &["sh", "-c", "echo hi; exit 3"],
        &[
            "sh",
            "-c",
            "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status; ulimit -n; ulimit -u; id; umask",
        ],
        &["sh", "-c", "env | grep -v HOSTNAME | sort; ls /dev; cat /proc/self/oom_score_adj"],
        &["sh", "-c", "grep -E '^[0-9]+:(pids|memory|freezer):' /proc/self/cgroup | sed 's/libpod-.*/libpod-ID/'"],
        &["sh", "-c", "cat /proc/self/mountinfo | cut -d' ' -f5 | grep -v '^/sys/fs/cgroup' | sort"],
        &["/nonexistent"],
        &["/etc/passwd"],
        &["/tmp"],
    ];
    let bin = sangja();
    let name = base_name(&bin);
    for args in cases {
        let a = p.run(&["--rm"], args);
        let b = p.run_with(&runc, &["--rm"], args);
        assert_eq!(a.status.code(), b.status.code(), "{args:?}");
        assert_eq!(text(&a.stdout), text(&b.stdout), "{args:?}");
        // The error line names the runtime; compare the rest where runc and sangja agree on wording.
        if b.status.code() == Some(127) {
            let strip = |s: String, n: &str| {
                s.replace(&format!("{n} create failed"), "RT create failed")
                    .replace('\\', "")
            };
            let ea = strip(text(&a.stderr), &name);
            let eb = strip(text(&b.stderr), "runc");
            let core = "RT create failed: unable to start container process: exec";
            assert!(ea.contains(core) && eb.contains(core), "{ea}\n{eb}");
        }
    }
    assert!(p.containers().is_empty());
    p.assert_nothing_left();
}

/// Not a test: median wall time of `podman run --rm <image> true`, sangja against runc, 20 interleaved
/// rounds, with this private setup. `cargo test -p sangja-shim --release --test clients_podman --
/// --ignored --nocapture podman_run_latency` (or `SANGJA_BIN=<release build>`).
#[test]
#[ignore]
fn podman_run_latency_vs_runc() {
    let runc = spec_tests::runc_bin();
    let mut p = Podman::start();
    p.runtimes.push(runc.clone());
    let bin = sangja();
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    // One warm-up each.
    for r in [&bin, &runc] {
        assert!(p.run_with(r, &["--rm"], &["true"]).status.success());
    }
    for _ in 0..rounds {
        for (i, r) in [&bin, &runc].into_iter().enumerate() {
            let a = p.run_args(r.to_str().unwrap(), &["--rm"], &["true"]);
            let t0 = Instant::now();
            let o = p.podman_quiet(&a.iter().map(String::as_str).collect::<Vec<_>>());
            times[i].push(t0.elapsed());
            assert!(o.status.success(), "{}", text(&o.stderr));
        }
    }
    for (i, r) in [&bin, &runc].into_iter().enumerate() {
        let t = &mut times[i];
        t.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{}: median {:.1} ms (min {:.1}, max {:.1}, n={})",
            r.display(),
            ms(t[t.len() / 2]),
            ms(t[0]),
            ms(t[t.len() - 1]),
            t.len()
        );
    }
    p.assert_nothing_left();
}
