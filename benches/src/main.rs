//! `sangja-bench`: start-up latency, memory and scale of sangja against other OCI runtimes given by path,
//! next to a minimal VM and the kernel floor. Run as root:
//!
//! ```sh
//! cargo dist && cargo build --release -p sangja-bench && sudo target/release/sangja-bench
//! ```
//!
//! It enters a private mount namespace itself (with `/sys/fs/cgroup/unified` unmounted, for crun 1.8 on a
//! hybrid host), builds its bundles from the host's static busybox, and writes `results.csv`, `samples.csv`,
//! `results.md` and `latency.svg` to `--out` (default `benches/results/`).
//!
//! Besides the runtimes' own commands it times `run --rm <busybox image> true` through containerd, podman
//! and docker on private daemons (`clients.rs`, `--client-rounds`; `--rounds 0 --vm-boots 0 --scale-secs 0
//! --preload 0` runs only that).

mod bundle;
mod clients;
mod floor;
mod lifecycle;
mod plot;
mod report;
mod results;
mod runtime;
mod scale;
mod seccomp;
mod spawner;
mod stats;
mod sys;
mod vm;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;

use crate::report::Meta;
use crate::results::Results;
use crate::runtime::Runtime;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Start-up benchmark of OCI runtimes against a VM and the kernel floor (run as root)"
)]
struct Args {
    /// A runtime to measure, NAME=PATH; repeat for each. The first is compared with the others.
    /// Default: the shipped sangja (`cargo dist`: target/dist/sangja), else the one next to this
    /// binary; then runc, crun, youki where installed.
    #[arg(long = "runtime", value_name = "NAME=PATH")]
    runtimes: Vec<String>,
    /// Interleaved rounds of the per-phase measurements (and of the kernel floor).
    #[arg(long, default_value_t = 100)]
    rounds: usize,
    /// VM boots (0: no VM anchor).
    #[arg(long, default_value_t = 5)]
    vm_boots: usize,
    /// Seconds each runtime runs at each concurrency level (0: no concurrency test).
    #[arg(long, default_value_t = 2.0)]
    scale_secs: f64,
    /// Concurrency levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    scale_levels: Vec<usize>,
    /// Created containers in the root dir for the `state`/`create` scale test (0: skip).
    #[arg(long, default_value_t = 1000)]
    preload: usize,
    /// Samples of `state` and `create` with the root dir preloaded.
    #[arg(long, default_value_t = 30)]
    preload_samples: usize,
    /// Interleaved rounds of `run --rm <busybox image> true` through containerd (`ctr`), podman and
    /// docker, each with a private daemon, after one warm-up per runtime (0: no clients; a client that
    /// is not installed is skipped with a note).
    #[arg(long, default_value_t = 20)]
    client_rounds: usize,
    /// In-process compiles of Docker's and podman's default seccomp profiles (0: none).
    #[arg(long, default_value_t = 300)]
    seccomp_runs: usize,
    /// Report directory.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    out: PathBuf,
    /// Where the VM kernel is cached (downloaded once with apt-get).
    #[arg(long, default_value = "/var/cache/sangja-bench")]
    cache: PathBuf,
    /// Scratch dir for bundles and root dirs (default /run/sangja-bench.PID), removed at the end.
    #[arg(long)]
    work: Option<PathBuf>,
    /// The static busybox the bundles and the initramfs are built from.
    #[arg(long, default_value = "/bin/busybox")]
    busybox: PathBuf,
    /// Leave /sys/fs/cgroup/unified mounted in the private mount namespace.
    #[arg(long)]
    keep_unified: bool,
}

fn default_runtimes() -> Vec<(String, PathBuf)> {
    let mut v = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        let dist = dir.parent().map(|t| t.join("dist/sangja"));
        let s = dist
            .filter(|d| d.exists())
            .unwrap_or_else(|| dir.join("sangja"));
        if s.exists() {
            v.push(("sangja".to_string(), s));
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["runc", "crun", "youki"] {
        let dirs = std::env::split_paths(&path)
            .chain(["/usr/sbin", "/usr/local/bin", "/opt/youki/bin"].map(PathBuf::from));
        if let Some(p) = dirs.map(|d| d.join(name)).find(|p| p.is_file()) {
            v.push((name.to_string(), p));
        }
    }
    v
}

/// `YYYY-MM-DD HH:MM UTC` from the system clock (civil-from-days, no date crate).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_gib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|r| r.split_whitespace().next()?.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {mem_gib:.0} GiB, Linux {}",
        kernel.trim()
    )
}

fn run(args: Args) -> Result<(), String> {
    if sys::euid() != 0 {
        return Err("run as root: containers, cgroups and mount namespaces need it".into());
    }
    // First, while this process has one thread: a private mount namespace for every runtime.
    let unmounted = sys::private_mount_namespace(args.keep_unified)
        .map_err(|e| format!("private mount namespace: {e}"))?;
    sys::become_subreaper().map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
    // Next, while still small: the process that starts the commands whose peak RSS is measured.
    let spawner = spawner::Spawner::start().map_err(|e| format!("fork spawner: {e}"))?;
    let cgroups = if unmounted {
        "Every runtime ran in a private mount namespace with `/sys/fs/cgroup/unified` unmounted (crun 1.8 \
         refuses this hybrid cgroup layout), so all saw plain cgroup v1."
    } else {
        "Every runtime ran in a private mount namespace; the cgroup layout was left as the host has it."
    };

    let work = args
        .work
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/run/sangja-bench.{}", std::process::id())));
    fs::create_dir_all(&work).map_err(|e| format!("mkdir {}: {e}", work.display()))?;
    let result = bench(&args, &work, cgroups, &spawner);
    drop(spawner);
    sys::reap_strays();
    if args.work.is_none() {
        let _ = fs::remove_dir_all(&work);
    }
    result
}

/// Everything measured, in order: the runtimes found, the bundles, the VM prepared, the interleaved rounds of
/// the runtimes' phases and the kernel floor, then scale, preload, seccomp, clients and VM boots; then the
/// report.
fn bench(
    args: &Args,
    work: &Path,
    cgroups: &str,
    spawner: &spawner::Spawner,
) -> Result<(), String> {
    let runtimes = runtimes(args, work)?;
    let true_bundle =
        bundle::Bundle::create(&work.join("bundle-true"), &args.busybox, &["/bin/true"])?;
    let sleep_bundle = bundle::Bundle::create(
        &work.join("bundle-sleep"),
        &args.busybox,
        &["/bin/sleep", "3600"],
    )?;
    let userns_bundle =
        bundle::Bundle::create_userns(&work.join("bundle-userns"), &args.busybox, &["/bin/true"])?;
    let mut res = Results::default();
    let mut meta = meta(args, cgroups);

    // The VM first: a missing kernel download fails here, before minutes of measurement.
    let vm = if args.vm_boots > 0 {
        prepare_vm(args, work, &mut meta)
    } else {
        None
    };

    // Per-phase rounds, with the kernel floor levels interleaved into the same rounds.
    let mut floor = floor::Floor::new(&true_bundle.rootfs())?;
    meta.floor_hierarchies = floor.hierarchies();
    let round = lifecycle::Round {
        true_bundle: &true_bundle.dir,
        userns_bundle: &userns_bundle.dir,
        sleep_bundle: &sleep_bundle.dir,
        work,
        spawner,
    };
    rounds(args, &runtimes, &round, &mut floor, &mut res);

    scale_tests(args, &runtimes, &true_bundle.dir, work, &mut res);
    seccomp::measure(args.seccomp_runs, &mut res);
    if args.client_rounds > 0 {
        let t0 = std::time::Instant::now();
        clients::measure(&runtimes, args.client_rounds, &mut res, &mut meta.clients);
        eprintln!("clients: {:.0} s", t0.elapsed().as_secs_f64());
    }
    if let Some(vm) = &vm {
        boot_vm(vm, args.vm_boots, &mut res);
    }

    meta.rss_floor_kib = spawner.own_hwm();
    write_report(&args.out, &res, &runtimes, &meta)
}

/// The report's description of this run: date, machine, command line, cgroup layout, and the options that
/// decide what was measured (the rest is filled in as the parts run).
fn meta(args: &Args, cgroups: &str) -> Meta {
    Meta {
        date: utc_now(),
        machine: machine(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        cgroups: cgroups.to_string(),
        rounds: args.rounds,
        preload: args.preload,
        scale_secs: args.scale_secs,
        client_rounds: args.client_rounds,
        seccomp_runs: args.seccomp_runs,
        ..Meta::default()
    }
}

/// The scale tests the options ask for: concurrency levels (`--scale-secs`, `--scale-levels`), then
/// `state` and `create` with the root dir preloaded (`--preload`).
fn scale_tests(
    args: &Args,
    runtimes: &[Runtime],
    true_bundle: &Path,
    work: &Path,
    res: &mut Results,
) {
    if args.scale_secs > 0.0 && !args.scale_levels.is_empty() {
        scale::concurrency(
            runtimes,
            true_bundle,
            work,
            &args.scale_levels,
            args.scale_secs,
            res,
        );
    }
    if args.preload > 0 {
        scale::preloaded(
            runtimes,
            true_bundle,
            work,
            args.preload,
            args.preload_samples,
            res,
        );
    }
}

/// The runtimes to measure: `--runtime NAME=PATH` as given, else [`default_runtimes`]; each named on stderr
/// with its version. A name is not empty and holds no '/', ' ', ',' or '"'.
fn runtimes(args: &Args, work: &Path) -> Result<Vec<Runtime>, String> {
    let specs: Vec<(String, PathBuf)> = if args.runtimes.is_empty() {
        default_runtimes()
    } else {
        args.runtimes
            .iter()
            .map(|s| {
                s.split_once('=')
                    .map(|(n, p)| (n.to_string(), PathBuf::from(p)))
                    .ok_or_else(|| format!("--runtime {s}: expected NAME=PATH"))
            })
            .collect::<Result<_, _>>()?
    };
    if specs.is_empty() {
        return Err("no runtime found: give --runtime NAME=PATH".into());
    }
    let mut runtimes = Vec::new();
    for (name, path) in &specs {
        if name.is_empty() || name.contains(['/', ' ', ',', '"']) {
            return Err(format!(
                "--runtime {name}=…: a name without '/', ' ', ',' or '\"'"
            ));
        }
        runtimes.push(Runtime::new(name, path, work.join(format!("root-{name}")))?);
    }
    for rt in &runtimes {
        eprintln!(
            "runtime {}: {} ({})",
            rt.name,
            rt.version,
            rt.path.display()
        );
    }
    Ok(runtimes)
}

/// The VM anchor, with its description recorded in `meta`; `None` (and why, in `meta`) when it cannot run
/// here.
fn prepare_vm(args: &Args, work: &Path, meta: &mut Meta) -> Option<vm::Vm> {
    match vm::Vm::prepare(&args.cache, work, &args.busybox) {
        Ok(vm) => {
            eprintln!(
                "vm: {}, {}, {}; {}",
                vm.qemu_version, vm.label, vm.kernel_package, vm.probe
            );
            meta.vm_probe = Some(vm.probe.clone());
            meta.vm_label = Some(vm.label.clone());
            meta.vm_kernel = Some(vm.kernel_package.clone());
            meta.vm_qemu = Some(vm.qemu_version.clone());
            Some(vm)
        }
        Err(e) => {
            eprintln!("vm: not measured: {e}");
            meta.vm_missing = Some(e);
            None
        }
    }
}

/// `--rounds` rounds in which every runtime and every floor level is one subject of the round-robin: round r
/// starts at subject r, so no subject always runs first.
fn rounds(
    args: &Args,
    runtimes: &[Runtime],
    round: &lifecycle::Round<'_>,
    floor: &mut floor::Floor,
    res: &mut Results,
) {
    let subjects = runtimes.len() + floor::LEVELS.len();
    for r in 0..args.rounds {
        for k in 0..subjects {
            match (r + k) % subjects {
                i if i < runtimes.len() => round.run(&runtimes[i], r, res),
                i => {
                    let level = i - runtimes.len();
                    match floor.measure_level(level) {
                        Ok(v) => v
                            .into_iter()
                            .for_each(|(name, ms)| res.push("floor", "floor", name, ms)),
                        Err(e) => res.fail("floor", floor::LEVELS[level], e),
                    }
                }
            }
        }
        sys::reap_strays();
        if (r + 1) % 10 == 0 || r + 1 == args.rounds {
            eprint!("\rrounds: {}/{}", r + 1, args.rounds);
        }
    }
    eprintln!();
}

/// `boots` VM boots to power-off, each with the guest's uptime at `/init` when it reports one.
fn boot_vm(vm: &vm::Vm, boots: usize, res: &mut Results) {
    for b in 0..boots {
        match vm.boot(Duration::from_secs(120)) {
            Ok(boot) => {
                res.push("vm", "vm", "boot→poweroff", boot.wall.as_secs_f64() * 1e3);
                if let Some(up) = boot.guest_init {
                    res.push("vm", "vm", "guest uptime at /init", up * 1e3);
                }
                eprintln!(
                    "vm: boot {}/{}: {:.2} s",
                    b + 1,
                    boots,
                    boot.wall.as_secs_f64()
                );
            }
            Err(e) => res.fail("vm", "boot", e),
        }
    }
}

/// `results.csv`, `samples.csv`, `results.md` and `latency.svg` in `out`; the markdown also to stdout.
fn write_report(
    out: &Path,
    res: &Results,
    runtimes: &[Runtime],
    meta: &Meta,
) -> Result<(), String> {
    fs::create_dir_all(out).map_err(|e| format!("mkdir {}: {e}", out.display()))?;
    report::write_csv(out, res)?;
    let md = report::markdown(res, runtimes, meta);
    let md_path = out.join("results.md");
    fs::write(&md_path, &md).map_err(|e| format!("{}: {e}", md_path.display()))?;
    let title = format!(
        "Container start-up vs a VM and the kernel floor — {}, {}",
        meta.date, meta.machine
    );
    plot::write_svg(
        &out.join("latency.svg"),
        res,
        runtimes,
        meta.vm_label.as_deref(),
        &title,
    )?;
    println!("{md}");
    eprintln!(
        "report: {}/{{results.md,results.csv,samples.csv,latency.svg}}",
        out.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sangja-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
