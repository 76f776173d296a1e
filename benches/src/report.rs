//! The report written from the samples ([`Results`]): `results.csv` (statistics), `samples.csv` (every sample),
//! `results.md` (tables) and `latency.svg` (see `plot.rs`).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::floor::SERIES;
use crate::lifecycle::PHASES;
use crate::results::Results;
use crate::runtime::Runtime;
use crate::stats::Stats;

/// What the report says about where and how it ran.
#[derive(Debug, Default)]
pub struct Meta {
    pub date: String,
    pub machine: String,
    pub command: String,
    pub cgroups: String,
    pub rounds: usize,
    pub vm_label: Option<String>,
    pub vm_kernel: Option<String>,
    pub vm_qemu: Option<String>,
    pub vm_probe: Option<String>,
    pub vm_missing: Option<String>,
    pub floor_hierarchies: usize,
    /// The spawner's own peak RSS: no `ru_maxrss` it reports can be lower.
    pub rss_floor_kib: Option<i64>,
    pub preload: usize,
    pub scale_secs: f64,
    pub client_rounds: usize,
    pub seccomp_runs: usize,
    /// What the clients group skipped, left behind or took.
    pub clients: Vec<String>,
}

/// Firecracker's published start-up target, quoted (not measured here).
pub const FIRECRACKER_MS: f64 = 125.0;

fn f(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `results.csv` and `samples.csv`.
pub fn write_csv(dir: &Path, res: &Results) -> Result<(), String> {
    let mut stats = String::from("group,subject,metric,unit,n,median,p90,min,max\n");
    let mut samples = String::from("group,subject,metric,unit,index,value\n");
    for s in &res.series {
        let q = |t: &str| format!("\"{}\"", t.replace('"', "\"\""));
        if let Some(st) = Stats::of(&s.values) {
            let _ = writeln!(
                stats,
                "{},{},{},{},{},{:.4},{:.4},{:.4},{:.4}",
                s.group,
                q(&s.subject),
                q(&s.metric),
                s.unit(),
                st.n,
                st.median,
                st.p90,
                st.min,
                st.max
            );
        }
        for (i, v) in s.values.iter().enumerate() {
            let _ = writeln!(
                samples,
                "{},{},{},{},{i},{v:.4}",
                s.group,
                q(&s.subject),
                q(&s.metric),
                s.unit()
            );
        }
    }
    for (name, text) in [("results.csv", stats), ("samples.csv", samples)] {
        let p = dir.join(name);
        fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}

/// `results.md`: the tables, returned too (printed on stdout).
pub fn markdown(res: &Results, rts: &[Runtime], meta: &Meta) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "### Start-up benchmark, {}\n", meta.date);
    let _ = writeln!(w, "Machine: {}. {}", meta.machine, meta.cgroups);
    let _ = writeln!(
        w,
        "Bundle: busybox-static rootfs, config as `runc spec` writes it (terminal false), process `/bin/true` \
         (`sleep` for state/kill). Command: `{}`.\n",
        meta.command
    );
    for rt in rts {
        let _ = writeln!(
            w,
            "- **{}**: {} (`{}`)",
            rt.name,
            rt.version,
            rt.path.display()
        );
    }
    // A run of only the clients (`--rounds 0`) has no per-phase, memory or floor numbers.
    if meta.rounds > 0 {
        lifecycle(w, res, rts, meta);
        memory(w, res, rts, meta);
    }
    if meta.rounds > 0 || meta.vm_label.is_some() {
        vm_and_floor(w, res, meta);
    }
    scale(w, res, rts, meta);
    clients(w, res, rts, meta);
    seccomp(w, res, meta);
    full_stats(w, res);
    if !res.failures.is_empty() {
        let _ = writeln!(w, "\n**Failures** ({}):\n", res.failures.len());
        for (subject, what, msg) in res.failures.iter().take(20) {
            let _ = writeln!(w, "- {subject} {what}: {}", msg.replace('\n', " "));
        }
    }
    md
}

fn lifecycle(w: &mut String, res: &Results, rts: &[Runtime], meta: &Meta) {
    let _ = writeln!(
        w,
        "\n**Latency per phase**, ms, median (p90) of n = {} rounds interleaved round-robin. wait = start \
         returned → init exited and reaped (pidfd). create→delete = the sum of the four.\n",
        meta.rounds
    );
    let _ = write!(w, "| runtime |");
    for p in PHASES {
        let _ = write!(w, " {p} |");
    }
    let _ = write!(w, "\n|---|");
    for _ in PHASES {
        let _ = write!(w, "---:|");
    }
    let _ = writeln!(w);
    for rt in rts {
        let _ = write!(w, "| {} |", rt.name);
        for p in PHASES {
            match res.stats("lifecycle", &rt.name, p) {
                Some(s) => {
                    let _ = write!(w, " {} ({}) |", f(s.median), f(s.p90));
                }
                None => {
                    let _ = write!(w, " — |");
                }
            }
        }
        let _ = writeln!(w);
    }
    if let Some((first, others)) = rts.split_first() {
        if !others.is_empty() {
            let _ = writeln!(
                w,
                "\n**Ratios of medians** (below 1: {} is faster)\n",
                first.name
            );
            let _ = write!(w, "| phase |");
            for o in others {
                let _ = write!(w, " {} / {} |", first.name, o.name);
            }
            let _ = write!(w, "\n|---|");
            for _ in others {
                let _ = write!(w, "---:|");
            }
            let _ = writeln!(w);
            let rows = PHASES
                .iter()
                .map(|p| ("lifecycle", *p))
                .chain([("rss", "run")]);
            for (group, p) in rows {
                let label = if group == "rss" {
                    "peak RSS of run".to_string()
                } else {
                    p.to_string()
                };
                let _ = write!(w, "| {label} |");
                for o in others {
                    match (
                        res.median(group, &first.name, p),
                        res.median(group, &o.name, p),
                    ) {
                        (Some(a), Some(b)) if b > 0.0 => {
                            let _ = write!(w, " {:.2} |", a / b);
                        }
                        _ => {
                            let _ = write!(w, " — |");
                        }
                    }
                }
                let _ = writeln!(w);
            }
        }
    }
}

fn memory(w: &mut String, res: &Results, rts: &[Runtime], meta: &Meta) {
    let floor = meta.rss_floor_kib.map_or("unknown".to_string(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    });
    let _ = writeln!(
        w,
        "\n**Memory and size**. Peak RSS is `wait4`'s `ru_maxrss`, median over rounds: the largest RSS of \
         the runtime process and of every descendant it reaped — helper processes (runc's `runc init`) and, \
         for `run`, the container init before and after its exec of `/bin/true`. A max over processes, not \
         the sum of processes alive at once (runc's parent and `runc init` overlap). Because the kernel also \
         counts the memory a process ran on before its exec, `run` and `create` are started by a small \
         spawner forked at the benchmark's start (its own peak, the floor of this measurement: {floor}). \
         `create` counts the create process and its reaped helpers; the container init (a clone or child of \
         the runtime, reaped by the benchmark as subreaper) is its own column. Binary: the file, plus the \
         shared libraries `ldd` resolves.\n"
    );
    let _ = writeln!(w, "| runtime | peak RSS of `run` | of `create` | of the container init | binary | shared libraries |");
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---|");
    for rt in rts {
        let m = |metric: &str| {
            res.median("rss", &rt.name, metric)
                .map_or("—".to_string(), |v| format!("{v:.1} MiB"))
        };
        let libs = if rt.size.libs.is_empty() {
            "none (static)".to_string()
        } else {
            let names: Vec<&str> = rt.size.libs.iter().map(|(n, _)| n.as_str()).collect();
            format!(
                "{}: {} ({})",
                rt.size.libs.len(),
                mib(rt.size.libs_bytes()),
                names.join(", ")
            )
        };
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {libs} |",
            rt.name,
            m("run"),
            m("create"),
            m("init"),
            mib(rt.size.bytes)
        );
    }
}

fn row(w: &mut String, label: &str, s: Option<Stats>, scale: f64, unit: &str) {
    match s {
        Some(s) => {
            let _ = writeln!(
                w,
                "| {label} | {} | {} {unit} | {} | {} | {} |",
                s.n,
                f(s.median * scale),
                f(s.p90 * scale),
                f(s.min * scale),
                f(s.max * scale)
            );
        }
        None => {
            let _ = writeln!(w, "| {label} | 0 | — | — | — | — |");
        }
    }
}

fn vm_and_floor(w: &mut String, res: &Results, meta: &Meta) {
    let _ = writeln!(w, "\n**The VM and the kernel floor**\n");
    let _ = writeln!(w, "| what | n | median | p90 | min | max |");
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|");
    match (&meta.vm_label, &meta.vm_missing) {
        (Some(label), _) => {
            let what = format!(
                "VM boot → power-off: {}, {}, Debian {} (s)",
                meta.vm_qemu.as_deref().unwrap_or("qemu"),
                label,
                meta.vm_kernel.as_deref().unwrap_or("")
            );
            row(w, &what, res.stats("vm", "vm", "boot→poweroff"), 1e-3, "s");
            row(
                w,
                "VM guest uptime when /init ran (guest clock, s)",
                res.stats("vm", "vm", "guest uptime at /init"),
                1e-3,
                "s",
            );
        }
        (None, Some(why)) => {
            let _ = writeln!(
                w,
                "| VM boot → power-off: not measured ({why}) | 0 | — | — | — | — |"
            );
        }
        (None, None) => {
            let _ = writeln!(
                w,
                "| VM boot → power-off: skipped (--vm-boots 0) | 0 | — | — | — | — |"
            );
        }
    }
    let _ = writeln!(
        w,
        "| Firecracker microVM, InstanceStart → guest init: published target, **not measured** | — | ≤ {FIRECRACKER_MS:.0} ms | — | — | — |"
    );
    for series in SERIES {
        let label = format!("kernel floor {series} (ms)");
        row(w, &label, res.stats("floor", "floor", series), 1.0, "ms");
    }
    if let Some(probe) = &meta.vm_probe {
        let _ = writeln!(w, "\nVM: {probe}. The guest is a busybox initramfs whose /init runs `true` and `poweroff -f`.");
    }
    let _ = writeln!(
        w,
        "\nThe floor is raw syscalls from the benchmark, each level one more subject of the round-robin: \
         cumulative levels, timed from the first syscall to the child reaped and its cgroups removed. Level 3 \
         joins a fresh cgroup in each of the {} mounted hierarchies; level 4 adds every other mount, device, \
         path, identity and capability step the default spec asks for. *Cold* runs after {} ms without a \
         cgroup migration by the benchmark, *warm* right after another: the first `cgroup.procs` write after a \
         pause waits for an RCU grace period (the kernel's `cgroup_threadgroup_rwsem` leaves its fast path), \
         which a runtime's `create` pays too whenever no other container was started just before. Other jobs on \
         the machine can warm it, so cold numbers are noisy.",
        meta.floor_hierarchies,
        crate::floor::COLD_GAP.as_millis()
    );
}

fn scale(w: &mut String, res: &Results, rts: &[Runtime], meta: &Meta) {
    let mut levels: Vec<String> = Vec::new();
    for s in res.series.iter().filter(|s| s.group == "scale") {
        if let Some(l) = s.metric.strip_suffix(": containers/s") {
            if !levels.iter().any(|x| x == l) {
                levels.push(l.to_string());
            }
        }
    }
    let has_preload = res.series.iter().any(|s| s.group == "preload");
    if levels.is_empty() && !has_preload {
        return;
    }
    let _ = writeln!(
        w,
        "\n**Scale**: containers per second with N threads each looping create/start/wait/delete for {} s \
         (median create→delete latency in parentheses, ms); `state` and `create` (median ms) with {} created \
         containers in the root dir, next to the same commands with one, measured just before populating it.\n",
        meta.scale_secs, meta.preload
    );
    let _ = write!(w, "| runtime |");
    for l in &levels {
        let _ = write!(w, " {l}: containers/s |");
    }
    let n = meta.preload;
    let _ = write!(
        w,
        " state with 1 | state with {n} | create with 1 | create with {n} |\n|---|"
    );
    for _ in 0..levels.len() + 4 {
        let _ = write!(w, "---:|");
    }
    let _ = writeln!(w);
    let cell = |v: Option<f64>| v.map_or("—".to_string(), f);
    for rt in rts {
        let _ = write!(w, "| {} |", rt.name);
        for l in &levels {
            let rate = res.median("scale", &rt.name, &format!("{l}: containers/s"));
            let lat = res.median("scale", &rt.name, &format!("{l}: create→delete"));
            let _ = write!(w, " {} ({}) |", cell(rate), cell(lat));
        }
        let _ = writeln!(
            w,
            " {} | {} | {} | {} |",
            cell(res.median("preload", &rt.name, "state with 1")),
            cell(res.median("preload", &rt.name, &format!("state with {n}"))),
            cell(res.median("preload", &rt.name, "create with 1")),
            cell(res.median("preload", &rt.name, &format!("create with {n}"))),
        );
    }
}

fn seccomp(w: &mut String, res: &Results, meta: &Meta) {
    if meta.seccomp_runs == 0 {
        return;
    }
    let _ = writeln!(
        w,
        "\n**Seccomp**: sangja's OCI → BPF compile of the default profiles clients send with every \
         container (one filter for x86_64, x32 and i386), in process, n = {} compiles each. libseccomp \
         takes 12.3 ms for Docker's on this machine kind (`shared/anchors/crates.md`, not measured here).\n",
        meta.seccomp_runs
    );
    let _ = writeln!(
        w,
        "| profile | BPF instructions | median µs | p90 | min | max |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|");
    for (subject, source) in crate::seccomp::PROFILES {
        let (Some(s), Some(len)) = (
            res.stats(crate::seccomp::GROUP, subject, "compile"),
            res.median(crate::seccomp::GROUP, subject, "instructions"),
        ) else {
            continue;
        };
        let _ = writeln!(
            w,
            "| {subject} ({source}) | {len:.0} | {} | {} | {} | {} |",
            f(s.median),
            f(s.p90),
            f(s.min),
            f(s.max)
        );
    }
}

fn clients(w: &mut String, res: &Results, rts: &[Runtime], meta: &Meta) {
    if meta.client_rounds == 0 {
        return;
    }
    let _ = writeln!(
        w,
        "\n**Through the clients**: wall time of `run --rm <busybox image> true` as the client's user sees \
         it, ms, median (p90) of n = {} rounds interleaved round-robin after one warm-up per runtime. Each \
         client runs on a private setup started by the benchmark: containerd with `ctr run --rm --runc-binary \
         <runtime>`, podman with `--runtime <path>` (conmon, vfs, cgroupfs), docker with `--runtime <name>` on \
         a dockerd started with `--add-runtime` for each runtime (overlay2, cgroupfs, `--network none`).\n",
        meta.client_rounds
    );
    let _ = write!(w, "| client |");
    for rt in rts {
        let _ = write!(w, " {} |", rt.name);
    }
    let (first, others) = match rts.split_first() {
        Some((f, o)) => (Some(f), o),
        None => (None, rts),
    };
    if let Some(first) = first {
        for o in others {
            let _ = write!(w, " {} / {} |", first.name, o.name);
        }
    }
    let _ = write!(w, "\n|---|");
    for _ in 0..rts.len() + others.len() {
        let _ = write!(w, "---:|");
    }
    let _ = writeln!(w);
    for (client, metric) in crate::clients::CLIENTS {
        let _ = write!(w, "| {client} (`{metric}`) |");
        for rt in rts {
            match res.stats(crate::clients::GROUP, &rt.name, metric) {
                Some(s) => {
                    let _ = write!(w, " {} ({}) |", f(s.median), f(s.p90));
                }
                None => {
                    let _ = write!(w, " — |");
                }
            }
        }
        if let Some(first) = first {
            for o in others {
                let med = |name: &str| res.median(crate::clients::GROUP, name, metric);
                match (med(&first.name), med(&o.name)) {
                    (Some(a), Some(b)) if b > 0.0 => {
                        let _ = write!(w, " {:.2} |", a / b);
                    }
                    _ => {
                        let _ = write!(w, " — |");
                    }
                }
            }
        }
        let _ = writeln!(w);
    }
    if !meta.clients.is_empty() {
        let _ = writeln!(w);
        for note in &meta.clients {
            let _ = writeln!(w, "- {}", note.replace('\n', " "));
        }
    }
}

fn full_stats(w: &mut String, res: &Results) {
    let _ = writeln!(
        w,
        "\n<details><summary>Every series: n, median, p90, min, max</summary>\n"
    );
    let _ = writeln!(
        w,
        "| group | subject | metric | unit | n | median | p90 | min | max |"
    );
    let _ = writeln!(w, "|---|---|---|---|---:|---:|---:|---:|---:|");
    for s in &res.series {
        if let Some(st) = Stats::of(&s.values) {
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.group,
                s.subject,
                s.metric,
                s.unit(),
                st.n,
                f(st.median),
                f(st.p90),
                f(st.min),
                f(st.max)
            );
        }
    }
    let _ = writeln!(w, "\n</details>");
}
