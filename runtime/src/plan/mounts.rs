//! ③ Mount planning: `mounts[]` → ordered mount operations with flags and data decided up front
//! (`type: cgroup` on a known host in `mounts/cgroup.rs`); the `/dev` devices and symlinks.
use std::ffi::CString;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceType, Mount, Spec};

use crate::cgroups::{Cgroup, Host};
use crate::spec::cstr;
use crate::spec::SpecError;

mod cgroup;

/// How a destination is filled.
#[derive(Debug)]
pub enum MountKind {
    /// A bind mount of a host path.
    Bind {
        /// Absolute host source.
        source: CString,
        /// `rbind`.
        recursive: bool,
    },
    /// A new filesystem instance (`proc`, `tmpfs`, `cgroup`, …).
    Fs {
        /// Filesystem type.
        fstype: CString,
        /// Source string passed to mount(2).
        source: CString,
    },
    /// A symlink at the destination pointing at `target`.
    Symlink {
        /// Link target.
        target: CString,
    },
    /// Remount an earlier destination read-only (used to seal the cgroup tmpfs).
    RemountRo,
}

/// One operation on the container's mount table, executed in order by the init.
#[derive(Debug)]
pub struct MountOp {
    /// The `mounts[]` entry it comes from (error messages name it).
    pub origin: usize,
    /// Absolute destination inside the container.
    pub dest: CString,
    /// What to mount.
    pub kind: MountKind,
    /// `MS_*` flags (without propagation).
    pub flags: libc::c_ulong,
    /// `mount_setattr` bits to set after a bind (ro, nosuid, nodev, noexec).
    pub attr_set: u64,
    /// Apply `attr_set` only once every mount, device and `/dev` link is made (a read-only bind
    /// with mounts below it: their mount points must be created first, as runc does).
    pub defer_attr: bool,
    /// `mount_setattr` bits set on the mount and every mount below it (`rro`, `rnosymfollow`, …).
    pub rattr_set: u64,
    /// `mount_setattr` bits cleared on the mount and every mount below it (`rrw`, `rsuid`, …;
    /// the atime field when an `r*atime` option changes the mode).
    pub rattr_clr: u64,
    /// Filesystem data (`mode=755,size=65536k`).
    pub data: Option<CString>,
    /// Propagation changes, applied one by one after the mount.
    pub propagation: Vec<libc::c_ulong>,
    /// For bind mounts of files: the mount point must be a file.
    pub file_target: bool,
    /// An idmapped bind: the parent makes the detached, idmapped copy; the init attaches it.
    pub idmap: Option<super::idmap::IdMap>,
}

/// A device node to create (or bind from the host when mknod is not permitted).
#[derive(Debug)]
pub struct DeviceOp {
    /// The `linux.devices[]` entry it comes from (`None`: a default device).
    pub origin: Option<usize>,
    /// Absolute path inside the container (`/dev/null`).
    pub path: CString,
    /// `S_IFCHR`, `S_IFBLK` or `S_IFIFO` ored with the permission bits.
    pub mode: libc::mode_t,
    /// Device number.
    pub dev: libc::dev_t,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// `linux.mountLabel`: the SELinux `context` option on every new filesystem that takes one.
pub fn apply_mount_label(mounts: &mut [MountOp], label: &str) -> Result<(), SpecError> {
    for m in mounts {
        if let MountKind::Fs { fstype, .. } = &m.kind {
            if crate::plan::lsm::labels_fs(fstype.to_bytes()) {
                let data = m.data.as_ref().map(|d| d.to_string_lossy().into_owned());
                let with = crate::plan::lsm::format_mount_label(data.as_deref(), label);
                m.data = Some(cstr(with, crate::plan::lsm::MOUNT_LABEL_FIELD)?);
            }
        }
    }
    Ok(())
}

/// A `mounts[].options` list split by what each option is.
struct Parsed {
    /// `MS_*` flags set (a later option wins over an earlier one).
    flags: libc::c_ulong,
    /// `MS_*` flags an option cleared.
    clear: libc::c_ulong,
    /// Recursive attributes to set and to clear.
    rset: u64,
    rclr: u64,
    /// Propagation changes, in order.
    propagation: Vec<libc::c_ulong>,
    /// Everything else: the filesystem's data.
    data: Vec<String>,
    /// `bind` or `rbind`; `rbind`.
    bind: bool,
    rbind: bool,
}

/// The `MS_*` flag option `o` sets or clears: (set, clear).
fn flag_option(o: &str) -> Option<(libc::c_ulong, libc::c_ulong)> {
    use libc::*;
    Some(match o {
        "defaults" | "rw" => (0, MS_RDONLY),
        "ro" => (MS_RDONLY, 0),
        "suid" => (0, MS_NOSUID),
        "nosuid" => (MS_NOSUID, 0),
        "dev" => (0, MS_NODEV),
        "nodev" => (MS_NODEV, 0),
        "exec" => (0, MS_NOEXEC),
        "noexec" => (MS_NOEXEC, 0),
        "sync" => (MS_SYNCHRONOUS, 0),
        "async" => (0, MS_SYNCHRONOUS),
        "dirsync" => (MS_DIRSYNC, 0),
        "remount" => (MS_REMOUNT, 0),
        "mand" => (MS_MANDLOCK, 0),
        "nomand" => (0, MS_MANDLOCK),
        "atime" => (0, MS_NOATIME),
        "noatime" => (MS_NOATIME, 0),
        "diratime" => (0, MS_NODIRATIME),
        "nodiratime" => (MS_NODIRATIME, 0),
        "relatime" => (MS_RELATIME, 0),
        "norelatime" => (0, MS_RELATIME),
        "strictatime" => (MS_STRICTATIME, 0),
        "nostrictatime" => (0, MS_STRICTATIME),
        _ => return None,
    })
}

/// The propagation change option `o` asks for.
fn propagation_option(o: &str) -> Option<libc::c_ulong> {
    use libc::{MS_PRIVATE, MS_REC, MS_SHARED, MS_SLAVE, MS_UNBINDABLE};
    Some(match o {
        "private" => MS_PRIVATE,
        "rprivate" => MS_PRIVATE | MS_REC,
        "shared" => MS_SHARED,
        "rshared" => MS_SHARED | MS_REC,
        "slave" => MS_SLAVE,
        "rslave" => MS_SLAVE | MS_REC,
        "unbindable" => MS_UNBINDABLE,
        "runbindable" => MS_UNBINDABLE | MS_REC,
        _ => return None,
    })
}

fn parse_options(options: &[String]) -> Parsed {
    let mut p = Parsed {
        flags: 0,
        clear: 0,
        rset: 0,
        rclr: 0,
        propagation: Vec::new(),
        data: Vec::new(),
        bind: false,
        rbind: false,
    };
    for o in options {
        if let Some((set, clr)) = flag_option(o) {
            p.flags = (p.flags | set) & !clr;
            p.clear |= clr;
        } else if let Some(change) = propagation_option(o) {
            p.propagation.push(change);
        } else if let Some((set, clr)) = recursive_attr(o) {
            p.rset = (p.rset & !clr) | set;
            p.rclr = (p.rclr & !set) | clr;
        } else {
            match o.as_str() {
                "bind" => p.bind = true,
                "rbind" => (p.bind, p.rbind) = (true, true),
                // Read by `plan::idmap`.
                "tmpcopyup" | "idmap" | "ridmap" => {}
                other => p.data.push(other.to_string()),
            }
        }
    }
    p
}

/// The recursive mount attribute options, as runc maps them to `mount_setattr(AT_RECURSIVE)`:
/// (bits to set, bits to clear). An atime mode clears the whole atime field and sets its value.
fn recursive_attr(option: &str) -> Option<(u64, u64)> {
    use crate::sys::*;
    Some(match option {
        "rro" => (MOUNT_ATTR_RDONLY, 0),
        "rrw" => (0, MOUNT_ATTR_RDONLY),
        "rnosuid" => (MOUNT_ATTR_NOSUID, 0),
        "rsuid" => (0, MOUNT_ATTR_NOSUID),
        "rnodev" => (MOUNT_ATTR_NODEV, 0),
        "rdev" => (0, MOUNT_ATTR_NODEV),
        "rnoexec" => (MOUNT_ATTR_NOEXEC, 0),
        "rexec" => (0, MOUNT_ATTR_NOEXEC),
        "rnosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => (0, MOUNT_ATTR_NOSYMFOLLOW),
        "rnodiratime" => (MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => (0, MOUNT_ATTR_NODIRATIME),
        "rnoatime" => (MOUNT_ATTR_NOATIME, MOUNT_ATTR_ATIME),
        "rstrictatime" => (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR_ATIME),
        "rrelatime" | "ratime" | "rnorelatime" | "rnostrictatime" => {
            (MOUNT_ATTR_RELATIME, MOUNT_ATTR_ATIME)
        }
        _ => return None,
    })
}

/// The `mount_setattr` bits of `MS_RDONLY`, `MS_NOSUID`, `MS_NODEV` and `MS_NOEXEC` in `flags`.
pub(crate) fn attr_from_flags(flags: libc::c_ulong) -> u64 {
    let mut a = 0;
    if flags & libc::MS_RDONLY != 0 {
        a |= crate::sys::MOUNT_ATTR_RDONLY;
    }
    if flags & libc::MS_NOSUID != 0 {
        a |= crate::sys::MOUNT_ATTR_NOSUID;
    }
    if flags & libc::MS_NODEV != 0 {
        a |= crate::sys::MOUNT_ATTR_NODEV;
    }
    if flags & libc::MS_NOEXEC != 0 {
        a |= crate::sys::MOUNT_ATTR_NOEXEC;
    }
    a
}

fn data_of(parts: &[String], field: &str) -> Result<Option<CString>, SpecError> {
    if parts.is_empty() {
        Ok(None)
    } else {
        cstr(parts.join(","), field).map(Some)
    }
}

impl MountOp {
    /// An operation on `dest` with no flags, attributes, data or propagation.
    fn plain(origin: usize, dest: CString, kind: MountKind) -> MountOp {
        MountOp {
            origin,
            dest,
            kind,
            flags: 0,
            attr_set: 0,
            defer_attr: false,
            rattr_set: 0,
            rattr_clr: 0,
            data: None,
            propagation: Vec::new(),
            file_target: false,
            idmap: None,
        }
    }
}

/// Plan one `mounts[i]` entry (the `cgroup` type expands into several operations).
fn plan_mount(
    i: usize,
    m: &Mount,
    bundle: &Path,
    cgroups: Option<(&Host, &Cgroup)>,
    cgroupns: bool,
    ops: &mut Vec<MountOp>,
) -> Result<(), SpecError> {
    let field = format!("mounts[{i}]");
    // A relative destination is relative to `/` (runtime-spec 1.2; runc warns and does the same).
    let dest_s = match m.destination().to_string_lossy() {
        d if d.starts_with('/') => d.into_owned(),
        d => format!("/{d}"),
    };
    let dest = cstr(dest_s.clone(), &format!("{field}.destination"))?;
    let options = m.options().clone().unwrap_or_default();
    let p = parse_options(&options);
    let typ = m.typ().clone().unwrap_or_default();
    if p.bind || typ == "bind" {
        ops.push(plan_bind(i, m, dest, p, bundle)?);
        return Ok(());
    }
    if typ.is_empty() {
        return Err(SpecError::field(
            format!("{field}.type"),
            "is required unless the mount is a bind mount",
        ));
    }
    if typ == "cgroup" || typ == "cgroup2" {
        if let Some((host, cg)) = cgroups {
            let v2_only = typ == "cgroup2";
            return cgroup::plan_cgroup_mount(i, &dest_s, &p, (host, cg, v2_only), cgroupns, ops);
        }
    }
    ops.push(plan_fs(i, m, dest, typ, p)?);
    Ok(())
}

/// A bind of `m.source` (relative: below the bundle, which must hold it); the flags that are
/// mount attributes are set on the bind after it is made.
fn plan_bind(
    i: usize,
    m: &Mount,
    dest: CString,
    p: Parsed,
    bundle: &Path,
) -> Result<MountOp, SpecError> {
    let field = format!("mounts[{i}].source");
    let src = m
        .source()
        .as_ref()
        .ok_or_else(|| SpecError::field(&field, "is required for a bind mount"))?;
    let src = if src.is_absolute() {
        src.clone()
    } else {
        bundle.join(src)
    };
    let meta = std::fs::metadata(&src)
        .map_err(|e| SpecError::field(&field, format!("{}: {e}", src.display())))?;
    let kind = MountKind::Bind {
        source: cstr(src.to_string_lossy().into_owned(), &field)?,
        recursive: p.rbind,
    };
    Ok(MountOp {
        flags: p.flags & !libc::MS_REMOUNT,
        attr_set: attr_from_flags(p.flags),
        rattr_set: p.rset,
        rattr_clr: p.rclr,
        propagation: p.propagation,
        file_target: !meta.is_dir(),
        ..MountOp::plain(i, dest, kind)
    })
}

/// A new filesystem of type `typ` (source: the type unless given), the options that are not
/// flags as its data.
fn plan_fs(
    i: usize,
    m: &Mount,
    dest: CString,
    typ: String,
    p: Parsed,
) -> Result<MountOp, SpecError> {
    let field = format!("mounts[{i}]");
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| typ.clone());
    let kind = MountKind::Fs {
        fstype: cstr(typ, &format!("{field}.type"))?,
        source: cstr(source, &format!("{field}.source"))?,
    };
    Ok(MountOp {
        flags: p.flags,
        rattr_set: p.rset,
        rattr_clr: p.rclr,
        data: data_of(&p.data, &format!("{field}.options"))?,
        propagation: p.propagation,
        ..MountOp::plain(i, dest, kind)
    })
}

/// Plan every entry of `mounts[]`, in order.
pub fn plan_mounts(
    spec: &Spec,
    bundle: &Path,
    cgroups: Option<(&Host, &Cgroup)>,
    cgroupns: bool,
) -> Result<Vec<MountOp>, SpecError> {
    let mut ops = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        plan_mount(i, m, bundle, cgroups, cgroupns, &mut ops)?;
    }
    // A bind's own attributes wait for the rest, unless a later mount stacks on the same place
    // (the path would then reach that one).
    for i in 0..ops.len() {
        let stacked = ops[i + 1..].iter().any(|o| o.dest == ops[i].dest);
        ops[i].defer_attr =
            matches!(ops[i].kind, MountKind::Bind { .. }) && ops[i].attr_set != 0 && !stacked;
    }
    super::idmap::apply(spec, &mut ops)?;
    Ok(ops)
}

fn makedev(major: i64, minor: i64) -> libc::dev_t {
    libc::makedev(major as u32, minor as u32)
}

/// The devices runtime-spec requires in every container, then `linux.devices`.
pub fn plan_devices(spec: &Spec) -> Result<Vec<DeviceOp>, SpecError> {
    let mut out = Vec::new();
    for (name, minor) in [
        ("null", 3),
        ("zero", 5),
        ("full", 7),
        ("random", 8),
        ("urandom", 9),
    ] {
        out.push(DeviceOp {
            origin: None,
            path: cstr(format!("/dev/{name}"), "linux.devices")?,
            mode: libc::S_IFCHR | 0o666,
            dev: makedev(1, minor),
            uid: 0,
            gid: 0,
        });
    }
    out.push(DeviceOp {
        origin: None,
        path: cstr("/dev/tty".into(), "linux.devices")?,
        mode: libc::S_IFCHR | 0o666,
        dev: makedev(5, 0),
        uid: 0,
        gid: 0,
    });
    let devices = spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    for (i, d) in devices.into_iter().flatten().enumerate() {
        let field = format!("linux.devices[{i}]");
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(SpecError::field(
                    format!("{field}.type"),
                    "\"a\" is not a device node type",
                ))
            }
        };
        let perm = d.file_mode().unwrap_or(0o666) & 0o7777;
        let op = DeviceOp {
            origin: Some(i),
            path: cstr(
                d.path().to_string_lossy().into_owned(),
                &format!("{field}.path"),
            )?,
            mode: kind | perm,
            dev: makedev(d.major(), d.minor()),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        // A config entry for a default device replaces it.
        out.retain(|o: &DeviceOp| o.path != op.path);
        out.push(op);
    }
    Ok(out)
}

/// The symlinks runtime-spec requires in `/dev`: (link, target).
pub const DEV_SYMLINKS: [(&std::ffi::CStr, &std::ffi::CStr); 5] = [
    (c"/dev/fd", c"/proc/self/fd"),
    (c"/dev/stdin", c"/proc/self/fd/0"),
    (c"/dev/stdout", c"/proc/self/fd/1"),
    (c"/dev/stderr", c"/proc/self/fd/2"),
    (c"/dev/ptmx", c"pts/ptmx"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let opts: Vec<String> = [
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
            "rslave",
            "ro",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let p = parse_options(&opts);
        assert_eq!(
            p.flags,
            libc::MS_NOSUID | libc::MS_STRICTATIME | libc::MS_RDONLY
        );
        assert_eq!(p.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        assert_eq!(
            p.data,
            vec!["mode=755".to_string(), "size=65536k".to_string()]
        );
        let p = parse_options(&["ro".to_string(), "rw".to_string(), "rbind".to_string()]);
        assert_eq!(p.flags & libc::MS_RDONLY, 0);
        assert!(p.bind && p.rbind);
    }
}
