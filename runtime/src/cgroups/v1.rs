//! cgroup v1: one hierarchy per controller. Resource files, the freezer, OOM notification through
//! `cgroup.event_control`, and statistics in runc's shape.
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxNetwork};

use super::devices::Rule;
use super::error::{io, CgroupError};
use super::files::{check_usage, page_size, read_trim, swappiness, write_file, Mode, MEM, W};
use super::layout::Cgroup;
use super::stats::OomWatch;
use super::stats::{self, BlkioEntry, MemoryEntry, Stats};

/// Device rules: deny everything (unless the first rule does, as `runc spec`'s), then each rule
/// in order (the kernel applies them as runc's emulator does: a later rule wins).
pub(super) fn devices(rules: &[Rule]) -> Vec<W> {
    let mut out = Vec::with_capacity(rules.len() + 1);
    if rules.first().is_none_or(|r| r.allow || r.typ != 'a') {
        out.push(W::new("devices.deny", "a", "linux.resources.devices"));
    }
    for r in rules {
        let file = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        out.push(W::new(file, r.to_string(), r.field.clone()));
    }
    out
}

/// `linux.resources.memory`. Zero means unset (as runc). With both a memory and a swap limit,
/// `update` orders the writes so the kernel's `limit <= memsw` check holds at every step:
/// swap first when it grows (reading the current limit, only then).
pub(super) fn memory(
    m: &LinuxMemory,
    mode: Mode,
    dir: Option<&Path>,
) -> Result<Vec<W>, CgroupError> {
    let mut out = Vec::new();
    if let (Mode::Update, Some(d)) = (mode, dir) {
        check_usage(m, &d.join("memory.usage_in_bytes"))?;
    }
    if let Some(s) = swappiness(m)? {
        out.push(W::new("memory.swappiness", s, format!("{MEM}.swappiness")));
    }
    memory_limits(m, mode, dir, &mut out);
    memory_knobs(m, mode, &mut out);
    Ok(out)
}

/// `memory.limit_in_bytes` and `memory.memsw.limit_in_bytes`, in the order the kernel accepts.
/// At `update`, `limit: -1` without a swap value also lifts the swap limit (as runc), as an
/// optional write (a kernel without swap accounting has no memsw file). With both limits on
/// `update`, swap goes first when it is unlimited or above the current memory limit (read from
/// `dir`; an unreadable one counts as unlimited), so `limit <= memsw` holds after each write.
fn memory_limits(m: &LinuxMemory, mode: Mode, dir: Option<&Path>, out: &mut Vec<W>) {
    let limit = m.limit().filter(|&l| l != 0);
    let mut swap = m.swap().filter(|&s| s != 0);
    let mut swap_implied = false;
    if limit == Some(-1) && swap.is_none() && mode == Mode::Update {
        // Unlimited memory without a swap value means unlimited swap too (runc).
        swap = Some(-1);
        swap_implied = true;
    }
    let lim = limit.map(|l| W::new("memory.limit_in_bytes", l, format!("{MEM}.limit")));
    let sw = swap.map(|s| {
        let w = W::new("memory.memsw.limit_in_bytes", s, format!("{MEM}.swap"));
        if swap_implied {
            w.optional()
        } else {
            w
        }
    });
    let swap_first = match (limit, swap, mode, dir) {
        (Some(_), Some(s), Mode::Update, Some(d)) => {
            let cur: i64 = read_trim(&d.join("memory.limit_in_bytes"))
                .and_then(|v| v.parse().ok())
                .unwrap_or(i64::MAX);
            s == -1 || cur < s
        }
        _ => false,
    };
    if swap_first {
        out.extend(sw.clone());
        out.extend(lim);
    } else {
        out.extend(lim);
        out.extend(sw);
    }
}

/// The rest of `linux.resources.memory`, after the limits: reservation, kernelTCP, the OOM
/// killer switch (`false` written only at `update`, where it turns a `true` off), useHierarchy.
/// `kernel` is warned about and ignored: Linux no longer enforces kernel memory limits.
fn memory_knobs(m: &LinuxMemory, mode: Mode, out: &mut Vec<W>) {
    if let Some(r) = m.reservation().filter(|&r| r != 0) {
        out.push(W::new(
            "memory.soft_limit_in_bytes",
            r,
            format!("{MEM}.reservation"),
        ));
    }
    if m.kernel().is_some_and(|k| k != 0) {
        // Linux 5.16 stopped enforcing memory.kmem.limit_in_bytes (the write is accepted and
        // does nothing); runc ignores the field with a warning, and so does sangja.
        log::warn!("{MEM}.kernel: kernel memory limits are no longer enforced by Linux; ignored");
    }
    if let Some(k) = m.kernel_tcp().filter(|&k| k != 0) {
        out.push(W::new(
            "memory.kmem.tcp.limit_in_bytes",
            k,
            format!("{MEM}.kernelTCP"),
        ));
    }
    match m.disable_oom_killer() {
        Some(true) => out.push(W::new(
            "memory.oom_control",
            "1",
            format!("{MEM}.disableOOMKiller"),
        )),
        Some(false) if mode == Mode::Update => out.push(W::new(
            "memory.oom_control",
            "0",
            format!("{MEM}.disableOOMKiller"),
        )),
        _ => {}
    }
    if let Some(h) = m.use_hierarchy() {
        out.push(W::new(
            "memory.use_hierarchy",
            if h { "1" } else { "0" },
            format!("{MEM}.useHierarchy"),
        ));
    }
}

/// `linux.resources.cpu` (cpus/mems are [`cpuset`](super::files::cpuset)): realtime first (a process already running
/// SCHED_RR cannot join a group without runtime), shares, CFS period before quota, burst, idle.
pub(super) fn cpu(c: &LinuxCpu) -> Vec<W> {
    const F: &str = "linux.resources.cpu";
    let mut out = Vec::new();
    if let Some(p) = c.realtime_period().filter(|&p| p != 0) {
        out.push(W::new("cpu.rt_period_us", p, format!("{F}.realtimePeriod")));
    }
    if let Some(r) = c.realtime_runtime().filter(|&r| r != 0) {
        out.push(W::new(
            "cpu.rt_runtime_us",
            r,
            format!("{F}.realtimeRuntime"),
        ));
    }
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        out.push(W::new("cpu.shares", s, format!("{F}.shares")));
    }
    if let Some(p) = c.period().filter(|&p| p != 0) {
        out.push(W::new("cpu.cfs_period_us", p, format!("{F}.period")));
    }
    if let Some(q) = c.quota().filter(|&q| q != 0) {
        out.push(W::new("cpu.cfs_quota_us", q, format!("{F}.quota")));
    }
    if let Some(b) = c.burst() {
        out.push(W::new("cpu.cfs_burst_us", b, format!("{F}.burst")));
    }
    if let Some(i) = c.idle() {
        out.push(W::new("cpu.idle", i, format!("{F}.idle")));
    }
    out
}

/// `linux.resources.blockIO`: CFQ's files, or BFQ's (`blkio.bfq.*`) where CFQ's are absent.
pub(super) fn blkio(b: &LinuxBlockIo) -> Vec<W> {
    const F: &str = "linux.resources.blockIO";
    let mut out = Vec::new();
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        out.push(W::new("blkio.weight", w, format!("{F}.weight")).or("blkio.bfq.weight", w));
    }
    if let Some(w) = b.leaf_weight().filter(|&w| w != 0) {
        out.push(W::new("blkio.leaf_weight", w, format!("{F}.leafWeight")));
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = d.weight() {
            let v = format!("{dev} {w}");
            out.push(
                W::new(
                    "blkio.weight_device",
                    &v,
                    format!("{F}.weightDevice[{i}].weight"),
                )
                .or("blkio.bfq.weight_device", &v),
            );
        }
        if let Some(w) = d.leaf_weight() {
            out.push(W::new(
                "blkio.leaf_weight_device",
                format!("{dev} {w}"),
                format!("{F}.weightDevice[{i}].leafWeight"),
            ));
        }
    }
    let throttles = [
        (
            b.throttle_read_bps_device(),
            "read_bps_device",
            "throttleReadBpsDevice",
        ),
        (
            b.throttle_write_bps_device(),
            "write_bps_device",
            "throttleWriteBpsDevice",
        ),
        (
            b.throttle_read_iops_device(),
            "read_iops_device",
            "throttleReadIOPSDevice",
        ),
        (
            b.throttle_write_iops_device(),
            "write_iops_device",
            "throttleWriteIOPSDevice",
        ),
    ];
    for (list, file, key) in throttles {
        for (i, d) in list.iter().flatten().enumerate() {
            out.push(W::new(
                format!("blkio.throttle.{file}"),
                format!("{}:{} {}", d.major(), d.minor(), d.rate()),
                format!("{F}.{key}[{i}].rate"),
            ));
        }
    }
    out
}

/// `linux.resources.hugepageLimits` (and the reservation limit where the kernel has it).
pub(super) fn hugetlb(limits: &[LinuxHugepageLimit]) -> Result<Vec<W>, CgroupError> {
    let mut out = Vec::new();
    for (i, l) in limits.iter().enumerate() {
        let size = page_size(i, l)?;
        let field = format!("linux.resources.hugepageLimits[{i}].limit");
        out.push(W::new(
            format!("hugetlb.{size}.limit_in_bytes"),
            l.limit(),
            field.clone(),
        ));
        out.push(
            W::new(
                format!("hugetlb.{size}.rsvd.limit_in_bytes"),
                l.limit(),
                field,
            )
            .optional(),
        );
    }
    Ok(out)
}

/// `linux.resources.network.classID`.
pub(super) fn net_cls(n: &LinuxNetwork) -> Vec<W> {
    n.class_id()
        .map(|c| W::new("net_cls.classid", c, "linux.resources.network.classID"))
        .into_iter()
        .collect()
}

/// `linux.resources.network.priorities`: one `ifpriomap` line per interface.
pub(super) fn net_prio(n: &LinuxNetwork) -> Vec<W> {
    n.priorities()
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, p)| {
            W::new(
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
                format!("linux.resources.network.priorities[{i}]"),
            )
        })
        .collect()
}

/// Is the v1 freezer in `dir` frozen?
pub(super) fn frozen(dir: &Path) -> bool {
    read_trim(&dir.join("freezer.state")).as_deref() == Some("FROZEN")
}

fn write_state(file: &Path, state: &str) -> Result<(), CgroupError> {
    write_file(file, state).map_err(|source| CgroupError::Io {
        op: "write",
        path: file.to_path_buf(),
        source,
    })
}

/// Freeze and wait for `FROZEN`. The v1 freezer can stay `FREEZING` while tasks keep forking:
/// rewrite `FROZEN` while waiting, thaw briefly every so often, and give up after ~2 s.
pub(super) fn freeze(dir: &Path) -> Result<(), CgroupError> {
    let file = dir.join("freezer.state");
    let mut last = String::new();
    for i in 0..400u32 {
        if i % 100 == 99 {
            let _ = write_state(&file, "THAWED");
            std::thread::sleep(Duration::from_millis(10));
        }
        write_state(&file, "FROZEN")?;
        last = read_trim(&file).unwrap_or_default();
        if last == "FROZEN" {
            return Ok(());
        }
        std::thread::sleep(Duration::from_micros(if i < 10 { 100 } else { 5_000 }));
    }
    let _ = write_state(&file, "THAWED");
    Err(CgroupError::Freeze {
        path: file,
        state: last,
    })
}

/// Thaw.
pub(super) fn thaw(dir: &Path) -> Result<(), CgroupError> {
    write_state(&dir.join("freezer.state"), "THAWED")
}

/// OOM notifications: an eventfd registered for `memory.oom_control` in `cgroup.event_control`.
pub(super) fn oom_watch(dir: &Path) -> Result<OomWatch, CgroupError> {
    use std::os::fd::AsRawFd;
    let ctl = dir.join("memory.oom_control");
    let oom = fs::File::open(&ctl).map_err(io("open", &ctl))?;
    let efd = crate::sys::eventfd().map_err(|e| CgroupError::Io {
        op: "eventfd",
        path: ctl.clone(),
        source: e.into(),
    })?;
    let ev = dir.join("cgroup.event_control");
    let line = format!("{} {}", efd.as_raw_fd(), oom.as_raw_fd());
    write_file(&ev, &line).map_err(io("write", &ev))?;
    Ok(OomWatch::eventfd(efd, oom, ev))
}

fn num(dir: &Path, file: &str) -> u64 {
    read_trim(&dir.join(file))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn memory_entry(dir: &Path, prefix: &str) -> MemoryEntry {
    MemoryEntry {
        limit: num(dir, &format!("{prefix}.limit_in_bytes")),
        usage: num(dir, &format!("{prefix}.usage_in_bytes")),
        max: num(dir, &format!("{prefix}.max_usage_in_bytes")),
        failcnt: num(dir, &format!("{prefix}.failcnt")),
    }
}

/// Statistics of every v1 controller the cgroup has (a controller without a hierarchy leaves
/// its part of `s` as it was; a file that cannot be read counts as 0 or empty).
pub(super) fn stats(cg: &Cgroup, s: &mut Stats) {
    if let Some(d) = cg.dir_of("cpuacct") {
        cpuacct_stats(d, &mut s.cpu.usage);
    }
    if let Some(d) = cg.dir_of("cpu") {
        let kv = stats::flat_keyed(&read_trim(&d.join("cpu.stat")).unwrap_or_default());
        let t = &mut s.cpu.throttling;
        t.periods = kv.get("nr_periods").copied().unwrap_or(0);
        t.throttled_periods = kv.get("nr_throttled").copied().unwrap_or(0);
        t.throttled_time = kv.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(d) = cg.dir_of("cpuset") {
        cpuset_stats(d, &mut s.cpuset);
    }
    if let Some(d) = cg.dir_of("memory") {
        let m = &mut s.memory;
        m.raw = stats::flat_keyed(&read_trim(&d.join("memory.stat")).unwrap_or_default());
        m.cache = m.raw.get("cache").copied().unwrap_or(0);
        m.usage = memory_entry(d, "memory");
        m.swap = memory_entry(d, "memory.memsw");
        m.kernel = memory_entry(d, "memory.kmem");
        m.kernel_tcp = memory_entry(d, "memory.kmem.tcp");
    }
    if let Some(d) = cg.dir_of("pids") {
        s.pids.current = num(d, "pids.current");
        s.pids.limit = num(d, "pids.max");
    }
    if let Some(d) = cg.dir_of("blkio") {
        blkio_stats(d, &mut s.blkio);
    }
    if let Some(d) = cg.dir_of("hugetlb") {
        hugetlb_stats(d, &mut s.hugetlb);
    }
}

/// CPU time from the cpuacct hierarchy `d`, in ns: total and per CPU, the per-CPU user/system
/// split of `cpuacct.usage_all`, and user/system from `cpuacct.stat` (converted from ticks).
fn cpuacct_stats(d: &Path, u: &mut stats::CpuUsage) {
    u.total = num(d, "cpuacct.usage");
    u.percpu = stats::numbers(&read_trim(&d.join("cpuacct.usage_percpu")).unwrap_or_default());
    if let Some(all) = read_trim(&d.join("cpuacct.usage_all")) {
        // "cpu user system" per line, in ns.
        for l in all.lines().skip(1) {
            let f: Vec<u64> = stats::numbers(l);
            if f.len() == 3 {
                u.percpu_user.push(f[1]);
                u.percpu_kernel.push(f[2]);
            }
        }
    }
    // cpuacct.stat is in USER_HZ ticks.
    let kv = stats::flat_keyed(&read_trim(&d.join("cpuacct.stat")).unwrap_or_default());
    let tick = 1_000_000_000 / stats::clock_ticks();
    u.user = kv.get("user").copied().unwrap_or(0) * tick;
    u.kernel = kv.get("system").copied().unwrap_or(0) * tick;
}

/// The cpuset hierarchy `d`'s CPU and memory-node lists and its flags, as runc reports them.
fn cpuset_stats(d: &Path, c: &mut stats::CpuSet) {
    c.cpus = stats::cpu_list(&read_trim(&d.join("cpuset.cpus")).unwrap_or_default());
    c.mems = stats::cpu_list(&read_trim(&d.join("cpuset.mems")).unwrap_or_default());
    c.cpu_exclusive = num(d, "cpuset.cpu_exclusive");
    c.mem_hardwall = num(d, "cpuset.mem_hardwall");
    c.mem_exclusive = num(d, "cpuset.mem_exclusive");
    c.memory_migrate = num(d, "cpuset.memory_migrate");
    c.memory_spread_page = num(d, "cpuset.memory_spread_page");
    c.memory_spread_slab = num(d, "cpuset.memory_spread_slab");
    c.memory_pressure = num(d, "cpuset.memory_pressure");
    c.sched_load_balance = num(d, "cpuset.sched_load_balance");
    // The one signed value (-1: the system default).
    c.sched_relax_domain_level = read_trim(&d.join("cpuset.sched_relax_domain_level"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
}

/// Bytes and operations per device from the blkio hierarchy `d`: BFQ's counters where BFQ is
/// the scheduler, else the throttle layer's (as runc).
fn blkio_stats(d: &Path, b: &mut stats::Blkio) {
    let (bytes, ios) = if d.join("blkio.bfq.io_service_bytes_recursive").exists() {
        (
            "blkio.bfq.io_service_bytes_recursive",
            "blkio.bfq.io_serviced_recursive",
        )
    } else {
        (
            "blkio.throttle.io_service_bytes_recursive",
            "blkio.throttle.io_serviced_recursive",
        )
    };
    b.io_service_bytes_recursive = blkio_entries(d, bytes);
    b.io_serviced_recursive = blkio_entries(d, ios);
}

/// Usage, peak and failure count of every huge page size the host has, from the hugetlb
/// hierarchy `d` (keyed by size, e.g. `2MB`).
fn hugetlb_stats(d: &Path, h: &mut BTreeMap<String, stats::Hugetlb>) {
    for size in stats::hugepage_sizes() {
        h.insert(
            size.clone(),
            stats::Hugetlb {
                usage: num(d, &format!("hugetlb.{size}.usage_in_bytes")),
                max: num(d, &format!("hugetlb.{size}.max_usage_in_bytes")),
                failcnt: num(d, &format!("hugetlb.{size}.failcnt")),
            },
        );
    }
}

/// `8:0 Read 4096` lines (the `Total` line has no device and is skipped).
fn blkio_entries(dir: &Path, file: &str) -> Vec<BlkioEntry> {
    let text = read_trim(&dir.join(file)).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, value] = f.as_slice() else {
                return None;
            };
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}
