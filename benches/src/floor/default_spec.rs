//! Level 4 of the kernel floor: the rest of what the default `runc spec` config asks, as [`Step`]s planned in
//! the parent (the child only performs them). Before `pivot_root`: `/dev` and its mounts, nodes and links,
//! read-only sysfs and cgroups; after it: masked and read-only paths, read-only root, hostname, loopback,
//! rlimit, no_new_privs, capabilities. The device cgroup rules are written by the parent ([`DEVICE_RULES`]).

use std::ffi::CString;
use std::fs;

use super::{cstr, Floor, Plan, Step};
use crate::sys::cpath;

/// `nosuid,nodev,noexec,ro`: sysfs, the cgroup mounts, masking tmpfs and read-only paths.
const RO: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY;

/// `linux.<key>` of the default config (`sangja spec`, the same as `runc spec`): the masked or read-only
/// paths, so the floor masks exactly what the runtimes it is compared with mask.
fn template_paths(key: &str) -> Result<Vec<String>, String> {
    let spec: serde_json::Value = serde_json::from_str(&sangja::default_spec(false))
        .map_err(|e| format!("default spec: {e}"))?;
    let paths = spec["linux"][key]
        .as_array()
        .ok_or_else(|| format!("default spec: no linux.{key}"))?;
    paths
        .iter()
        .map(|p| {
            p.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("default spec: linux.{key}: {p} is not a string"))
        })
        .collect()
}

/// runc's default device cgroup rules for the `runc spec` config (deny all, then the default devices).
pub(super) const DEVICE_RULES: [(&str, &str); 13] = [
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

impl Floor {
    /// Level 4, before `pivot_root`: the spec's mounts, device nodes and symlinks.
    pub(super) fn default_spec_mounts(&self, p: &mut Plan) -> Result<(), String> {
        self.dev_mounts(p)?;
        self.sys_mounts(p)?;
        self.dev_nodes(p)
    }

    /// Level 4, after `pivot_root`: masked and read-only paths, read-only root, identity, exec prep.
    pub(super) fn default_spec_after_pivot(&self, p: &mut Plan) -> Result<(), String> {
        masked_paths(p)?;
        readonly_paths(p)?;
        let remount = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
        p.step("remount / ro", Step::remount(cstr("/")?, remount, false));
        process_steps(p)
    }

    /// `rel` inside the rootfs, as a C string (the error names `rel`).
    fn in_rootfs(&self, rel: &str) -> Result<CString, String> {
        cpath(&self.rootfs.join(rel)).map_err(|e| format!("{rel}: {e}"))
    }

    /// `/dev` as a tmpfs, then devpts, shm and mqueue, each on a directory made in it.
    fn dev_mounts(&self, p: &mut Plan) -> Result<(), String> {
        let c = |rel: &str| self.in_rootfs(rel);
        let (nosuid, nodev, noexec) = (libc::MS_NOSUID, libc::MS_NODEV, libc::MS_NOEXEC);
        let dev_flags = nosuid | libc::MS_STRICTATIME;
        let dev_data = Some("mode=755,size=65536k");
        let dev = Step::mount(Some("tmpfs"), c("dev")?, Some("tmpfs"), dev_flags, dev_data)?;
        p.step("mount /dev", dev);
        p.step("mkdir /dev/pts", Step::Mkdir(c("dev/pts")?, 0o755));
        let pts = Some("newinstance,ptmxmode=0666,mode=0620,gid=5");
        let devpts = Some("devpts");
        let mount = Step::mount(devpts, c("dev/pts")?, devpts, nosuid | noexec, pts)?;
        p.step("mount /dev/pts", mount);
        p.step("mkdir /dev/shm", Step::Mkdir(c("dev/shm")?, 0o755));
        let shm = Some("mode=1777,size=65536k");
        let flags = nosuid | noexec | nodev;
        let mount = Step::mount(Some("shm"), c("dev/shm")?, Some("tmpfs"), flags, shm)?;
        p.step("mount /dev/shm", mount);
        p.step("mkdir /dev/mqueue", Step::Mkdir(c("dev/mqueue")?, 0o755));
        let mqueue = Some("mqueue");
        let mount = Step::mount(mqueue, c("dev/mqueue")?, mqueue, flags, None)?;
        p.step("mount /dev/mqueue", mount);
        Ok(())
    }

    /// Read-only sysfs, and cgroup v1 as runc mounts it: a tmpfs, and the container's own cgroup of each
    /// hierarchy bound read-only under it; then the tmpfs itself made read-only.
    fn sys_mounts(&self, p: &mut Plan) -> Result<(), String> {
        let c = |rel: &str| self.in_rootfs(rel);
        let sys = Step::mount(Some("sysfs"), c("sys")?, Some("sysfs"), RO, None)?;
        p.step("mount /sys", sys);
        let cg = "sys/fs/cgroup";
        let flags = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
        let tmpfs = Step::mount(
            Some("tmpfs"),
            c(cg)?,
            Some("tmpfs"),
            flags,
            Some("mode=755"),
        )?;
        p.step("mount /sys/fs/cgroup", tmpfs);
        for (i, h) in self.hierarchies.iter().enumerate() {
            let name = h
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target = c(&format!("{cg}/{name}"))?;
            p.step("mkdir cgroup dir", Step::Mkdir(target.clone(), 0o755));
            let src = cpath(&p.cgroups[i]).map_err(|e| e.to_string())?;
            let bind = libc::MS_BIND | libc::MS_REC;
            p.step("bind cgroup", Step::bind(src, target.clone(), bind, false));
            let remount = libc::MS_BIND | libc::MS_REMOUNT | RO;
            p.step("remount cgroup ro", Step::remount(target, remount, false));
        }
        let remount = libc::MS_REMOUNT | RO;
        p.step(
            "remount cgroup tmpfs ro",
            Step::remount(c(cg)?, remount, false),
        );
        Ok(())
    }

    /// The default device nodes (character devices, mode 0666) and `/dev`'s standard symlinks.
    fn dev_nodes(&self, p: &mut Plan) -> Result<(), String> {
        for (name, major, minor) in [
            ("null", 1, 3),
            ("zero", 1, 5),
            ("full", 1, 7),
            ("random", 1, 8),
            ("urandom", 1, 9),
            ("tty", 5, 0),
        ] {
            let dev = libc::makedev(major, minor);
            let path = self.in_rootfs(&format!("dev/{name}"))?;
            p.step("mknod", Step::Mknod(path, libc::S_IFCHR | 0o666, dev));
        }
        for (link, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
            ("core", "/proc/kcore"),
        ] {
            let path = self.in_rootfs(&format!("dev/{link}"))?;
            p.step("symlink", Step::Symlink(cstr(target)?, path));
        }
        Ok(())
    }
}

/// The masked paths that exist: a read-only tmpfs over a directory, `/dev/null` bound over anything else.
/// Optional mounts: a path gone by the time the child gets there is skipped.
fn masked_paths(p: &mut Plan) -> Result<(), String> {
    for path in template_paths("maskedPaths")? {
        let path = path.as_str();
        // The container's /proc and /sys have the host's shape: decide file or directory here.
        let Ok(meta) = fs::metadata(path) else {
            continue;
        };
        let st = if meta.is_dir() {
            Step::Mount {
                src: Some(cstr("tmpfs")?),
                target: cstr(path)?,
                fstype: Some(cstr("tmpfs")?),
                flags: RO,
                data: None,
                optional: true,
            }
        } else {
            Step::bind(cstr("/dev/null")?, cstr(path)?, libc::MS_BIND, true)
        };
        p.step("masked path", st);
    }
    Ok(())
}

/// The read-only paths: each bound onto itself, then that bind remounted read-only (both optional: a path
/// this kernel does not have is skipped).
fn readonly_paths(p: &mut Plan) -> Result<(), String> {
    for path in template_paths("readonlyPaths")? {
        let path = path.as_str();
        let bind = libc::MS_BIND | libc::MS_REC;
        p.step(
            "readonly path bind",
            Step::bind(cstr(path)?, cstr(path)?, bind, true),
        );
        let remount = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_REC | RO;
        p.step(
            "readonly path remount",
            Step::remount(cstr(path)?, remount, true),
        );
    }
    Ok(())
}

/// The process's own steps: hostname, loopback up, the `nofile` rlimit, no_new_privs, and the capability
/// sets cut down to the `runc spec` ones.
fn process_steps(p: &mut Plan) -> Result<(), String> {
    p.step("sethostname", Step::SetHostname(cstr("runc")?));
    p.step("loopback up", Step::loopback_up());
    p.step(
        "rlimit nofile",
        Step::NoFileLimit(libc::rlimit {
            rlim_cur: 1024,
            rlim_max: 1024,
        }),
    );
    p.step("no_new_privs", Step::NoNewPrivs);
    // CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10): the `runc spec` set.
    let keep = (1u64 << 29) | (1u64 << 5) | (1u64 << 10);
    p.step("capabilities", Step::Capabilities { keep });
    Ok(())
}
