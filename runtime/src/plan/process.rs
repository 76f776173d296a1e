//! ③ Process planning: argv/envp as C strings, the executable's candidate paths (PATH lookup is
//! done by the init against the container's root, with the candidates prepared here), identity,
//! capability masks and rlimits.
use std::ffi::CString;
use std::path::Path;

use oci_spec::runtime::{Capability, LinuxCapabilities, PosixRlimitType, Process};

use crate::spec::cstr;
use crate::spec::SpecError;

/// Capability sets as 64-bit masks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    /// Bounding set.
    pub bounding: u64,
    /// Effective set.
    pub effective: u64,
    /// Permitted set.
    pub permitted: u64,
    /// Inheritable set.
    pub inheritable: u64,
    /// Ambient set (only caps also in permitted and inheritable).
    pub ambient: u64,
}

/// Everything the init needs to become the container process.
#[derive(Debug)]
pub struct ProcessPlan {
    /// `args` (owns the strings `argv_ptrs` points into).
    #[allow(dead_code)]
    pub argv: Vec<CString>,
    /// `env` plus `HOME` when missing (owns the strings `env_ptrs` points into).
    #[allow(dead_code)]
    pub env: Vec<CString>,
    /// Paths to try for `args[0]`, in PATH order.
    pub exe_candidates: Vec<CString>,
    /// NULL-terminated pointers into `argv`, for execve.
    pub argv_ptrs: Vec<*const libc::c_char>,
    /// NULL-terminated pointers into `env`, for execve.
    pub env_ptrs: Vec<*const libc::c_char>,
    /// `args[0]` as given, for error messages.
    pub arg0: CString,
    /// `cwd`.
    pub cwd: CString,
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
    /// additionalGids; `None` when the user namespace's `setgroups` is `deny` (a rootless
    /// container mapping the caller's own gid alone), where `setgroups(2)` is not called.
    pub groups: Option<Vec<libc::gid_t>>,
    /// umask, if set.
    pub umask: Option<u32>,
    /// Capabilities; all empty when the config gives none (then all are dropped, as runc).
    pub caps: CapSets,
    /// Highest capability number the kernel knows.
    pub last_cap: u32,
    /// (resource, soft, hard, name as the config spells it: for the error).
    pub rlimits: Vec<(libc::c_int, u64, u64, &'static str)>,
    /// `noNewPrivileges`.
    pub no_new_privileges: bool,
    /// `consoleSize` (rows, columns).
    pub console_size: Option<(u16, u16)>,
    /// `oomScoreAdj` as text for /proc/self/oom_score_adj.
    pub oom_score_adj: Option<CString>,
    /// `apparmorProfile` and `selinuxLabel`, as `/proc/self/attr` writes.
    pub lsm: crate::plan::lsm::LsmPlan,
}

impl ProcessPlan {
    /// Must the seccomp filter be loaded before the identity switch? Loading needs either
    /// no_new_privs or CAP_SYS_ADMIN, and a process with neither loses the capability there.
    pub fn seccomp_before_identity(&self) -> bool {
        const CAP_SYS_ADMIN: u32 = 21;
        !self.no_new_privileges && self.caps.effective & (1u64 << CAP_SYS_ADMIN) == 0
    }
}

/// Highest capability the running kernel knows (`/proc/sys/kernel/cap_last_cap`).
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

fn cap_mask(
    set: Option<&std::collections::HashSet<Capability>>,
    field: &str,
    last_cap: u32,
) -> u64 {
    let mut mask = 0u64;
    for c in set.into_iter().flatten() {
        let n = caps_index(*c);
        if n > last_cap {
            log::warn!("{field}: {c} is not supported by the running kernel, ignoring it");
            continue;
        }
        mask |= 1u64 << n;
    }
    mask
}

/// Capability number of an oci-spec capability (via its `CAP_*` name and the caps crate's table).
fn caps_index(c: Capability) -> u32 {
    let name = c.to_string();
    let name = if name.starts_with("CAP_") {
        name
    } else {
        format!("CAP_{name}")
    };
    name.parse::<caps::Capability>()
        .map(|c| c.index() as u32)
        .unwrap_or(u32::MAX)
}

/// The kernel's resource number of a `process.rlimits[].type`, and its name for error messages.
fn rlimit_resource(t: PosixRlimitType) -> (libc::c_int, &'static str) {
    let (res, name) = match t {
        PosixRlimitType::RlimitCpu => (libc::RLIMIT_CPU, "RLIMIT_CPU"),
        PosixRlimitType::RlimitFsize => (libc::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        PosixRlimitType::RlimitData => (libc::RLIMIT_DATA, "RLIMIT_DATA"),
        PosixRlimitType::RlimitStack => (libc::RLIMIT_STACK, "RLIMIT_STACK"),
        PosixRlimitType::RlimitCore => (libc::RLIMIT_CORE, "RLIMIT_CORE"),
        PosixRlimitType::RlimitRss => (libc::RLIMIT_RSS, "RLIMIT_RSS"),
        PosixRlimitType::RlimitNproc => (libc::RLIMIT_NPROC, "RLIMIT_NPROC"),
        PosixRlimitType::RlimitNofile => (libc::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        PosixRlimitType::RlimitMemlock => (libc::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        PosixRlimitType::RlimitAs => (libc::RLIMIT_AS, "RLIMIT_AS"),
        PosixRlimitType::RlimitLocks => (libc::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        PosixRlimitType::RlimitSigpending => (libc::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        PosixRlimitType::RlimitMsgqueue => (libc::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        PosixRlimitType::RlimitNice => (libc::RLIMIT_NICE, "RLIMIT_NICE"),
        PosixRlimitType::RlimitRtprio => (libc::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        PosixRlimitType::RlimitRttime => (libc::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
    };
    (res as libc::c_int, name)
}

/// The home directory of `uid` in the container's `/etc/passwd`, default `/` (as runc).
fn home_of(rootfs: &Path, uid: u32) -> String {
    // Read through the rootfs: a symlinked /etc/passwd pointing outside is simply not followed.
    let path = rootfs.join("etc/passwd");
    let is_plain = std::fs::symlink_metadata(&path)
        .map(|m| m.is_file())
        .unwrap_or(false)
        && std::fs::symlink_metadata(rootfs.join("etc"))
            .map(|m| m.is_dir())
            .unwrap_or(false);
    if !is_plain {
        return "/".into();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 6 && f[2].parse() == Ok(uid) && !f[5].is_empty() {
            return f[5].to_string();
        }
    }
    "/".into()
}

/// `env`, with `LISTEN_FDS`/`LISTEN_PID=1` for `listen_fds` socket-activation fds (replacing
/// the config's), and `HOME` from the container's `/etc/passwd` when missing.
fn plan_env(p: &Process, rootfs: &Path, listen_fds: u32) -> Vec<String> {
    let mut env_list = p.env().clone().unwrap_or_default();
    if listen_fds > 0 {
        env_list.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env_list.push(format!("LISTEN_FDS={listen_fds}"));
        env_list.push("LISTEN_PID=1".to_string());
    }
    if !env_list.iter().any(|e| e.starts_with("HOME=")) {
        env_list.push(format!("HOME={}", home_of(rootfs, p.user().uid())));
    }
    env_list
}

/// `list` as C strings, each error naming `<field>[i]`.
fn c_strings(list: &[String], field: &str) -> Result<Vec<CString>, SpecError> {
    list.iter()
        .enumerate()
        .map(|(i, s)| cstr(s.clone(), &format!("{field}[{i}]")))
        .collect()
}

/// The paths to try for `arg0`: itself when it has a slash (relative to `cwd`, as execve would
/// resolve it), else each directory of the last `PATH` in `env` (a default one without).
fn exe_candidates(arg0: &str, cwd: &Path, env: &[String]) -> Vec<String> {
    if arg0.contains('/') {
        if arg0.starts_with('/') {
            vec![arg0.to_string()]
        } else {
            vec![format!(
                "{}/{}",
                cwd.to_string_lossy().trim_end_matches('/'),
                arg0
            )]
        }
    } else {
        let path = env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':')
            .map(|d| if d.is_empty() { "." } else { d })
            .map(|d| format!("{}/{arg0}", d.trim_end_matches('/')))
            .collect()
    }
}

/// `capabilities` as masks of the caps the kernel knows (up to `last`); ambient only what is
/// also permitted and inheritable. None given: all dropped.
fn plan_caps(caps: Option<&LinuxCapabilities>, last: u32) -> CapSets {
    let Some(c) = caps else {
        return CapSets::default();
    };
    let mut s = CapSets {
        bounding: cap_mask(c.bounding().as_ref(), "process.capabilities.bounding", last),
        effective: cap_mask(
            c.effective().as_ref(),
            "process.capabilities.effective",
            last,
        ),
        permitted: cap_mask(
            c.permitted().as_ref(),
            "process.capabilities.permitted",
            last,
        ),
        inheritable: cap_mask(
            c.inheritable().as_ref(),
            "process.capabilities.inheritable",
            last,
        ),
        ambient: cap_mask(c.ambient().as_ref(), "process.capabilities.ambient", last),
    };
    let allowed = s.permitted & s.inheritable;
    if s.ambient & !allowed != 0 {
        log::debug!("process.capabilities.ambient: capabilities not in permitted and inheritable are not raised");
    }
    s.ambient &= allowed;
    s
}

/// `rlimits` as (resource, soft, hard, name).
fn plan_rlimits(p: &Process) -> Vec<(libc::c_int, u64, u64, &'static str)> {
    p.rlimits()
        .iter()
        .flatten()
        .map(|r| {
            let (res, name) = rlimit_resource(r.typ());
            (res, r.soft(), r.hard(), name)
        })
        .collect()
}

/// NULL-terminated pointers into `v`, for execve.
fn ptrs(v: &[CString]) -> Vec<*const libc::c_char> {
    v.iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Plan the container process.
/// `listen_fds`: socket-activation fds passed on (adds `LISTEN_FDS`/`LISTEN_PID=1` to the env, as runc).
/// `new_keyring`: the process creates a session keyring (which then gets the SELinux label too).
pub fn plan_process(
    p: &Process,
    rootfs: &Path,
    listen_fds: u32,
    new_keyring: bool,
) -> Result<ProcessPlan, SpecError> {
    let args = p.args().clone().unwrap_or_default();
    let argv = c_strings(&args, "process.args")?;
    let user = p.user();
    let env_list = plan_env(p, rootfs, listen_fds);
    let env = c_strings(&env_list, "process.env")?;
    let arg0 = args.first().cloned().unwrap_or_default();
    let exe_candidates = exe_candidates(&arg0, p.cwd(), &env_list)
        .into_iter()
        .map(|c| cstr(c, "process.args[0]"))
        .collect::<Result<Vec<_>, _>>()?;
    let last = last_cap();
    Ok(ProcessPlan {
        argv_ptrs: ptrs(&argv),
        env_ptrs: ptrs(&env),
        arg0: cstr(arg0, "process.args[0]")?,
        argv,
        env,
        exe_candidates,
        cwd: cstr(p.cwd().to_string_lossy().into_owned(), "process.cwd")?,
        uid: user.uid(),
        gid: user.gid(),
        groups: Some(user.additional_gids().clone().unwrap_or_default()),
        umask: user.umask(),
        caps: plan_caps(p.capabilities().as_ref(), last),
        last_cap: last,
        rlimits: plan_rlimits(p),
        no_new_privileges: p.no_new_privileges().unwrap_or(false),
        console_size: p.console_size().map(|b| {
            (
                b.height().min(u16::MAX as u64) as u16,
                b.width().min(u16::MAX as u64) as u16,
            )
        }),
        oom_score_adj: match p.oom_score_adj() {
            Some(v) => Some(cstr(v.to_string(), "process.oomScoreAdj")?),
            None => None,
        },
        lsm: crate::plan::lsm::LsmPlan::build(p, new_keyring)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_numbers() {
        assert_eq!(caps_index(Capability::Chown), 0);
        assert_eq!(caps_index(Capability::Kill), 5);
        assert_eq!(caps_index(Capability::NetBindService), 10);
        assert_eq!(caps_index(Capability::AuditWrite), 29);
    }
}
