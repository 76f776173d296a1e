//! cgroup v2: the unified hierarchy (pure v2 hosts, and the controllers a hybrid host binds to its
//! cgroup2 mount). Resource files, controller enabling, `cgroup.freeze`, OOM through
//! `memory.events`, and statistics in runc's shape.
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory};

use super::error::{self, CgroupError};
use super::files::{check_usage, page_size, read_trim, swappiness, write_file, Mode, MEM, W};
use super::stats::OomWatch;
use super::stats::{self, BlkioEntry, Stats};

/// `cpu.weight` for `cpu.shares` (runc's conversion: 2..262144 onto 1..10000).
pub(super) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

/// `io.weight` for a blkio weight (10..1000 onto 1..10000).
pub(super) fn blkio_to_io_weight(w: u16) -> u64 {
    1 + (u64::from(w).saturating_sub(10) * 9999) / 990
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// `linux.resources.memory` on cgroup2: `memory.max`, `memory.swap.max` (the spec's swap is
/// memory + swap; cgroup2's is swap alone), `memory.low`. The v1-only knobs (kernel, kernelTCP,
/// swappiness, disableOOMKiller, useHierarchy) have no cgroup2 file and are ignored, as runc does.
pub(super) fn memory(
    m: &LinuxMemory,
    mode: Mode,
    dir: Option<&Path>,
) -> Result<Vec<W>, CgroupError> {
    let mut out = Vec::new();
    let limit = m.limit().filter(|&l| l != 0);
    if let (Mode::Update, Some(d)) = (mode, dir) {
        check_usage(m, &d.join("memory.current"))?;
    }
    swappiness(m)?;
    let swap = match m.swap().filter(|&s| s != 0) {
        None if limit == Some(-1) && mode == Mode::Update => Some("max".to_string()),
        None => None,
        Some(-1) => Some("max".to_string()),
        Some(s) => {
            let current = || {
                dir.and_then(|d| read_trim(&d.join("memory.max")))
                    .and_then(|v| v.parse::<i64>().ok())
            };
            let mem = match (limit, mode) {
                (Some(l), _) if l > 0 => l,
                (None, Mode::Update) => current().unwrap_or(-1),
                _ => -1,
            };
            if mem <= 0 {
                return Err(CgroupError::Invalid {
                    field: format!("{MEM}.swap"),
                    reason: "unable to set a swap limit without a memory limit".into(),
                });
            }
            if s < mem {
                return Err(CgroupError::Invalid {
                    field: format!("{MEM}.swap"),
                    reason: format!("memory+swap limit {s} should be >= memory limit {mem}"),
                });
            }
            Some((s - mem).to_string())
        }
    };
    if let Some(s) = swap {
        out.push(W::new("memory.swap.max", s, format!("{MEM}.swap")));
    }
    if let Some(l) = limit {
        out.push(W::new("memory.max", max_or(l), format!("{MEM}.limit")));
    }
    if let Some(r) = m.reservation().filter(|&r| r != 0) {
        out.push(W::new(
            "memory.low",
            max_or(r),
            format!("{MEM}.reservation"),
        ));
    }
    if m.kernel().is_some_and(|k| k != 0) || m.kernel_tcp().is_some_and(|k| k != 0) {
        log::warn!("{MEM}.kernel and kernelTCP are ignored on cgroup v2");
    }
    Ok(out)
}

/// `linux.resources.cpu` on cgroup2: `cpu.weight` (from shares), `cpu.max`, `cpu.max.burst`,
/// `cpu.idle`. Realtime bandwidth has no cgroup2 interface. On `update`, a quota or period given
/// alone keeps the other half of `cpu.max` (`dir` is read only then).
pub(super) fn cpu(c: &LinuxCpu, dir: Option<&Path>) -> Result<Vec<W>, CgroupError> {
    const F: &str = "linux.resources.cpu";
    let mut out = Vec::new();
    for (v, key) in [
        (
            c.realtime_runtime().filter(|&r| r != 0).map(|_| ()),
            "realtimeRuntime",
        ),
        (
            c.realtime_period().filter(|&p| p != 0).map(|_| ()),
            "realtimePeriod",
        ),
    ] {
        if v.is_some() {
            return Err(CgroupError::Invalid {
                field: format!("{F}.{key}"),
                reason: "realtime CPU bandwidth has no cgroup v2 interface".into(),
            });
        }
    }
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        out.push(W::new(
            "cpu.weight",
            shares_to_weight(s),
            format!("{F}.shares"),
        ));
    }
    let quota = c.quota().filter(|&q| q != 0);
    let period = c.period().filter(|&p| p != 0);
    if quota.is_some() || period.is_some() {
        let cur = dir
            .and_then(|d| read_trim(&d.join("cpu.max")))
            .unwrap_or_default();
        let mut cur = cur.split_whitespace();
        let (cur_q, cur_p) = (cur.next(), cur.next());
        let q = match quota {
            Some(q) => max_or(q),
            None => cur_q.unwrap_or("max").to_string(),
        };
        let value = match (period, cur_p) {
            (Some(p), _) => format!("{q} {p}"),
            (None, Some(p)) => format!("{q} {p}"),
            (None, None) => q,
        };
        let field = if quota.is_some() { "quota" } else { "period" };
        out.push(W::new("cpu.max", value, format!("{F}.{field}")));
    }
    if let Some(b) = c.burst() {
        out.push(W::new("cpu.max.burst", b, format!("{F}.burst")));
    }
    if let Some(i) = c.idle() {
        out.push(W::new("cpu.idle", i, format!("{F}.idle")));
    }
    Ok(out)
}

/// `linux.resources.blockIO` on cgroup2: BFQ's `io.bfq.weight` where it exists, else
/// `io.weight`; throttles in `io.max`. `leafWeight` has no cgroup2 interface (ignored, as runc).
pub(super) fn io(b: &LinuxBlockIo) -> Vec<W> {
    const F: &str = "linux.resources.blockIO";
    let mut out = Vec::new();
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        out.push(
            W::new("io.bfq.weight", w, format!("{F}.weight"))
                .or("io.weight", blkio_to_io_weight(w)),
        );
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if let Some(w) = d.weight() {
            let dev = format!("{}:{}", d.major(), d.minor());
            out.push(
                W::new(
                    "io.bfq.weight",
                    format!("{dev} {w}"),
                    format!("{F}.weightDevice[{i}].weight"),
                )
                .or("io.weight", format!("{dev} {}", blkio_to_io_weight(w))),
            );
        }
    }
    let throttles = [
        (
            b.throttle_read_bps_device(),
            "rbps",
            "throttleReadBpsDevice",
        ),
        (
            b.throttle_write_bps_device(),
            "wbps",
            "throttleWriteBpsDevice",
        ),
        (
            b.throttle_read_iops_device(),
            "riops",
            "throttleReadIOPSDevice",
        ),
        (
            b.throttle_write_iops_device(),
            "wiops",
            "throttleWriteIOPSDevice",
        ),
    ];
    for (list, key, name) in throttles {
        for (i, d) in list.iter().flatten().enumerate() {
            let rate = if d.rate() == 0 {
                "max".to_string()
            } else {
                d.rate().to_string()
            };
            out.push(W::new(
                "io.max",
                format!("{}:{} {key}={rate}", d.major(), d.minor()),
                format!("{F}.{name}[{i}].rate"),
            ));
        }
    }
    out
}

/// `linux.resources.hugepageLimits` on cgroup2 (`hugetlb.<size>.max`, and `.rsvd.max`).
pub(super) fn hugetlb(limits: &[LinuxHugepageLimit]) -> Result<Vec<W>, CgroupError> {
    let mut out = Vec::new();
    for (i, l) in limits.iter().enumerate() {
        let size = page_size(i, l)?;
        let field = format!("linux.resources.hugepageLimits[{i}].limit");
        out.push(W::new(
            format!("hugetlb.{size}.max"),
            max_or(l.limit()),
            field.clone(),
        ));
        out.push(W::new(format!("hugetlb.{size}.rsvd.max"), max_or(l.limit()), field).optional());
    }
    Ok(out)
}

/// `linux.resources.unified`: each key a file of the cgroup directory, in key order, with the
/// controller to enable (the key's prefix; `cgroup.*` keys are core files).
pub(super) fn unified(
    u: &HashMap<String, String>,
) -> Result<Vec<(Option<String>, W)>, CgroupError> {
    let mut keys: Vec<_> = u.iter().collect();
    keys.sort();
    keys.into_iter()
        .map(|(k, v)| {
            let field = format!("linux.resources.unified[{k:?}]");
            let Some((ctrl, _)) = k
                .split_once('.')
                .filter(|_| !k.contains('/') && !k.starts_with('.') && k != "..")
            else {
                return Err(CgroupError::Invalid {
                    field,
                    reason: "is not a cgroup v2 file name (controller.knob)".into(),
                });
            };
            let ctrl = (ctrl != "cgroup").then(|| ctrl.to_string());
            Ok((ctrl, W::new(k.clone(), v, field)))
        })
        .collect()
}

/// Enable `ctrl` in `cgroup.subtree_control` of every level from the hierarchy `root` down to
/// the parent of `dir`, so that `dir` gets the controller's files. Errors carry the file, value
/// and OS error for the caller to name the field.
pub(super) fn enable_controller(
    root: &Path,
    dir: &Path,
    ctrl: &str,
) -> Result<(), (PathBuf, String, std::io::Error)> {
    let Ok(rel) = dir.strip_prefix(root) else {
        return Ok(());
    };
    let value = format!("+{ctrl}");
    let mut level = root.to_path_buf();
    let mut comps = rel.components().peekable();
    loop {
        let file = level.join("cgroup.subtree_control");
        write_file(&file, &value).map_err(|e| (file, value.clone(), e))?;
        match comps.next() {
            Some(c) if comps.peek().is_some() => level.push(c),
            _ => return Ok(()),
        }
    }
}

/// Load the device program `insns` (built by [`super::devices::program`]) and attach it to the
/// cgroup2 directory `dir` (`BPF_F_ALLOW_MULTI`: a program an ancestor holds still applies). The
/// attachment lives as long as the cgroup: nothing to remove. A program the verifier refuses is an
/// error carrying the verifier's log.
pub(super) fn attach_device_program(
    dir: &Path,
    insns: &[crate::sys::BpfInsn],
) -> Result<(), CgroupError> {
    use std::os::fd::AsFd;
    const FIELD: &str = "linux.resources.devices";
    let fail = |value: String, source: std::io::Error| CgroupError::Resource {
        field: FIELD.into(),
        value,
        path: dir.to_path_buf(),
        source,
    };
    let what = || format!("eBPF device program ({} instructions)", insns.len());
    let name = "sangja_devices";
    let prog = match crate::sys::bpf_load_cgroup_device(insns, c"Apache-2.0", name, None) {
        Ok(p) => p,
        Err(e) => {
            // Load again for the verifier's log (only on failure: it costs).
            let mut log = vec![0u8; 1 << 16];
            let _ = crate::sys::bpf_load_cgroup_device(insns, c"Apache-2.0", name, Some(&mut log));
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let log = String::from_utf8_lossy(&log[..end]);
            let value = if log.trim().is_empty() {
                format!("loading the {}", what())
            } else {
                format!("loading the {}: verifier: {}", what(), log.trim())
            };
            return Err(fail(value, e.into()));
        }
    };
    let d = fs::File::open(dir).map_err(|e| fail(format!("opening for the {}", what()), e))?;
    crate::sys::bpf_attach_cgroup_device(d.as_fd(), prog.as_fd())
        .map_err(|e| fail(format!("attaching the {}", what()), e.into()))
}

/// Is the cgroup2 directory frozen (requested: `cgroup.freeze` is 1)?
pub(super) fn frozen(dir: &Path) -> bool {
    read_trim(&dir.join("cgroup.freeze")).as_deref() == Some("1")
}

fn write_freeze(dir: &Path, v: &str) -> Result<(), CgroupError> {
    let file = dir.join("cgroup.freeze");
    write_file(&file, v).map_err(|source| CgroupError::Io {
        op: "write",
        path: file,
        source,
    })
}

/// Freeze and wait until `cgroup.events` says `frozen 1` (at most 2 s).
pub(super) fn freeze(dir: &Path) -> Result<(), CgroupError> {
    write_freeze(dir, "1")?;
    let events = dir.join("cgroup.events");
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut pause = Duration::from_micros(100);
    loop {
        let text = read_trim(&events).unwrap_or_default();
        if stats::flat_keyed(&text).get("frozen") == Some(&1) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let _ = write_freeze(dir, "0");
            return Err(CgroupError::Freeze {
                path: events,
                state: text,
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Thaw.
pub(super) fn thaw(dir: &Path) -> Result<(), CgroupError> {
    write_freeze(dir, "0")
}

/// OOM notifications from `memory.events`.
pub(super) fn oom_watch(dir: &Path) -> Result<OomWatch, CgroupError> {
    let p = dir.join("memory.events");
    let f = fs::File::open(&p).map_err(error::io("open", &p))?;
    Ok(OomWatch::events(f))
}

fn num(dir: &Path, file: &str) -> u64 {
    read_trim(&dir.join(file))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Statistics of a cgroup2 directory.
pub(super) fn stats(dir: &Path, s: &mut Stats) {
    let cpu = stats::flat_keyed(&read_trim(&dir.join("cpu.stat")).unwrap_or_default());
    let g = |k: &str| cpu.get(k).copied().unwrap_or(0);
    s.cpu.usage.total = g("usage_usec") * 1000;
    s.cpu.usage.user = g("user_usec") * 1000;
    s.cpu.usage.kernel = g("system_usec") * 1000;
    s.cpu.throttling.periods = g("nr_periods");
    s.cpu.throttling.throttled_periods = g("nr_throttled");
    s.cpu.throttling.throttled_time = g("throttled_usec") * 1000;
    s.cpuset.cpus =
        stats::cpu_list(&read_trim(&dir.join("cpuset.cpus.effective")).unwrap_or_default());
    s.cpuset.mems =
        stats::cpu_list(&read_trim(&dir.join("cpuset.mems.effective")).unwrap_or_default());
    let m = &mut s.memory;
    m.raw = stats::flat_keyed(&read_trim(&dir.join("memory.stat")).unwrap_or_default());
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    let events = stats::flat_keyed(&read_trim(&dir.join("memory.events")).unwrap_or_default());
    m.usage.usage = num(dir, "memory.current");
    m.usage.max = num(dir, "memory.peak");
    m.usage.limit = read_trim(&dir.join("memory.max"))
        .map(|v| v.parse().unwrap_or(u64::MAX))
        .unwrap_or(0);
    m.usage.failcnt = events.get("max").copied().unwrap_or(0);
    // As runc: "swap" is memory + swap.
    m.swap.usage = m.usage.usage + num(dir, "memory.swap.current");
    m.swap.limit = match read_trim(&dir.join("memory.swap.max")) {
        Some(v) => v
            .parse::<u64>()
            .map(|sw| sw.saturating_add(m.usage.limit))
            .unwrap_or(u64::MAX),
        None => 0,
    };
    s.pids.current = num(dir, "pids.current");
    s.pids.limit = num(dir, "pids.max");
    for l in read_trim(&dir.join("io.stat")).unwrap_or_default().lines() {
        let mut f = l.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let value = v.parse().unwrap_or(0);
            let (list, op) = match k {
                "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    hugetlb_stats(dir, s);
}

/// Hugetlb statistics of a cgroup2 directory (where the controller is enabled).
pub(super) fn hugetlb_stats(dir: &Path, s: &mut Stats) {
    for size in stats::hugepage_sizes() {
        let Some(cur) = read_trim(&dir.join(format!("hugetlb.{size}.current"))) else {
            continue;
        };
        let events = stats::flat_keyed(
            &read_trim(&dir.join(format!("hugetlb.{size}.events"))).unwrap_or_default(),
        );
        s.hugetlb.insert(
            size,
            stats::Hugetlb {
                usage: cur.parse().unwrap_or(0),
                max: 0,
                failcnt: events.get("max").copied().unwrap_or(0),
            },
        );
    }
}
