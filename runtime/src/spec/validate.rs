//! [`validate`]: the checks of a parsed config.json that need no filesystem (but for a `stat` of
//! a joined namespace a sysctl needs, and of a bind's source at `/proc`): the version, the process
//! ([`validate_process`], an exec's too), the terminal and console socket, hooks, mount
//! destinations (inside the root, `/proc` kept procfs), namespaces, hostname and domainname, and
//! the `linux` paths; then `linux.sysctl` (`sysctl`) and the fields sangja does not apply
//! (`unsupported`). Each error names the JSON path of the field. Also the lexical path checks
//! they use: [`lexical_clean`] (the bundle and the plan use it too) and `escapes_root`.
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{Linux, LinuxNamespaceType, Spec};

use super::{check_version, sysctl, unsupported, SpecError};

/// Does `dest` (absolute) climb above `/` lexically?
fn escapes_root(dest: &Path) -> bool {
    let mut depth: i32 = 0;
    for c in dest.components() {
        match c {
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    false
}

/// Validate everything that does not need the filesystem (but for a `stat` of a joined
/// namespace that a sysctl needs). `console_socket` is the `--console-socket` flag; `detached` is
/// true for `create` and `run --detach`.
pub fn validate(spec: &Spec, console_socket: bool, detached: bool) -> Result<(), SpecError> {
    check_version(spec.version())?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| SpecError::field("process", "is required to create a container"))?;
    validate_process(process)?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && detached && !console_socket {
        return Err(SpecError::field(
            "process.terminal",
            "cannot allocate tty if runc will detach without setting console socket",
        ));
    }
    if console_socket && (!terminal || !detached) {
        return Err(SpecError::field(
            "process.terminal",
            "cannot use console socket if runc will not detach or allocate tty",
        ));
    }
    validate_hooks(spec)?;
    validate_mounts(spec)?;
    idmap::validate(spec)?;
    let linux = spec.linux().as_ref();
    let new_uts = validate_namespaces(linux)?;
    userns::validate(spec)?;
    let hostname = spec.hostname().as_deref().is_some_and(|h| !h.is_empty());
    let domainname = spec.domainname().as_deref().is_some_and(|h| !h.is_empty());
    if hostname && !new_uts {
        return Err(SpecError::field(
            "hostname",
            "unable to set hostname without a private UTS namespace",
        ));
    }
    if domainname && !new_uts {
        return Err(SpecError::field(
            "domainname",
            "unable to set domainname without a private UTS namespace",
        ));
    }
    if let Some(l) = linux {
        validate_linux(l)?;
        sysctl::check(l, hostname, domainname, &sysctl::same_as_own)?;
    }
    Ok(())
}

/// Hook paths are absolute, timeouts positive.
#[allow(deprecated)]
fn validate_hooks(spec: &Spec) -> Result<(), SpecError> {
    let Some(h) = spec.hooks() else {
        return Ok(());
    };
    let kinds = [
        ("prestart", h.prestart()),
        ("createRuntime", h.create_runtime()),
        ("createContainer", h.create_container()),
        ("startContainer", h.start_container()),
        ("poststart", h.poststart()),
        ("poststop", h.poststop()),
    ];
    for (kind, list) in kinds {
        for (i, hook) in list.iter().flatten().enumerate() {
            if !hook.path().is_absolute() {
                return Err(SpecError::field(
                    format!("hooks.{kind}[{i}].path"),
                    "must be an absolute path",
                ));
            }
            if hook.timeout().is_some_and(|t| t <= 0) {
                return Err(SpecError::field(
                    format!("hooks.{kind}[{i}].timeout"),
                    "must be positive",
                ));
            }
        }
    }
    Ok(())
}

/// Mount destinations: inside the root (a relative one is relative to `/`, as runtime-spec 1.2
/// says), no NUL, and `/proc` kept procfs.
fn validate_mounts(spec: &Spec) -> Result<(), SpecError> {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let d = m.destination();
        if escapes_root(d) {
            return Err(SpecError::field(
                format!("mounts[{i}].destination"),
                format!("{:?} escapes the container root", d),
            ));
        }
        if d.as_os_str().as_encoded_bytes().contains(&0) {
            return Err(SpecError::field(
                format!("mounts[{i}].destination"),
                "contains a NUL byte",
            ));
        }
        check_proc_mount(i, m)?;
    }
    Ok(())
}

/// `linux.namespaces`: no duplicates, absolute paths, a mount namespace;
/// `linux.timeOffsets` only for a new time namespace. Returns whether the container gets a new
/// UTS namespace.
fn validate_namespaces(linux: Option<&Linux>) -> Result<bool, SpecError> {
    let mut kinds = HashSet::new();
    let mut new_uts = false;
    let mut new_time = false;
    for (i, ns) in linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !kinds.insert(ns.typ()) {
            return Err(SpecError::field(
                format!("linux.namespaces[{i}].type"),
                "duplicate namespace",
            ));
        }
        match ns.typ() {
            LinuxNamespaceType::Time => new_time = ns.path().is_none(),
            LinuxNamespaceType::Uts => new_uts = ns.path().is_none(),
            _ => {}
        }
        if ns.path().as_ref().is_some_and(|p| !p.is_absolute()) {
            return Err(SpecError::field(
                format!("linux.namespaces[{i}].path"),
                "must be an absolute path",
            ));
        }
    }
    if !kinds.contains(&LinuxNamespaceType::Mount) {
        return Err(SpecError::field(
            "linux.namespaces",
            "a mount namespace is required",
        ));
    }
    validate_time_offsets(linux, new_time)?;
    Ok(new_uts)
}

/// `linux.timeOffsets`: the clocks a time namespace offsets (`monotonic`, `boottime`), with
/// nanoseconds below a second, and only for a new time namespace (an existing one has processes
/// in it, and its offsets can no longer be set).
fn validate_time_offsets(linux: Option<&Linux>, new_time: bool) -> Result<(), SpecError> {
    let Some(offsets) = linux.and_then(|l| l.time_offsets().as_ref()) else {
        return Ok(());
    };
    if !offsets.is_empty() && !new_time {
        return Err(SpecError::field(
            "linux.timeOffsets",
            "needs a new time namespace (linux.namespaces type time, without a path)",
        ));
    }
    let mut clocks: Vec<_> = offsets.iter().collect();
    clocks.sort_by_key(|(name, _)| name.as_str());
    for (clock, o) in clocks {
        if clock != "monotonic" && clock != "boottime" {
            return Err(SpecError::field(
                format!("linux.timeOffsets.{clock}"),
                "unknown clock (a time namespace offsets monotonic and boottime)",
            ));
        }
        if o.nanosecs().unwrap_or(0) >= 1_000_000_000 {
            return Err(SpecError::field(
                format!("linux.timeOffsets.{clock}.nanosecs"),
                "must be below 1000000000",
            ));
        }
    }
    Ok(())
}

/// Devices, masked and read-only paths, root propagation, and the fields not applied.
fn validate_linux(l: &Linux) -> Result<(), SpecError> {
    if let Some(devs) = l.devices() {
        for (i, d) in devs.iter().enumerate() {
            let p = d.path();
            if !p.is_absolute() || escapes_root(p) {
                return Err(SpecError::field(
                    format!("linux.devices[{i}].path"),
                    "must be an absolute path inside the container",
                ));
            }
        }
    }
    for (name, list) in [
        ("linux.maskedPaths", l.masked_paths()),
        ("linux.readonlyPaths", l.readonly_paths()),
    ] {
        // A relative path is relative to `/`, as runc takes it.
        for (i, p) in list.iter().flatten().enumerate() {
            if escapes_root(&Path::new("/").join(p)) {
                return Err(SpecError::field(
                    format!("{name}[{i}]"),
                    "must be a path inside the container",
                ));
            }
        }
    }
    if let Some(p) = l.rootfs_propagation() {
        if !matches!(
            p.as_str(),
            "" | "private"
                | "rprivate"
                | "slave"
                | "rslave"
                | "shared"
                | "rshared"
                | "unbindable"
                | "runbindable"
        ) {
            return Err(SpecError::field(
                "linux.rootfsPropagation",
                format!("unknown propagation {p:?}"),
            ));
        }
    }
    unsupported::linux(l)
}

/// The largest uid or gid a process may get: `(uid_t)-1` (4294967295) means "unchanged" to
/// `setresuid`/`setresgid`, so anything above `i32::MAX` is refused, as runc does.
const MAX_ID: u32 = i32::MAX as u32;

/// `process.user`: uid, gid and every additional gid in `0..=2147483647`.
fn validate_user(user: &oci_spec::runtime::User) -> Result<(), SpecError> {
    let out_of_range = |field: String, id: u32| {
        SpecError::field(
            field,
            format!("{id} is out of range: uids and gids must be in range 0-{MAX_ID}"),
        )
    };
    if user.uid() > MAX_ID {
        return Err(out_of_range("process.user.uid".into(), user.uid()));
    }
    if user.gid() > MAX_ID {
        return Err(out_of_range("process.user.gid".into(), user.gid()));
    }
    for (i, g) in user.additional_gids().iter().flatten().enumerate() {
        if *g > MAX_ID {
            return Err(out_of_range(
                format!("process.user.additionalGids[{i}]"),
                *g,
            ));
        }
    }
    Ok(())
}

/// Validate a process (config.json's `process`, or an exec's): args, env, cwd, rlimits.
pub fn validate_process(process: &oci_spec::runtime::Process) -> Result<(), SpecError> {
    unsupported::process(process)?;
    match process.args().as_deref() {
        None | Some([]) => return Err(SpecError::field("process.args", "must not be empty")),
        Some([first, ..]) if first.is_empty() => {
            return Err(SpecError::field("process.args[0]", "must not be empty"))
        }
        Some(args) => {
            if let Some(i) = args.iter().position(|a| a.contains('\0')) {
                return Err(SpecError::field(
                    format!("process.args[{i}]"),
                    "contains a NUL byte",
                ));
            }
        }
    }
    if let Some(env) = process.env() {
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') || e.starts_with('=') || e.contains('\0') {
                return Err(SpecError::field(
                    format!("process.env[{i}]"),
                    format!("{e:?} is not KEY=value"),
                ));
            }
        }
    }
    if !process.cwd().is_absolute() {
        return Err(SpecError::field("process.cwd", "must be an absolute path"));
    }
    validate_user(process.user())?;
    if let Some(rl) = process.rlimits() {
        let mut seen = HashSet::new();
        for (i, r) in rl.iter().enumerate() {
            if !seen.insert(format!("{:?}", r.typ())) {
                return Err(SpecError::field(
                    format!("process.rlimits[{i}].type"),
                    "duplicate rlimit",
                ));
            }
            if r.soft() > r.hard() {
                return Err(SpecError::field(
                    format!("process.rlimits[{i}]"),
                    "soft limit exceeds hard limit",
                ));
            }
        }
    }
    Ok(())
}

/// Files below `/proc` a mount may replace (lxcfs-style overrides, as runc allows).
const PROC_OVERRIDES: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// `/proc` must be procfs (masked and read-only paths, LSM labels and `/proc/self` checks rely on
/// it): a mount at `/proc` must be of type `proc`, and below it only the files runc allows may be
/// replaced (CVE-2019-16884 and friends).
fn check_proc_mount(i: usize, m: &oci_spec::runtime::Mount) -> Result<(), SpecError> {
    let dest = m.destination().as_path();
    let clean = lexical_clean(dest);
    if !clean.starts_with("/proc") {
        return Ok(());
    }
    let ok = if clean == Path::new("/proc") {
        m.typ().as_deref() == Some("proc") || binds_a_procfs_root(m)
    } else {
        PROC_OVERRIDES.iter().any(|p| clean == Path::new(p))
    };
    if ok {
        Ok(())
    } else {
        Err(SpecError::field(
            format!("mounts[{i}].destination"),
            format!("{dest:?} cannot be mounted: /proc must be procfs and only some of its files may be replaced"),
        ))
    }
}

/// Is `m` a bind of the root of a procfs (a config in the host's pid namespace binding the host's
/// `/proc`, which runc allows)? Checked on the source: procfs, inode 1.
fn binds_a_procfs_root(m: &oci_spec::runtime::Mount) -> bool {
    use std::os::unix::fs::MetadataExt;
    let bind = m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind");
    let Some(src) = m.source() else { return false };
    bind && nix::sys::statfs::statfs(src)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
        && std::fs::metadata(src).is_ok_and(|st| st.ino() == 1)
}

/// `dest` made absolute (relative to `/`) with `.` and `..` resolved lexically (`..` at the top
/// stays at `/`), so that `proc`, `/a/../proc` and `/proc/` all name `/proc`.
pub(crate) fn lexical_clean(dest: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in dest.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

mod idmap;
#[cfg(test)]
mod tests;
mod userns;
