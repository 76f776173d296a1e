//! Reading the host (and container output): mountinfo, namespaces, cgroups, processes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One line of `/proc/<pid>/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Mount id.
    pub id: u32,
    /// Parent mount id.
    pub parent: u32,
    /// `major:minor` of the filesystem.
    pub dev: String,
    /// Root of the mount within its filesystem.
    pub root: String,
    /// Mount point (octal escapes decoded).
    pub mount_point: String,
    /// Per-mount options (`ro`, `nosuid`, ...).
    pub mount_opts: Vec<String>,
    /// Optional fields (`shared:N`, `master:N`, ...).
    pub optional: Vec<String>,
    /// Filesystem type.
    pub fstype: String,
    /// Mount source.
    pub source: String,
    /// Super-block options (`size=65536k`, `mode=755`, ...).
    pub super_opts: Vec<String>,
}

impl MountInfo {
    /// Whether the per-mount or super-block options contain `opt`.
    pub fn has_opt(&self, opt: &str) -> bool {
        self.mount_opts.iter().any(|o| o == opt)
    }

    /// Whether the super-block options contain `opt`.
    pub fn has_super_opt(&self, opt: &str) -> bool {
        self.super_opts.iter().any(|o| o == opt)
    }
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The whitespace-separated fields after `Key:` in /proc/<pid>/status text.
pub fn status_field(status: &str, key: &str) -> Vec<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key}: line in\n{status}"))
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Parses mountinfo text (from the host or printed by a container). Lines that do not parse are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<MountInfo> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let sep = fields.iter().position(|f| *f == "-")?;
    if sep < 6 || fields.len() < sep + 3 {
        return None;
    }
    Some(MountInfo {
        id: fields[0].parse().ok()?,
        parent: fields[1].parse().ok()?,
        dev: fields[2].to_string(),
        root: unescape(fields[3]),
        mount_point: unescape(fields[4]),
        mount_opts: fields[5].split(',').map(String::from).collect(),
        optional: fields[6..sep].iter().map(|s| s.to_string()).collect(),
        fstype: fields[sep + 1].to_string(),
        source: unescape(fields[sep + 2]),
        super_opts: fields
            .get(sep + 3)
            .map(|s| s.split(',').map(String::from).collect())
            .unwrap_or_default(),
    })
}

/// The host's (this test process's) mount table.
pub fn own_mounts() -> Vec<MountInfo> {
    parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo"))
}

/// The last mount on `mount_point` (the visible one) in a parsed table.
pub fn find_mount<'a>(mounts: &'a [MountInfo], mount_point: &str) -> Option<&'a MountInfo> {
    mounts.iter().rev().find(|m| m.mount_point == mount_point)
}

/// `readlink /proc/<pid>/ns/<kind>` (`pid` may be `"self"`), e.g. `net:[4026531833]`.
pub fn ns_id(pid: &str, kind: &str) -> String {
    let p = format!("/proc/{pid}/ns/{kind}");
    fs::read_link(&p)
        .unwrap_or_else(|e| panic!("readlink {p}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// A cgroup hierarchy mounted on the host.
#[derive(Debug, Clone)]
pub struct CgroupMount {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub path: PathBuf,
    /// `cgroup` (v1) or `cgroup2`.
    pub fstype: String,
    /// v1 controllers (and `name=...`) of this hierarchy; empty for cgroup2.
    pub controllers: Vec<String>,
}

/// Every cgroup (v1) and cgroup2 hierarchy mounted in this process's mount namespace.
pub fn cgroup_mounts() -> Vec<CgroupMount> {
    let mut seen = BTreeMap::new();
    for m in own_mounts() {
        if m.fstype != "cgroup" && m.fstype != "cgroup2" {
            continue;
        }
        let controllers = if m.fstype == "cgroup" {
            m.super_opts
                .iter()
                .filter(|o| {
                    !matches!(
                        o.as_str(),
                        "rw" | "ro" | "clone_children" | "noprefix" | "xattr"
                    ) && !o.starts_with("release_agent")
                        && !o.starts_with("cpuset_v2_mode")
                })
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        seen.insert(
            m.mount_point.clone(),
            CgroupMount {
                path: PathBuf::from(&m.mount_point),
                fstype: m.fstype.clone(),
                controllers,
            },
        );
    }
    seen.into_values().collect()
}

/// The mount point of the v1 hierarchy carrying `controller` (e.g. `memory`), if any.
pub fn v1_hierarchy(controller: &str) -> Option<PathBuf> {
    cgroup_mounts()
        .into_iter()
        .find(|m| m.fstype == "cgroup" && m.controllers.iter().any(|c| c == controller))
        .map(|m| m.path)
}

/// `<v1 hierarchy of ctrl>/<cgroup path>`; `None` when the host has no such hierarchy (pure v2).
pub fn v1_dir(ctrl: &str, path: &str) -> Option<PathBuf> {
    v1_hierarchy(ctrl).map(|m| m.join(path.trim_start_matches('/')))
}

/// A file's content without surrounding whitespace; panics naming the file if it cannot be read.
pub fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// Asserts that the cgroup `path` exists in none of the host's hierarchies.
pub fn assert_cgroup_gone(path: &str) {
    for m in cgroup_mounts() {
        let dir = m.path.join(path.trim_start_matches('/'));
        assert!(!dir.exists(), "{} still exists after delete", dir.display());
    }
}

/// Whether a non-root cgroup of the v1 hierarchy carrying `controller` has `file`: what the host's
/// kernel offers there (e.g. `blkio.weight` only with the BFQ I/O scheduler, `memory.memsw.*` only with
/// swap accounting). Probed in a fresh child cgroup, removed again, since some files are never on the
/// root. `None` when the host has no such hierarchy.
pub fn v1_child_has(controller: &str, file: &str) -> Option<bool> {
    let root = v1_hierarchy(controller)?;
    let probe = root.join(format!(
        "sangja-probe-{}-{}",
        std::process::id(),
        PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir(&probe).unwrap_or_else(|e| panic!("probe cgroup {}: {e}", probe.display()));
    let has = probe.join(file).exists();
    std::fs::remove_dir(&probe)
        .unwrap_or_else(|e| panic!("remove probe cgroup {}: {e}", probe.display()));
    Some(has)
}

static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// `/proc/<pid>/cgroup` as (controllers, path) pairs; controllers is `""` for the v2 line.
pub fn proc_cgroups(pid: &str) -> Vec<(String, String)> {
    let p = format!("/proc/{pid}/cgroup");
    parse_proc_cgroup(&fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {p}: {e}")))
}

/// Parses the text of a `/proc/<pid>/cgroup` file.
pub fn parse_proc_cgroup(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctrl = it.next()?;
            let path = it.next()?;
            Some((ctrl.to_string(), path.to_string()))
        })
        .collect()
}

/// The cgroup path of `pid` in the hierarchy whose controller list contains `controller`.
pub fn cgroup_of(pid: &str, controller: &str) -> Option<String> {
    proc_cgroups(pid)
        .into_iter()
        .find(|(c, _)| c.split(',').any(|x| x == controller))
        .map(|(_, p)| p)
}

/// Polls `cond` every few milliseconds until it is true or `timeout` passes; returns the final value.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Whether `pid` exists and is not a zombie.
pub fn pid_alive(pid: i64) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // state is the field after the parenthesised comm
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// Sends `sig` to `pid` directly (not through the runtime).
pub fn send_signal(pid: i64, sig: i32) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    assert!(pid > 0, "refusing to signal pid {pid}");
    // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions; pid > 0 targets one process.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// Pids of all processes on the host (numeric entries of /proc).
pub fn all_pids() -> Vec<i64> {
    fs::read_dir("/proc")
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `path` is under `dir` (component-wise).
pub fn is_under(path: &Path, dir: &Path) -> bool {
    path.starts_with(dir)
}

/// A process holding fresh namespaces (`unshare --net --ipc --uts sleep`), killed on drop of the harness.
pub fn ns_holder(h: &crate::Harness) -> u32 {
    let child: std::process::Child = std::process::Command::new("unshare")
        .args(["--net", "--ipc", "--uts", "sleep", "300"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("spawn unshare (util-linux)");
    let pid = child.id();
    let holder = std::sync::Mutex::new(child);
    h.defer(move || {
        let mut c = holder.into_inner().unwrap_or_else(|e| e.into_inner());
        let _ = c.kill();
        let _ = c.wait();
    });
    let own = ns_id("self", "net");
    assert!(
        wait_until(Duration::from_secs(10), || fs::read_link(format!(
            "/proc/{pid}/ns/net"
        ))
        .is_ok_and(|l| l.to_string_lossy() != own)),
        "unshare did not enter a new net namespace"
    );
    pid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo() {
        let text = "68 67 254:0 /tmp/rt/pr/src /mnt/a\\040b rw,relatime master:1 - ext4 /dev/vda rw,discard\n\
                    70 67 0:41 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, "/mnt/a b");
        assert_eq!(m[0].optional, vec!["master:1"]);
        assert_eq!(m[0].fstype, "ext4");
        assert!(m[1].has_opt("nosuid"));
        assert!(m[1].has_super_opt("mode=755"));
    }

    #[test]
    fn parses_proc_cgroup() {
        let c = parse_proc_cgroup("4:memory:/sangja/x\n0::/\n1:cpu,cpuacct:/a:b\n");
        assert_eq!(c[0], ("memory".into(), "/sangja/x".into()));
        assert_eq!(c[1], ("".into(), "/".into()));
        assert_eq!(c[2], ("cpu,cpuacct".into(), "/a:b".into()));
    }
}
