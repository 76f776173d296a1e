//! The kernel floor: what a container start costs with raw syscalls and nothing else — no runtime binary to
//! load, no config to parse, no state to write. Five cumulative levels, each timed from its first syscall in
//! the parent to the child reaped and its cgroups removed:
//!
//! 0. `clone` (fork-like) + `execve` of the bundle's static `/bin/true`;
//! 1. the clone enters new mount, pid, net, ipc and uts namespaces and mounts `/proc`;
//! 2. and bind-mounts the rootfs and `pivot_root`s into it;
//! 3. and joins a fresh cgroup in every mounted hierarchy (v1: each controller), removed after;
//! 4. and does the rest of what the default `runc spec` config asks: `/dev` tmpfs with device nodes and
//!    symlinks, devpts, shm, mqueue, read-only sysfs and cgroup mounts, masked and read-only paths, read-only
//!    root, hostname, loopback up, device cgroup rules, rlimit, no_new_privs, capabilities.
//!
//! Everything the child does is planned in the parent as a list of [`Step`]s with every C string built
//! beforehand, so the child (a raw `clone` of this single-threaded process) only issues syscalls. A failing
//! step makes the child exit with `100 + step index`; the parent names the step.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::runtime::reap;
use crate::sys::cpath;

/// The levels, in order, as labelled in the report.
pub const LEVELS: [&str; 5] = [
    "fork + exec static true",
    "+ 5 namespaces + mount /proc",
    "+ bind rootfs + pivot_root",
    "+ fresh cgroup v1 join + rmdir",
    "+ rest of the default runc spec",
];

/// The report's series: levels 3 and 4 cold and warm.
pub const SERIES: [&str; 7] = [
    "0: fork + exec static true",
    "1: + 5 namespaces + mount /proc",
    "2: + bind rootfs + pivot_root",
    "3: + fresh cgroup v1 join + rmdir, cold",
    "3: same, warm",
    "4: + rest of the default runc spec, cold",
    "4: same, warm",
];

/// Without a cgroup migration for this long, the next `cgroup.procs` write waits for an RCU grace period
/// (the kernel's `cgroup_threadgroup_rwsem` leaves its fast path): about 5 ms here, paid by "cold" joins.
pub const COLD_GAP: Duration = Duration::from_millis(60);

const NS_FLAGS: libc::c_int = libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS;

/// One syscall (or a tiny fixed group) the child performs.
#[derive(Debug)]
enum Step {
    Umask(libc::mode_t),
    /// `mount(src, target, fstype, flags, data)`; `optional`: ENOENT is not an error.
    Mount {
        src: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
        optional: bool,
    },
    Mkdir(CString, libc::mode_t),
    Mknod(CString, libc::mode_t, libc::dev_t),
    Symlink(CString, CString),
    Chdir(CString),
    /// `pivot_root(".", ".")` then `umount2(".", MNT_DETACH)`: the old root is stacked under the new one.
    PivotRoot,
    /// Writes "0" (this task) to an inherited `cgroup.procs` fd.
    JoinCgroup(libc::c_int),
    SetHostname(CString),
    LoopbackUp(Box<libc::ifreq>),
    NoFileLimit(libc::rlimit),
    NoNewPrivs,
    Capabilities {
        keep: u64,
    },
    Exec(CString),
}

/// A level's plan: clone flags, the cgroups the parent makes, the child's steps.
#[derive(Debug)]
struct Plan {
    flags: libc::c_int,
    cgroups: Vec<PathBuf>,
    /// Device cgroup rules the parent writes (level 4), as (file name, rule).
    device_rules: Vec<(&'static str, &'static str)>,
    /// Index of the v1 devices hierarchy, where `device_rules` go.
    devices: Option<usize>,
    /// Index of the cpuset hierarchy: a fresh v1 cpuset needs `cpus` and `mems` before a task may join.
    cpuset: Option<usize>,
    steps: Vec<Step>,
    names: Vec<String>,
}

/// Host state every level needs, found once.
#[derive(Debug)]
pub struct Floor {
    rootfs: PathBuf,
    hierarchies: Vec<PathBuf>,
    seq: usize,
}

impl Floor {
    /// `rootfs` holds a static busybox with `bin/true`; cgroup hierarchies are read from mountinfo.
    pub fn new(rootfs: &Path) -> Result<Floor, String> {
        let info =
            fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("mountinfo: {e}"))?;
        let mut hierarchies = Vec::new();
        for line in info.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let fstype = right.split_whitespace().next().unwrap_or("");
            let mnt = left.split_whitespace().nth(4).unwrap_or("");
            if fstype == "cgroup" || fstype == "cgroup2" {
                hierarchies.push(PathBuf::from(mnt));
            }
        }
        Ok(Floor {
            rootfs: rootfs.to_path_buf(),
            hierarchies,
            seq: 0,
        })
    }

    /// Number of cgroup hierarchies joined at levels 3 and 4.
    pub fn hierarchies(&self) -> usize {
        self.hierarchies.len()
    }

    /// Runs `level` once; returns its wall time.
    fn measure(&mut self, level: usize) -> Result<Duration, String> {
        self.seq += 1;
        let plan = self.plan(level)?;
        let t0 = Instant::now();
        run(&plan)?;
        Ok(t0.elapsed())
    }

    /// Measures `level` as one round-robin subject: `(series, ms)` pairs. Levels that join cgroups run
    /// twice: cold (after [`COLD_GAP`] without a join by this process) and warm (right after).
    pub fn measure_level(&mut self, level: usize) -> Result<Vec<(&'static str, f64)>, String> {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        match level {
            0..=2 => Ok(vec![(SERIES[level], ms(self.measure(level)?))]),
            _ => {
                std::thread::sleep(COLD_GAP);
                let cold = self.measure(level)?;
                let warm = self.measure(level)?;
                let i = 3 + 2 * (level - 3);
                Ok(vec![(SERIES[i], ms(cold)), (SERIES[i + 1], ms(warm))])
            }
        }
    }

    fn plan(&self, level: usize) -> Result<Plan, String> {
        let c = |p: &Path| cpath(p).map_err(|e| format!("{}: {e}", p.display()));
        let s = |t: &str| CString::new(t).map_err(|e| e.to_string());
        let r = &self.rootfs;
        let mut p = Plan {
            flags: if level == 0 { 0 } else { NS_FLAGS },
            cgroups: Vec::new(),
            device_rules: Vec::new(),
            cpuset: None,
            devices: None,
            steps: Vec::new(),
            names: Vec::new(),
        };
        let mut step = |p: &mut Plan, name: &str, st: Step| {
            p.names.push(name.to_string());
            p.steps.push(st);
        };
        let mount = |src: Option<&str>,
                     target: CString,
                     fstype: Option<&str>,
                     flags,
                     data: Option<&str>| {
            Ok::<Step, String>(Step::Mount {
                src: src.map(s).transpose()?,
                target,
                fstype: fstype.map(s).transpose()?,
                flags,
                data: data.map(s).transpose()?,
                optional: false,
            })
        };
        let nsd = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        if level == 0 {
            step(&mut p, "execve", Step::Exec(c(&r.join("bin/true"))?));
            return Ok(p);
        }
        if level >= 3 {
            for (i, h) in self.hierarchies.iter().enumerate() {
                if h.join("cpuset.cpus").exists() {
                    p.cpuset = Some(i);
                }
                if h.join("devices.allow").exists() {
                    p.devices = Some(i);
                }
                p.cgroups.push(h.join(format!(
                    "sangja-floor-{}-{}-{i}",
                    std::process::id(),
                    self.seq
                )));
            }
            // The fds are opened by `run` after the mkdirs; steps refer to them by index, patched there.
            for i in 0..p.cgroups.len() {
                step(&mut p, "join cgroup", Step::JoinCgroup(i as libc::c_int));
            }
        }
        if level >= 4 {
            step(&mut p, "umask", Step::Umask(0));
            p.device_rules = DEVICE_RULES.to_vec();
        }
        step(
            &mut p,
            "make / rprivate",
            mount(None, s("/")?, None, libc::MS_REC | libc::MS_PRIVATE, None)?,
        );
        if level == 1 {
            step(
                &mut p,
                "mount /proc",
                mount(Some("proc"), s("/proc")?, Some("proc"), nsd, None)?,
            );
            step(&mut p, "execve", Step::Exec(c(&r.join("bin/true"))?));
            return Ok(p);
        }
        let rc = c(r)?;
        step(
            &mut p,
            "bind rootfs",
            Step::Mount {
                src: Some(rc.clone()),
                target: rc.clone(),
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REC,
                data: None,
                optional: false,
            },
        );
        step(
            &mut p,
            "mount proc",
            mount(Some("proc"), c(&r.join("proc"))?, Some("proc"), nsd, None)?,
        );
        if level >= 4 {
            self.default_spec_mounts(&mut p, &mut step)?;
        }
        step(&mut p, "chdir rootfs", Step::Chdir(rc));
        step(&mut p, "pivot_root", Step::PivotRoot);
        step(&mut p, "chdir /", Step::Chdir(s("/")?));
        if level >= 4 {
            self.default_spec_after_pivot(&mut p, &mut step)?;
        }
        step(&mut p, "execve", Step::Exec(s("/bin/true")?));
        Ok(p)
    }

    /// Level 4, before `pivot_root`: the spec's mounts, device nodes and symlinks.
    fn default_spec_mounts(
        &self,
        p: &mut Plan,
        step: &mut impl FnMut(&mut Plan, &str, Step),
    ) -> Result<(), String> {
        let r = &self.rootfs;
        let c = |rel: &str| cpath(&r.join(rel)).map_err(|e| format!("{rel}: {e}"));
        let s = |t: &str| CString::new(t).map_err(|e| e.to_string());
        let m =
            |src: &str, target: CString, fstype: &str, flags: libc::c_ulong, data: Option<&str>| {
                Ok::<Step, String>(Step::Mount {
                    src: Some(s(src)?),
                    target,
                    fstype: Some(s(fstype)?),
                    flags,
                    data: data.map(s).transpose()?,
                    optional: false,
                })
            };
        let (nosuid, nodev, noexec) = (libc::MS_NOSUID, libc::MS_NODEV, libc::MS_NOEXEC);
        let dev_flags = nosuid | libc::MS_STRICTATIME;
        step(
            p,
            "mount /dev",
            m(
                "tmpfs",
                c("dev")?,
                "tmpfs",
                dev_flags,
                Some("mode=755,size=65536k"),
            )?,
        );
        step(p, "mkdir /dev/pts", Step::Mkdir(c("dev/pts")?, 0o755));
        let pts = "newinstance,ptmxmode=0666,mode=0620,gid=5";
        step(
            p,
            "mount /dev/pts",
            m(
                "devpts",
                c("dev/pts")?,
                "devpts",
                nosuid | noexec,
                Some(pts),
            )?,
        );
        step(p, "mkdir /dev/shm", Step::Mkdir(c("dev/shm")?, 0o755));
        let shm = Some("mode=1777,size=65536k");
        step(
            p,
            "mount /dev/shm",
            m("shm", c("dev/shm")?, "tmpfs", nosuid | noexec | nodev, shm)?,
        );
        step(p, "mkdir /dev/mqueue", Step::Mkdir(c("dev/mqueue")?, 0o755));
        step(
            p,
            "mount /dev/mqueue",
            m(
                "mqueue",
                c("dev/mqueue")?,
                "mqueue",
                nosuid | noexec | nodev,
                None,
            )?,
        );
        let ro = nosuid | noexec | nodev | libc::MS_RDONLY;
        step(p, "mount /sys", m("sysfs", c("sys")?, "sysfs", ro, None)?);
        // cgroup v1 as runc mounts it: a tmpfs, and the container's own cgroup of each hierarchy bound
        // read-only under it; then the tmpfs itself made read-only.
        let cg = "sys/fs/cgroup";
        step(
            p,
            "mount /sys/fs/cgroup",
            m(
                "tmpfs",
                c(cg)?,
                "tmpfs",
                nosuid | noexec | nodev,
                Some("mode=755"),
            )?,
        );
        for (i, h) in self.hierarchies.iter().enumerate() {
            let name = h
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target = c(&format!("{cg}/{name}"))?;
            step(p, "mkdir cgroup dir", Step::Mkdir(target.clone(), 0o755));
            let src = cpath(&p.cgroups[i]).map_err(|e| e.to_string())?;
            let bind = libc::MS_BIND | libc::MS_REC;
            step(
                p,
                "bind cgroup",
                Step::Mount {
                    src: Some(src),
                    target: target.clone(),
                    fstype: None,
                    flags: bind,
                    data: None,
                    optional: false,
                },
            );
            let remount = libc::MS_BIND | libc::MS_REMOUNT | ro;
            step(
                p,
                "remount cgroup ro",
                Step::Mount {
                    src: None,
                    target,
                    fstype: None,
                    flags: remount,
                    data: None,
                    optional: false,
                },
            );
        }
        let remount = libc::MS_REMOUNT | ro;
        step(
            p,
            "remount cgroup tmpfs ro",
            Step::Mount {
                src: None,
                target: c(cg)?,
                fstype: None,
                flags: remount,
                data: None,
                optional: false,
            },
        );
        for (name, major, minor) in [
            ("null", 1, 3),
            ("zero", 1, 5),
            ("full", 1, 7),
            ("random", 1, 8),
            ("urandom", 1, 9),
            ("tty", 5, 0),
        ] {
            let dev = libc::makedev(major, minor);
            step(
                p,
                "mknod",
                Step::Mknod(c(&format!("dev/{name}"))?, libc::S_IFCHR | 0o666, dev),
            );
        }
        for (link, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
            ("core", "/proc/kcore"),
        ] {
            step(
                p,
                "symlink",
                Step::Symlink(s(target)?, c(&format!("dev/{link}"))?),
            );
        }
        Ok(())
    }

    /// Level 4, after `pivot_root`: masked and read-only paths, read-only root, identity, exec prep.
    fn default_spec_after_pivot(
        &self,
        p: &mut Plan,
        step: &mut impl FnMut(&mut Plan, &str, Step),
    ) -> Result<(), String> {
        let s = |t: &str| CString::new(t).map_err(|e| e.to_string());
        let ro_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY;
        for path in MASKED {
            // The container's /proc and /sys have the host's shape: decide file or directory here.
            let Ok(meta) = fs::metadata(path) else {
                continue;
            };
            let st = if meta.is_dir() {
                Step::Mount {
                    src: Some(s("tmpfs")?),
                    target: s(path)?,
                    fstype: Some(s("tmpfs")?),
                    flags: ro_flags,
                    data: None,
                    optional: true,
                }
            } else {
                Step::Mount {
                    src: Some(s("/dev/null")?),
                    target: s(path)?,
                    fstype: None,
                    flags: libc::MS_BIND,
                    data: None,
                    optional: true,
                }
            };
            step(p, "masked path", st);
        }
        for path in READONLY {
            let bind = libc::MS_BIND | libc::MS_REC;
            step(
                p,
                "readonly path bind",
                Step::Mount {
                    src: Some(s(path)?),
                    target: s(path)?,
                    fstype: None,
                    flags: bind,
                    data: None,
                    optional: true,
                },
            );
            let remount = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_REC | ro_flags;
            step(
                p,
                "readonly path remount",
                Step::Mount {
                    src: None,
                    target: s(path)?,
                    fstype: None,
                    flags: remount,
                    data: None,
                    optional: true,
                },
            );
        }
        let remount = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
        step(
            p,
            "remount / ro",
            Step::Mount {
                src: None,
                target: s("/")?,
                fstype: None,
                flags: remount,
                data: None,
                optional: false,
            },
        );
        step(p, "sethostname", Step::SetHostname(s("runc")?));
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut ifr: Box<libc::ifreq> = Box::new(unsafe { std::mem::zeroed() });
        for (d, b) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *b as libc::c_char;
        }
        ifr.ifr_ifru.ifru_flags =
            (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as libc::c_short;
        step(p, "loopback up", Step::LoopbackUp(ifr));
        step(
            p,
            "rlimit nofile",
            Step::NoFileLimit(libc::rlimit {
                rlim_cur: 1024,
                rlim_max: 1024,
            }),
        );
        step(p, "no_new_privs", Step::NoNewPrivs);
        // CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10): the `runc spec` set.
        let keep = (1u64 << 29) | (1u64 << 5) | (1u64 << 10);
        step(p, "capabilities", Step::Capabilities { keep });
        Ok(())
    }
}

const MASKED: [&str; 10] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];
const READONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// runc's default device cgroup rules for the `runc spec` config (deny all, then the default devices).
const DEVICE_RULES: [(&str, &str); 13] = [
    ("devices.deny", "a"),
    ("devices.allow", "c *:* m"),
    ("devices.allow", "b *:* m"),
    ("devices.allow", "c 1:3 rwm"),
    ("devices.allow", "c 1:8 rwm"),
    ("devices.allow", "c 1:7 rwm"),
    ("devices.allow", "c 5:0 rwm"),
    ("devices.allow", "c 1:5 rwm"),
    ("devices.allow", "c 1:9 rwm"),
    ("devices.allow", "c 5:1 rwm"),
    ("devices.allow", "c 136:* rwm"),
    ("devices.allow", "c 5:2 rwm"),
    ("devices.allow", "c 10:200 rwm"),
];

/// Parent side: cgroups, clone, reap, cgroups removed.
fn run(plan: &Plan) -> Result<(), String> {
    let mut fds: Vec<OwnedFd> = Vec::with_capacity(plan.cgroups.len());
    for dir in &plan.cgroups {
        fs::create_dir(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    let result = (|| {
        if let Some(dir) = plan.cpuset.and_then(|i| plan.cgroups.get(i)) {
            copy_cpuset(dir)?;
        }
        for dir in &plan.cgroups {
            let procs = dir.join("cgroup.procs");
            let f = fs::OpenOptions::new()
                .write(true)
                .open(&procs)
                .map_err(|e| format!("open {}: {e}", procs.display()))?;
            fds.push(OwnedFd::from(f));
        }
        if let Some(dir) = plan.devices.and_then(|i| plan.cgroups.get(i)) {
            for (file, rule) in &plan.device_rules {
                let path = dir.join(file);
                fs::write(&path, rule).map_err(|e| format!("{}: {rule}: {e}", path.display()))?;
            }
        }
        let raw: Vec<libc::c_int> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let pid = clone_child(plan, &raw)?;
        drop(std::mem::take(&mut fds));
        let reaped = reap(pid, Duration::from_secs(10))?;
        match reaped.code() {
            0 => Ok(()),
            c if (100..100 + plan.steps.len() as i32).contains(&c) => Err(format!(
                "floor child failed at step `{}`",
                plan.names[(c - 100) as usize]
            )),
            c => Err(format!("floor child exited {c}")),
        }
    })();
    for dir in &plan.cgroups {
        rmdir_retry(dir);
    }
    result
}

/// Copies `cpuset.cpus` and `cpuset.mems` from the parent cgroup (as runc does).
fn copy_cpuset(dir: &Path) -> Result<(), String> {
    let parent = dir.parent().unwrap_or(dir);
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let from = parent.join(file);
        let value = fs::read_to_string(&from).map_err(|e| format!("{}: {e}", from.display()))?;
        let to = dir.join(file);
        fs::write(&to, value.trim()).map_err(|e| format!("{}: {e}", to.display()))?;
    }
    Ok(())
}

/// v1 may briefly report EBUSY while the exited task's css is released.
fn rmdir_retry(dir: &Path) {
    for _ in 0..1000 {
        match fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(Duration::from_micros(100))
            }
            _ => return,
        }
    }
}

fn clone_child(plan: &Plan, cgroup_fds: &[libc::c_int]) -> Result<u32, String> {
    // SAFETY: a fork-like clone (no CLONE_VM, no new stack): the child gets a copy of this single-threaded
    // process's memory and only runs `child`, which issues raw syscalls on data built before the clone and
    // never returns (execve or _exit).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (plan.flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match ret {
        0 => child(plan, cgroup_fds),
        -1 => Err(format!("clone: {}", io::Error::last_os_error())),
        pid => u32::try_from(pid).map_err(|e| e.to_string()),
    }
}

/// The child: every step, then exec. Never returns.
fn child(plan: &Plan, cgroup_fds: &[libc::c_int]) -> ! {
    for (i, st) in plan.steps.iter().enumerate() {
        if !do_step(st, cgroup_fds) {
            // SAFETY: _exit is async-signal-safe and ends the child without running the parent's destructors.
            unsafe { libc::_exit(100 + i as libc::c_int) };
        }
    }
    // SAFETY: as above.
    unsafe { libc::_exit(99) }
}

fn opt_ptr(s: &Option<CString>) -> *const libc::c_char {
    s.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

/// One step with raw syscalls only (no allocation); `false` on failure.
fn do_step(st: &Step, cgroup_fds: &[libc::c_int]) -> bool {
    // SAFETY: for every call below, the pointers come from CStrings and structs owned by the plan, which lives
    // until execve or _exit; integer arguments are plain values.
    unsafe {
        match st {
            Step::Umask(m) => {
                libc::umask(*m);
                true
            }
            Step::Mount {
                src,
                target,
                fstype,
                flags,
                data,
                optional,
            } => {
                let r = libc::mount(
                    opt_ptr(src),
                    target.as_ptr(),
                    opt_ptr(fstype),
                    *flags,
                    opt_ptr(data).cast(),
                );
                r == 0 || (*optional && *libc::__errno_location() == libc::ENOENT)
            }
            Step::Mkdir(path, mode) => libc::mkdir(path.as_ptr(), *mode) == 0,
            Step::Mknod(path, mode, dev) => libc::mknod(path.as_ptr(), *mode, *dev) == 0,
            Step::Symlink(target, link) => libc::symlink(target.as_ptr(), link.as_ptr()) == 0,
            Step::Chdir(path) => libc::chdir(path.as_ptr()) == 0,
            Step::PivotRoot => {
                let dot = c".".as_ptr();
                libc::syscall(libc::SYS_pivot_root, dot, dot) == 0
                    && libc::umount2(dot, libc::MNT_DETACH) == 0
            }
            Step::JoinCgroup(i) => match usize::try_from(*i).ok().and_then(|i| cgroup_fds.get(i)) {
                Some(fd) => libc::write(*fd, c"0".as_ptr().cast(), 1) == 1,
                None => false,
            },
            Step::SetHostname(name) => libc::sethostname(name.as_ptr(), name.as_bytes().len()) == 0,
            Step::LoopbackUp(ifr) => {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
                let ok = fd >= 0
                    && libc::ioctl(fd, libc::SIOCSIFFLAGS, &**ifr as *const libc::ifreq) == 0;
                if fd >= 0 {
                    libc::close(fd);
                }
                ok
            }
            Step::NoFileLimit(rl) => libc::setrlimit(libc::RLIMIT_NOFILE, rl) == 0,
            Step::NoNewPrivs => libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0,
            Step::Capabilities { keep } => {
                for cap in 0..64u64 {
                    if keep & (1 << cap) == 0
                        && libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0
                    {
                        // Past the kernel's last capability: done.
                        if *libc::__errno_location() == libc::EINVAL {
                            break;
                        }
                        return false;
                    }
                }
                let header = CapHeader {
                    version: 0x2008_0522,
                    pid: 0,
                };
                let low = (keep & 0xffff_ffff) as u32;
                let high = (keep >> 32) as u32;
                let data = [
                    CapData {
                        effective: low,
                        permitted: low,
                        inheritable: 0,
                    },
                    CapData {
                        effective: high,
                        permitted: high,
                        inheritable: 0,
                    },
                ];
                libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) == 0
            }
            Step::Exec(path) => {
                let argv = [c"true".as_ptr(), std::ptr::null()];
                let envp = [c"PATH=/bin".as_ptr(), std::ptr::null()];
                libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
                false
            }
        }
    }
}

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}
