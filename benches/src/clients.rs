//! Through the clients: the wall time of `run --rm <busybox image> true` as a user sees it, through
//! containerd (`ctr run --rm --runc-binary <runtime>`, the `io.containerd.runc.v2` shim), podman
//! (`podman run --rm --runtime <path>`, conmon) and docker (`docker run --rm --runtime <name>`, dockerd
//! and its containerd), for every runtime measured.
//!
//! Each client gets the private setup of the client tests (`spec_tests::{containerd, podman, dockerd}`:
//! own state, sockets, cgroup parent and temp dir, removed at the end), started inside the benchmark's
//! private mount namespace, so the daemons, shims and conmon see the same cgroup layout as the runtimes
//! do in the other groups. The image is the busybox rootfs built offline ([`spec_tests::image`]).
//! One warm-up per runtime (a runtime whose warm-up fails is skipped for that client, with a note), then
//! `rounds` rounds interleaved round-robin, round r starting at runtime r.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use spec_tests::containerd::Containerd;
use spec_tests::dockerd::{self, Dockerd};
use spec_tests::podman::Podman;

use crate::results::Results;
use crate::runtime::{timed, Runtime};
use crate::sys;

/// Report group of these series.
pub const GROUP: &str = "clients";

/// (client, metric) in the order measured; the metric names the command.
pub const CLIENTS: [(&str, &str); 3] = [
    ("containerd", "ctr run --rm"),
    ("podman", "podman run --rm"),
    ("docker", "docker run --rm"),
];

/// The image name in containerd's namespace.
const CTR_IMAGE: &str = "localhost/sangja-busybox:latest";

/// Longest one `run --rm` may take before it is killed and counted as a failure.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A client with its private daemon or setup.
enum Client {
    Containerd(Containerd),
    Podman(Podman),
    Docker(Dockerd),
}

/// The docker runtime name of `rt` (`runc` is reserved by dockerd for its own).
fn docker_name(rt: &Runtime) -> String {
    format!("bench-{}", rt.name)
}

fn on_path(name: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/bin"].map(Into::into))
        .any(|d| d.join(name).is_file())
}

/// What a client needs installed.
fn missing(client: &str) -> Option<String> {
    let need: &[&str] = match client {
        "containerd" => &["containerd", "ctr", "containerd-shim-runc-v2"],
        "podman" => &["podman", "unshare"],
        _ => &["dockerd"],
    };
    let mut absent: Vec<String> = need
        .iter()
        .filter(|n| !on_path(n))
        .map(|n| n.to_string())
        .collect();
    if client == "docker" && !Path::new(dockerd::DOCKER).is_file() {
        absent.push(dockerd::DOCKER.to_string());
    }
    (!absent.is_empty()).then(|| absent.join(", "))
}

/// The first line of a (possibly long, log-carrying) error.
fn first_line(e: &str) -> &str {
    e.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

impl Client {
    fn start(client: &str, rts: &[Runtime]) -> Result<Client, String> {
        match client {
            "containerd" => {
                let c = Containerd::try_start(
                    "sangja-bench-ct",
                    None,
                    "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
                )?;
                c.try_import_image(CTR_IMAGE, &["sh"])?;
                for rt in rts {
                    let root = c.dir().join("runc").join(&rt.name);
                    std::fs::create_dir_all(&root)
                        .map_err(|e| format!("mkdir {}: {e}", root.display()))?;
                }
                Ok(Client::Containerd(c))
            }
            "podman" => {
                let first = rts.first().ok_or("no runtime")?;
                // Every runtime named, so that each is in `runtime_supports_json` and gets the same
                // `--log-format=json --log` from podman (with none named, only podman's own `runc`
                // would); named runtimes are also the ones the drop `delete --force`s with.
                let named: Vec<(&str, &Path)> = rts
                    .iter()
                    .map(|rt| (rt.name.as_str(), rt.path.as_path()))
                    .collect();
                Podman::try_start_with(&first.path, &named).map(Client::Podman)
            }
            _ => {
                let names: Vec<String> = rts.iter().map(docker_name).collect();
                let pairs: Vec<(&str, &Path)> = names
                    .iter()
                    .zip(rts)
                    .map(|(n, rt)| (n.as_str(), rt.path.as_path()))
                    .collect();
                Dockerd::try_start_with(&pairs).map(Client::Docker)
            }
        }
    }

    /// The `run --rm … true` command for `rt`; `id` names the container where the client needs one.
    fn command(&self, rt: &Runtime, id: &str) -> Command {
        match self {
            Client::Containerd(c) => {
                let mut cmd = c.cmd();
                cmd.args(["run", "--rm", "--runc-binary"])
                    .arg(&rt.path)
                    .arg("--runc-root")
                    .arg(c.dir().join("runc").join(&rt.name))
                    .arg("--fifo-dir")
                    .arg(c.dir().join("fifo"))
                    .args([CTR_IMAGE, id, "true"]);
                cmd
            }
            Client::Podman(p) => {
                let mut cmd = p.cmd();
                cmd.args(p.run_args(&rt.path.to_string_lossy(), &["--rm"], &["true"]));
                cmd
            }
            Client::Docker(d) => {
                let mut cmd = d.cmd();
                cmd.args(["run", "--rm", "--network", "none", "--runtime"])
                    .arg(docker_name(rt))
                    .args([dockerd::IMAGE, "true"]);
                cmd
            }
        }
    }

    /// Stops the daemon (the podman setup waits for its asynchronous cleanup) and returns what of it
    /// is left behind.
    fn finish(self) -> Vec<String> {
        match self {
            Client::Containerd(mut c) => {
                c.shutdown();
                c.leftovers()
            }
            Client::Docker(mut d) => {
                d.shutdown();
                d.leftovers()
            }
            Client::Podman(p) => {
                let mut left = Vec::new();
                spec_tests::host::wait_until(Duration::from_secs(10), || {
                    left = p.leftovers();
                    left.is_empty()
                });
                left
            }
        }
    }
}

/// Measures every client that is installed; what was skipped, and why, goes to `notes`.
pub fn measure(rts: &[Runtime], rounds: usize, res: &mut Results, notes: &mut Vec<String>) {
    for (client, metric) in CLIENTS {
        if let Some(absent) = missing(client) {
            let note = format!("{client}: not measured, not installed ({absent})");
            eprintln!("clients: {note}");
            notes.push(note);
            continue;
        }
        let t0 = Instant::now();
        let c = match Client::start(client, rts) {
            Ok(c) => c,
            Err(e) => {
                let note = format!("{client}: not measured, setup failed: {}", first_line(&e));
                eprintln!("clients: {note}\n{e}");
                notes.push(note);
                sys::reap_strays();
                continue;
            }
        };
        let setup = t0.elapsed();
        let mut live: Vec<&Runtime> = Vec::new();
        for rt in rts {
            let cmd = c.command(rt, &format!("sb{}-{}-warm", std::process::id(), rt.name));
            match timed(cmd, &format!("{metric} ({})", rt.name), TIMEOUT) {
                Ok(_) => live.push(rt),
                Err(e) => {
                    let note = format!("{client}: {} skipped, its warm-up failed: {e}", rt.name);
                    eprintln!("clients: {note}");
                    notes.push(note);
                }
            }
        }
        for r in 0..rounds {
            for k in 0..live.len() {
                let rt = live[(r + k) % live.len()];
                let id = format!("sb{}-{}-{r}", std::process::id(), rt.name);
                let what = format!("{metric} ({})", rt.name);
                match timed(c.command(rt, &id), &what, TIMEOUT) {
                    Ok(d) => res.push(GROUP, &rt.name, metric, d.as_secs_f64() * 1e3),
                    Err(e) => res.fail(&rt.name, metric, e),
                }
            }
            sys::reap_strays();
            eprint!("\rclients: {client} {}/{rounds}", r + 1);
        }
        let left = c.finish();
        sys::reap_strays();
        if !left.is_empty() {
            let note = format!("{client}: left behind: {}", left.join("; "));
            eprintln!("\nclients: {note}");
            notes.push(note);
        }
        let note = format!(
            "{client}: set-up {:.1} s, all {:.1} s",
            setup.as_secs_f64(),
            t0.elapsed().as_secs_f64()
        );
        eprintln!("\nclients: {note}");
        notes.push(note);
    }
}
