//! Container statistics in the shape `runc events` prints (runc's `types.Stats`, key for key,
//! with Go's `omitempty` rules), and the OOM watcher behind `events`.
use std::collections::BTreeMap;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

fn zero(v: &u64) -> bool {
    *v == 0
}

/// One event of `events`: `{"type":"stats","id":…,"data":{…}}` or `{"type":"oom","id":…}`.
#[derive(Debug, Clone, Serialize)]
pub struct Event<'a> {
    /// `stats` or `oom`.
    #[serde(rename = "type")]
    pub typ: &'static str,
    /// Container id.
    pub id: &'a str,
    /// The statistics, for `stats` events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a Stats>,
}

/// runc's `types.Stats`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    /// CPU usage and throttling.
    pub cpu: Cpu,
    /// cpuset configuration.
    pub cpuset: CpuSet,
    /// Memory usage.
    pub memory: Memory,
    /// Pids.
    pub pids: Pids,
    /// Block I/O.
    pub blkio: Blkio,
    /// Hugetlb usage by page size (`2MB`).
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Intel RDT (not supported: always empty).
    pub intel_rdt: IntelRdt,
    /// Network interfaces (runc prints `null`).
    pub network_interfaces: Option<Vec<()>>,
}

/// runc's `types.Cpu`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Cpu {
    /// Usage.
    pub usage: CpuUsage,
    /// CFS throttling.
    pub throttling: Throttling,
}

/// runc's `types.CpuUsage` (nanoseconds).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(skip_serializing_if = "zero")]
    pub total: u64,
    /// Per CPU.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per CPU, kernel mode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per CPU, user mode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// Kernel mode.
    pub kernel: u64,
    /// User mode.
    pub user: u64,
}

/// runc's `types.Throttling`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    /// Periods with throttling active.
    #[serde(skip_serializing_if = "zero")]
    pub periods: u64,
    /// Periods throttled.
    #[serde(skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    /// Time throttled (ns).
    #[serde(skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

/// runc's `types.CPUSet`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CpuSet {
    /// CPUs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    /// `cpuset.cpu_exclusive`.
    pub cpu_exclusive: u64,
    /// Memory nodes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    /// `cpuset.mem_hardwall`.
    pub mem_hardwall: u64,
    /// `cpuset.mem_exclusive`.
    pub mem_exclusive: u64,
    /// `cpuset.memory_migrate`.
    pub memory_migrate: u64,
    /// `cpuset.memory_spread_page`.
    pub memory_spread_page: u64,
    /// `cpuset.memory_spread_slab`.
    pub memory_spread_slab: u64,
    /// `cpuset.memory_pressure`.
    pub memory_pressure: u64,
    /// `cpuset.sched_load_balance`.
    pub sched_load_balance: u64,
    /// `cpuset.sched_relax_domain_level`.
    pub sched_relax_domain_level: i64,
}

/// runc's `types.MemoryEntry`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MemoryEntry {
    /// Limit.
    pub limit: u64,
    /// Usage.
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// runc's `types.Memory`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Memory {
    /// Page cache.
    #[serde(skip_serializing_if = "zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory + swap (v1 `memsw`).
    pub swap: MemoryEntry,
    /// Kernel memory (v1).
    pub kernel: MemoryEntry,
    /// Kernel TCP memory (v1).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// `memory.stat`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// runc's `types.Pids`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Pids {
    /// Tasks now.
    #[serde(skip_serializing_if = "zero")]
    pub current: u64,
    /// Limit (0: none).
    #[serde(skip_serializing_if = "zero")]
    pub limit: u64,
}

/// runc's `types.BlkioEntry`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BlkioEntry {
    /// Device major.
    #[serde(skip_serializing_if = "zero")]
    pub major: u64,
    /// Device minor.
    #[serde(skip_serializing_if = "zero")]
    pub minor: u64,
    /// `Read`, `Write`, …
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// Value.
    #[serde(skip_serializing_if = "zero")]
    pub value: u64,
}

/// runc's `types.Blkio`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    /// Bytes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Operations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// runc's `types.Hugetlb`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Hugetlb {
    /// Usage.
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// runc's `types.IntelRdt` (empty: not supported).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct IntelRdt {}

/// Whitespace-separated numbers.
pub(crate) fn numbers(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// A flat keyed file (`key value` lines: `memory.stat`, `cpu.stat`); `max` reads as 0.
pub(crate) fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().unwrap_or(0)))
        })
        .collect()
}

/// `0-2,5` → `[0, 1, 2, 5]`.
pub(crate) fn cpu_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

/// `USER_HZ`, the unit of `cpuacct.stat`: 100 on every Linux ABI.
pub(crate) fn clock_ticks() -> u64 {
    100
}

/// The host's hugepage sizes as cgroup files name them (`2MB`, `1GB`).
pub(crate) fn hugepage_sizes() -> Vec<String> {
    let Ok(rd) = fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut sizes: Vec<(u64, String)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some((kb, page_size_name(kb)))
        })
        .collect();
    sizes.sort();
    sizes.into_iter().map(|(_, n)| n).collect()
}

/// 2048 (kB) → `2MB`, as runc and the kernel's file names spell it.
pub(crate) fn page_size_name(kb: u64) -> String {
    let units = ["KB", "MB", "GB", "TB", "PB"];
    let mut v = kb;
    let mut i = 0;
    while v >= 1024 && v.is_multiple_of(1024) && i + 1 < units.len() {
        v /= 1024;
        i += 1;
    }
    format!("{v}{}", units[i])
}

/// Waits for OOM kills in a container's memory cgroup (for `events`).
#[derive(Debug)]
pub struct OomWatch {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// v1: an eventfd registered in `cgroup.event_control`; it also fires when the cgroup is
    /// removed, which `event_control` no longer existing tells apart.
    EventFd {
        efd: OwnedFd,
        _oom_control: fs::File,
        event_control: PathBuf,
    },
    /// cgroup2: `memory.events`, which wakes `poll(POLLPRI)` when it changes.
    Events { file: fs::File, oom_kills: u64 },
    /// The cgroup is gone.
    Closed,
}

/// The `oom_kill` count of a `memory.events` file.
fn oom_kills(file: &fs::File) -> u64 {
    let mut buf = [0u8; 512];
    let n = file.read_at(&mut buf, 0).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    flat_keyed(&text).get("oom_kill").copied().unwrap_or(0)
}

impl OomWatch {
    pub(crate) fn eventfd(efd: OwnedFd, oom_control: fs::File, event_control: PathBuf) -> Self {
        OomWatch {
            kind: Kind::EventFd {
                efd,
                _oom_control: oom_control,
                event_control,
            },
        }
    }

    pub(crate) fn events(file: fs::File) -> Self {
        let oom_kills = oom_kills(&file);
        OomWatch {
            kind: Kind::Events { file, oom_kills },
        }
    }

    /// Wait up to `timeout`; true when an OOM kill happened meanwhile.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        match &mut self.kind {
            Kind::EventFd {
                efd, event_control, ..
            } => {
                if !crate::sys::poll_one(efd.as_fd(), libc::POLLIN, ms).unwrap_or(false) {
                    return false;
                }
                let mut buf = [0u8; 8];
                let _ = crate::sys::read(efd.as_fd(), &mut buf);
                if event_control.exists() {
                    return true;
                }
                self.kind = Kind::Closed;
                false
            }
            Kind::Events {
                file,
                oom_kills: seen,
            } => {
                if !crate::sys::poll_one(file.as_fd(), libc::POLLPRI, ms).unwrap_or(false) {
                    return false;
                }
                let now = oom_kills(file);
                let fired = now > *seen;
                *seen = now;
                if !fired {
                    // A change of another counter: do not spin on it for the rest of `timeout`.
                    std::thread::sleep(Duration::from_millis(10));
                }
                fired
            }
            Kind::Closed => {
                std::thread::sleep(timeout);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_keyed_files_parse() {
        assert_eq!(cpu_list("0-2,5"), vec![0, 1, 2, 5]);
        assert_eq!(cpu_list(""), Vec::<u16>::new());
        let kv = flat_keyed("cache 4096\nrss 8192\nmax_x max\n");
        assert_eq!(kv.get("rss"), Some(&8192));
        assert_eq!(kv.get("max_x"), Some(&0));
        assert_eq!(numbers("1 2 3\n"), vec![1, 2, 3]);
    }

    #[test]
    fn page_sizes_are_named_like_the_kernel() {
        assert_eq!(page_size_name(2048), "2MB");
        assert_eq!(page_size_name(1_048_576), "1GB");
        assert_eq!(page_size_name(64), "64KB");
    }

    #[test]
    fn empty_stats_have_runcs_shape() {
        let s = Stats::default();
        let j = serde_json::to_string(&Event {
            typ: "stats",
            id: "c",
            data: Some(&s),
        })
        .unwrap_or_default();
        assert_eq!(
            j,
            r#"{"type":"stats","id":"c","data":{"cpu":{"usage":{"kernel":0,"user":0},"throttling":{}},"cpuset":{"cpu_exclusive":0,"mem_hardwall":0,"mem_exclusive":0,"memory_migrate":0,"memory_spread_page":0,"memory_spread_slab":0,"memory_pressure":0,"sched_load_balance":0,"sched_relax_domain_level":0},"memory":{"usage":{"limit":0,"failcnt":0},"swap":{"limit":0,"failcnt":0},"kernel":{"limit":0,"failcnt":0},"kernelTCP":{"limit":0,"failcnt":0}},"pids":{},"blkio":{},"hugetlb":{},"intel_rdt":{},"network_interfaces":null}}"#
        );
        let oom = serde_json::to_string(&Event {
            typ: "oom",
            id: "c",
            data: None,
        })
        .unwrap_or_default();
        assert_eq!(oom, r#"{"type":"oom","id":"c"}"#);
    }
}
