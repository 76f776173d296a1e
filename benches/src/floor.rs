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
//! step makes the child exit with `100 + step index`; the parent names the step. Level 4's mounts, device
//! nodes, paths and process steps (all but its `umask`) are planned in [`default_spec`].

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::runtime::reap;
use crate::sys::cpath;

mod default_spec;
use default_spec::DEVICE_RULES;

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

impl Plan {
    /// Appends `st` to the child's steps; `name` is what a failure report calls it.
    fn step(&mut self, name: &str, st: Step) {
        self.names.push(name.to_string());
        self.steps.push(st);
    }
}

impl Step {
    /// `mount(src, target, fstype, flags, data)` (`None`: NULL), any error a failure.
    fn mount(
        src: Option<&str>,
        target: CString,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> Result<Step, String> {
        Ok(Step::Mount {
            src: src.map(cstr).transpose()?,
            target,
            fstype: fstype.map(cstr).transpose()?,
            flags,
            data: data.map(cstr).transpose()?,
            optional: false,
        })
    }

    /// `mount(src, target, NULL, flags, NULL)`: a bind (`flags` holds `MS_BIND`).
    fn bind(src: CString, target: CString, flags: libc::c_ulong, optional: bool) -> Step {
        Step::Mount {
            src: Some(src),
            target,
            fstype: None,
            flags,
            data: None,
            optional,
        }
    }

    /// `mount(NULL, target, NULL, flags, NULL)`: a remount of `target` (`flags` holds `MS_REMOUNT`).
    fn remount(target: CString, flags: libc::c_ulong, optional: bool) -> Step {
        Step::Mount {
            src: None,
            target,
            fstype: None,
            flags,
            data: None,
            optional,
        }
    }

    /// [`Step::LoopbackUp`] for `lo`: its `ifreq` (name, and the flags up, loopback, running) built here,
    /// in the parent.
    fn loopback_up() -> Step {
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut ifr: Box<libc::ifreq> = Box::new(unsafe { std::mem::zeroed() });
        for (d, b) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *b as libc::c_char;
        }
        ifr.ifr_ifru.ifru_flags =
            (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as libc::c_short;
        Step::LoopbackUp(ifr)
    }
}

/// `t` as a C string (the error says where it holds a NUL).
fn cstr(t: &str) -> Result<CString, String> {
    CString::new(t).map_err(|e| e.to_string())
}

/// A host path as a C string (the error names the path).
fn path_cstr(p: &Path) -> Result<CString, String> {
    cpath(p).map_err(|e| format!("{}: {e}", p.display()))
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

    /// The plan of `level` (see the module's list): each level adds its steps to the ones of the level below,
    /// in the order the child performs them, and ends with the `execve` of `/bin/true`.
    fn plan(&self, level: usize) -> Result<Plan, String> {
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
        let nsd = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        if level == 0 {
            p.step("execve", Step::Exec(path_cstr(&r.join("bin/true"))?));
            return Ok(p);
        }
        if level >= 3 {
            self.plan_cgroups(&mut p);
        }
        if level >= 4 {
            p.step("umask", Step::Umask(0));
            p.device_rules = DEVICE_RULES.to_vec();
        }
        let rprivate = libc::MS_REC | libc::MS_PRIVATE;
        p.step(
            "make / rprivate",
            Step::mount(None, cstr("/")?, None, rprivate, None)?,
        );
        if level == 1 {
            let proc = Step::mount(Some("proc"), cstr("/proc")?, Some("proc"), nsd, None)?;
            p.step("mount /proc", proc);
            p.step("execve", Step::Exec(path_cstr(&r.join("bin/true"))?));
            return Ok(p);
        }
        let rc = path_cstr(r)?;
        let rbind = libc::MS_BIND | libc::MS_REC;
        p.step(
            "bind rootfs",
            Step::bind(rc.clone(), rc.clone(), rbind, false),
        );
        let proc_dir = path_cstr(&r.join("proc"))?;
        let proc = Step::mount(Some("proc"), proc_dir, Some("proc"), nsd, None)?;
        p.step("mount proc", proc);
        if level >= 4 {
            self.default_spec_mounts(&mut p)?;
        }
        p.step("chdir rootfs", Step::Chdir(rc));
        p.step("pivot_root", Step::PivotRoot);
        p.step("chdir /", Step::Chdir(cstr("/")?));
        if level >= 4 {
            self.default_spec_after_pivot(&mut p)?;
        }
        p.step("execve", Step::Exec(cstr("/bin/true")?));
        Ok(p)
    }

    /// Levels 3 and 4: a fresh cgroup in every hierarchy (named after this process and the run, made and
    /// removed by [`run`]), which hierarchies are cpuset's and devices', and a join step for each.
    fn plan_cgroups(&self, p: &mut Plan) {
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
        // The fds are opened by `run` after the mkdirs; steps refer to them by their index in the list `run`
        // hands to the child.
        for i in 0..p.cgroups.len() {
            p.step("join cgroup", Step::JoinCgroup(i as libc::c_int));
        }
    }
}

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

/// One step with raw syscalls only (no allocation); `false` on failure. The paths and names are CStrings
/// owned by the plan, which lives until execve or _exit.
fn do_step(st: &Step, cgroup_fds: &[libc::c_int]) -> bool {
    match st {
        Step::Umask(m) => {
            // SAFETY: umask takes a plain value and cannot fail.
            unsafe { libc::umask(*m) };
            true
        }
        Step::Mount {
            src,
            target,
            fstype,
            flags,
            data,
            optional,
        } => sys_mount(src, target, fstype, *flags, data, *optional),
        // SAFETY: `path` is a C string of the plan.
        Step::Mkdir(path, mode) => unsafe { libc::mkdir(path.as_ptr(), *mode) == 0 },
        // SAFETY: `path` is a C string of the plan; mode and dev are plain values.
        Step::Mknod(path, mode, dev) => unsafe { libc::mknod(path.as_ptr(), *mode, *dev) == 0 },
        // SAFETY: `target` and `link` are C strings of the plan.
        Step::Symlink(target, link) => unsafe {
            libc::symlink(target.as_ptr(), link.as_ptr()) == 0
        },
        // SAFETY: `path` is a C string of the plan.
        Step::Chdir(path) => unsafe { libc::chdir(path.as_ptr()) == 0 },
        Step::PivotRoot => pivot_root(),
        Step::JoinCgroup(i) => join_cgroup(*i, cgroup_fds),
        // SAFETY: `name` is a C string of the plan, passed with its length (without the NUL).
        Step::SetHostname(name) => unsafe {
            libc::sethostname(name.as_ptr(), name.as_bytes().len()) == 0
        },
        Step::LoopbackUp(ifr) => set_if_flags(ifr),
        // SAFETY: `rl` is an rlimit of the plan.
        Step::NoFileLimit(rl) => unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, rl) == 0 },
        // SAFETY: prctl with plain integer arguments.
        Step::NoNewPrivs => unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 },
        Step::Capabilities { keep } => drop_bounding_set(*keep) && capset(*keep),
        Step::Exec(path) => exec(path),
    }
}

/// `mount(2)` with the plan's C strings (`None`: NULL); an `optional` mount may find its target missing.
fn sys_mount(
    src: &Option<CString>,
    target: &CString,
    fstype: &Option<CString>,
    flags: libc::c_ulong,
    data: &Option<CString>,
    optional: bool,
) -> bool {
    // SAFETY: the pointers are NULL or C strings owned by the plan, which outlives the call; errno is this
    // thread's.
    unsafe {
        let r = libc::mount(
            opt_ptr(src),
            target.as_ptr(),
            opt_ptr(fstype),
            flags,
            opt_ptr(data).cast(),
        );
        r == 0 || (optional && *libc::__errno_location() == libc::ENOENT)
    }
}

/// `pivot_root(".", ".")` then `umount2(".", MNT_DETACH)`: the old root is stacked under the new one.
fn pivot_root() -> bool {
    let dot = c".".as_ptr();
    // SAFETY: `dot` points at a static C string.
    unsafe {
        libc::syscall(libc::SYS_pivot_root, dot, dot) == 0
            && libc::umount2(dot, libc::MNT_DETACH) == 0
    }
}

/// Writes "0" (this task) to the `i`th inherited `cgroup.procs` fd.
fn join_cgroup(i: libc::c_int, cgroup_fds: &[libc::c_int]) -> bool {
    match usize::try_from(i).ok().and_then(|i| cgroup_fds.get(i)) {
        // SAFETY: the buffer is a static C string of one byte and its NUL.
        Some(fd) => unsafe { libc::write(*fd, c"0".as_ptr().cast(), 1) == 1 },
        None => false,
    }
}

/// Sets the planned interface flags (`lo` up) through a datagram socket closed right after.
fn set_if_flags(ifr: &libc::ifreq) -> bool {
    // SAFETY: `ifr` is a valid ifreq owned by the plan; the socket is ours and closed once.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        let ok = fd >= 0 && libc::ioctl(fd, libc::SIOCSIFFLAGS, ifr as *const libc::ifreq) == 0;
        if fd >= 0 {
            libc::close(fd);
        }
        ok
    }
}

/// Drops every capability not in `keep` from the bounding set, up to the kernel's last one.
fn drop_bounding_set(keep: u64) -> bool {
    for cap in 0..64u64 {
        // SAFETY: prctl with plain integer arguments; errno is this thread's.
        unsafe {
            if keep & (1 << cap) == 0 && libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                // Past the kernel's last capability: done.
                if *libc::__errno_location() == libc::EINVAL {
                    break;
                }
                return false;
            }
        }
    }
    true
}

/// `capset`: exactly `keep` effective and permitted, nothing inheritable (version 3: two 32-bit halves).
fn capset(keep: u64) -> bool {
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
    // SAFETY: `header` and `data` are the kernel's structs, live across the call.
    unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) == 0 }
}

/// `execve` of `path` as `true` with `PATH=/bin`; returns (`false`) only if the exec failed.
fn exec(path: &CString) -> bool {
    let argv = [c"true".as_ptr(), std::ptr::null()];
    let envp = [c"PATH=/bin".as_ptr(), std::ptr::null()];
    // SAFETY: `path` is a C string owned by the plan; argv and envp are NULL-terminated arrays of static C
    // strings, live across the call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    false
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
