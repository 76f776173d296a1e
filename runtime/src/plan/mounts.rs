//! ③ Mount planning: `mounts[]` → ordered mount operations with flags and data decided up front;
//! the `/dev` devices and symlinks; masked and read-only paths.
use std::ffi::CString;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceType, Mount, Spec};

use crate::cgroups::Host;
use crate::spec::cstr;
use crate::spec::SpecError;

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
            if crate::lsm::labels_fs(fstype.to_bytes()) {
                let data = m.data.as_ref().map(|d| d.to_string_lossy().into_owned());
                let with = crate::lsm::format_mount_label(data.as_deref(), label);
                m.data = Some(cstr(with, crate::lsm::MOUNT_LABEL_FIELD)?);
            }
        }
    }
    Ok(())
}

struct Parsed {
    flags: libc::c_ulong,
    clear: libc::c_ulong,
    rset: u64,
    rclr: u64,
    propagation: Vec<libc::c_ulong>,
    data: Vec<String>,
    bind: bool,
    rbind: bool,
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
        let (set, clr): (libc::c_ulong, libc::c_ulong) = match o.as_str() {
            "defaults" | "rw" => (0, libc::MS_RDONLY),
            "ro" => (libc::MS_RDONLY, 0),
            "suid" => (0, libc::MS_NOSUID),
            "nosuid" => (libc::MS_NOSUID, 0),
            "dev" => (0, libc::MS_NODEV),
            "nodev" => (libc::MS_NODEV, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "noexec" => (libc::MS_NOEXEC, 0),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "remount" => (libc::MS_REMOUNT, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "bind" => {
                p.bind = true;
                (0, 0)
            }
            "rbind" => {
                p.bind = true;
                p.rbind = true;
                (0, 0)
            }
            "private" => (p.propagation.push(libc::MS_PRIVATE), (0, 0)).1,
            "rprivate" => (p.propagation.push(libc::MS_PRIVATE | libc::MS_REC), (0, 0)).1,
            "shared" => (p.propagation.push(libc::MS_SHARED), (0, 0)).1,
            "rshared" => (p.propagation.push(libc::MS_SHARED | libc::MS_REC), (0, 0)).1,
            "slave" => (p.propagation.push(libc::MS_SLAVE), (0, 0)).1,
            "rslave" => (p.propagation.push(libc::MS_SLAVE | libc::MS_REC), (0, 0)).1,
            "unbindable" => (p.propagation.push(libc::MS_UNBINDABLE), (0, 0)).1,
            "runbindable" => {
                (
                    p.propagation.push(libc::MS_UNBINDABLE | libc::MS_REC),
                    (0, 0),
                )
                    .1
            }
            o if recursive_attr(o).is_some() => {
                if let Some((set, clr)) = recursive_attr(o) {
                    p.rset = (p.rset & !clr) | set;
                    p.rclr = (p.rclr & !set) | clr;
                }
                (0, 0)
            }
            "tmpcopyup" => (0, 0),
            other => {
                p.data.push(other.to_string());
                (0, 0)
            }
        };
        p.flags = (p.flags | set) & !clr;
        p.clear |= clr;
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

fn attr_from_flags(flags: libc::c_ulong) -> u64 {
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

/// Plan one `mounts[i]` entry (the `cgroup` type expands into several operations).
fn plan_mount(
    i: usize,
    m: &Mount,
    bundle: &Path,
    cgroups: Option<(&Host, &crate::cgroups::Cgroup)>,
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
        let src = m.source().as_ref().ok_or_else(|| {
            SpecError::field(format!("{field}.source"), "is required for a bind mount")
        })?;
        let src = if src.is_absolute() {
            src.clone()
        } else {
            bundle.join(src)
        };
        let meta = std::fs::metadata(&src).map_err(|e| {
            SpecError::field(format!("{field}.source"), format!("{}: {e}", src.display()))
        })?;
        ops.push(MountOp {
            origin: i,
            dest,
            kind: MountKind::Bind {
                source: cstr(
                    src.to_string_lossy().into_owned(),
                    &format!("{field}.source"),
                )?,
                recursive: p.rbind,
            },
            flags: p.flags & !libc::MS_REMOUNT,
            attr_set: attr_from_flags(p.flags),
            defer_attr: false,
            rattr_set: p.rset,
            rattr_clr: p.rclr,
            data: None,
            propagation: p.propagation,
            file_target: !meta.is_dir(),
        });
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
            plan_cgroup_mount(i, &dest_s, &p, host, cg, cgroupns, ops)?;
            return Ok(());
        }
    }
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| typ.clone());
    ops.push(MountOp {
        origin: i,
        dest,
        kind: MountKind::Fs {
            fstype: cstr(typ, &format!("{field}.type"))?,
            source: cstr(source, &format!("{field}.source"))?,
        },
        flags: p.flags,
        attr_set: 0,
        defer_attr: false,
        rattr_set: p.rset,
        rattr_clr: p.rclr,
        data: data_of(&p.data, &format!("{field}.options"))?,
        propagation: p.propagation,
        file_target: false,
    });
    Ok(())
}

/// `type: cgroup` as runc does it: on v2 one cgroup2 mount; on v1/hybrid a tmpfs holding one
/// mount per hierarchy (a fresh cgroup mount inside a cgroup namespace, else a bind of the
/// container's own cgroup directory), then the tmpfs sealed read-only.
fn plan_cgroup_mount(
    i: usize,
    dest: &str,
    p: &Parsed,
    host: &Host,
    cg: &crate::cgroups::Cgroup,
    cgroupns: bool,
    ops: &mut Vec<MountOp>,
) -> Result<(), SpecError> {
    let field = format!("mounts[{i}]");
    let c = |s: String| cstr(s, &field);
    let base_flags = p.flags & !libc::MS_REMOUNT;
    if host.layout == crate::cgroups::Layout::V2 {
        let (_, dir) = cg
            .dirs
            .first()
            .ok_or_else(|| SpecError::field(&field, "no cgroup hierarchy"))?;
        let kind = if cgroupns {
            MountKind::Fs {
                fstype: c("cgroup2".into())?,
                source: c("cgroup".into())?,
            }
        } else {
            MountKind::Bind {
                source: c(dir.to_string_lossy().into_owned())?,
                recursive: false,
            }
        };
        ops.push(MountOp {
            origin: i,
            dest: c(dest.to_string())?,
            kind,
            flags: base_flags,
            attr_set: attr_from_flags(base_flags),
            defer_attr: false,
            rattr_set: 0,
            rattr_clr: 0,
            data: None,
            propagation: p.propagation.clone(),
            file_target: false,
        });
        return Ok(());
    }
    let tmpfs_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    ops.push(MountOp {
        origin: i,
        dest: c(dest.to_string())?,
        kind: MountKind::Fs {
            fstype: c("tmpfs".into())?,
            source: c("tmpfs".into())?,
        },
        flags: tmpfs_flags,
        attr_set: 0,
        defer_attr: false,
        rattr_set: 0,
        rattr_clr: 0,
        data: Some(c("mode=755".into())?),
        propagation: p.propagation.clone(),
        file_target: false,
    });
    let sub_flags = base_flags | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    for (h, (_, dir)) in host.hierarchies.iter().zip(&cg.dirs) {
        let sub = format!("{}/{}", dest.trim_end_matches('/'), h.name());
        let kind = if cgroupns {
            if h.is_v2() {
                MountKind::Fs {
                    fstype: c("cgroup2".into())?,
                    source: c("cgroup2".into())?,
                }
            } else {
                MountKind::Fs {
                    fstype: c("cgroup".into())?,
                    source: c("cgroup".into())?,
                }
            }
        } else {
            MountKind::Bind {
                source: c(dir.to_string_lossy().into_owned())?,
                recursive: false,
            }
        };
        let data = match (&kind, h.is_v2()) {
            (MountKind::Fs { .. }, false) => {
                let ctrl = if h.controllers.starts_with("name=") {
                    format!("none,{}", h.controllers)
                } else {
                    h.controllers.clone()
                };
                Some(c(ctrl)?)
            }
            _ => None,
        };
        ops.push(MountOp {
            origin: i,
            dest: c(sub)?,
            kind,
            flags: sub_flags,
            attr_set: attr_from_flags(sub_flags),
            defer_attr: false,
            rattr_set: 0,
            rattr_clr: 0,
            data,
            propagation: Vec::new(),
            file_target: false,
        });
        // Co-mounted controllers (`cpu,cpuacct`) get one symlink per controller, as on the host.
        if h.controllers.contains(',') && !h.controllers.starts_with("name=") {
            for single in h.controllers.split(',') {
                ops.push(MountOp {
                    origin: i,
                    dest: c(format!("{}/{single}", dest.trim_end_matches('/')))?,
                    kind: MountKind::Symlink {
                        target: c(h.name().to_string())?,
                    },
                    flags: 0,
                    attr_set: 0,
                    defer_attr: false,
                    rattr_set: 0,
                    rattr_clr: 0,
                    data: None,
                    propagation: Vec::new(),
                    file_target: false,
                });
            }
        }
    }
    if base_flags & libc::MS_RDONLY != 0 {
        ops.push(MountOp {
            origin: i,
            dest: c(dest.to_string())?,
            kind: MountKind::RemountRo,
            flags: 0,
            attr_set: crate::sys::MOUNT_ATTR_RDONLY,
            defer_attr: false,
            rattr_set: 0,
            rattr_clr: 0,
            data: None,
            propagation: Vec::new(),
            file_target: false,
        });
    }
    Ok(())
}

/// Plan every entry of `mounts[]`, in order.
pub fn plan_mounts(
    spec: &Spec,
    bundle: &Path,
    cgroups: Option<(&Host, &crate::cgroups::Cgroup)>,
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

    #[test]
    fn a_relative_destination_is_planned_below_root() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "mounts": [
                {"destination": "relative/x", "type": "tmpfs", "source": "tmpfs"},
                {"destination": "/abs", "type": "tmpfs", "source": "tmpfs"}
            ]
        }))
        .expect("spec");
        let ops = plan_mounts(&spec, Path::new("/bundle"), None, false).expect("plan");
        let dests: Vec<&[u8]> = ops.iter().map(|o| o.dest.as_bytes()).collect();
        assert_eq!(dests, [&b"/relative/x"[..], b"/abs"]);
    }

    #[test]
    fn mount_label_goes_on_new_filesystems_but_proc_sysfs_cgroup_and_binds() {
        let op = |fstype: Option<&str>, data: Option<&str>| MountOp {
            origin: 0,
            dest: c"/x".into(),
            kind: match fstype {
                Some(t) => MountKind::Fs {
                    fstype: CString::new(t).unwrap(),
                    source: CString::new(t).unwrap(),
                },
                None => MountKind::Bind {
                    source: c"/src".into(),
                    recursive: false,
                },
            },
            flags: 0,
            attr_set: 0,
            defer_attr: false,
            rattr_set: 0,
            rattr_clr: 0,
            data: data.map(|d| CString::new(d).unwrap()),
            propagation: Vec::new(),
            file_target: false,
        };
        let mut mounts = vec![
            op(Some("tmpfs"), Some("mode=755,size=65536k")),
            op(Some("devpts"), Some("newinstance,ptmxmode=0666")),
            op(Some("mqueue"), None),
            op(Some("proc"), None),
            op(Some("sysfs"), None),
            op(Some("cgroup2"), None),
            op(None, None),
        ];
        apply_mount_label(&mut mounts, "s_u:object_r:c_t:s0:c1,c2").unwrap();
        let data: Vec<Option<&str>> = mounts
            .iter()
            .map(|m| m.data.as_ref().map(|d| d.to_str().unwrap()))
            .collect();
        assert_eq!(
            data,
            [
                Some("mode=755,size=65536k,context=\"s_u:object_r:c_t:s0:c1,c2\""),
                Some("newinstance,ptmxmode=0666,context=\"s_u:object_r:c_t:s0:c1,c2\""),
                Some("context=\"s_u:object_r:c_t:s0:c1,c2\""),
                None,
                None,
                None,
                None,
            ]
        );
    }
}
