//! ③ The plan: everything the init will do, decided and converted to C strings in the parent.
//! After [`Plan::build`] returns, the init only executes; it allocates nothing and reads nothing
//! it could have read before the clone.
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Hooks, Linux, LinuxNamespaceType, Spec};

use crate::cgroups::{Cgroup, Host};
use crate::spec::{cstr, SpecError};

pub mod hooks;
pub mod idmap;
pub mod lsm;
pub mod mounts;
pub mod process;
pub mod rootless;
pub mod userns;

pub use mounts::{DeviceOp, MountKind, MountOp};
pub use process::ProcessPlan;

/// An existing namespace to join with `setns` in the init.
#[derive(Debug)]
pub struct JoinNs {
    /// The `linux.namespaces[]` entry it comes from.
    pub origin: usize,
    /// `CLONE_NEW*` type.
    pub nstype: libc::c_int,
    /// Path of the namespace file (`/proc/<pid>/ns/net`).
    pub path: CString,
}

/// Root propagation and how to enter the new root.
#[derive(Debug)]
pub struct RootPlan {
    /// Propagation applied to `/` recursively before anything is mounted.
    pub initial_propagation: libc::c_ulong,
    /// Propagation applied to the new `/` after pivot_root (shared/unbindable configs).
    pub final_propagation: Option<libc::c_ulong>,
    /// For shared propagation: the mount point of the host mount holding the rootfs, made private
    /// so that pivot_root accepts the new root (it refuses shared parents).
    pub private_parent: Option<CString>,
    /// `root.readonly`.
    pub readonly: bool,
    /// `--no-pivot`: MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// With `--no-pivot`: the host's procfs and sysfs mount points outside the rootfs, detached
    /// before the move. The old root stays below the new one, and a procfs mount left there,
    /// unmasked, would let a process in the container mount a fresh, unmasked procfs of its own
    /// (from a new user namespace the kernel allows that only when a fully visible one exists).
    pub hide: Vec<CString>,
}

/// The whole container set-up as data.
#[derive(Debug)]
pub struct Plan {
    /// Container id (for the session keyring name).
    pub id: CString,
    /// Namespace flags for clone (new namespaces, except cgroup: see `cgroupns_at`).
    pub clone_flags: u64,
    /// Unshare a cgroup namespace (after the parent joined us to the cgroup) just before
    /// `mounts[cgroupns_at]` (or after the last mount when it equals `mounts.len()`).
    pub cgroupns_at: Option<usize>,
    /// Where the init waits for the parent's `Joined` (its cgroup join done): before
    /// `mounts[joined_at]` (after the last mount when it equals `mounts.len()`). With a new cgroup
    /// namespace, where it is unshared; under the systemd driver (the parent starts the unit with
    /// the init in it while the init sets up), before the first cgroup mount, so the container's
    /// cgroup exists when it is bound and the init is in it before hooks and the user process.
    pub joined_at: Option<usize>,
    /// A new user namespace (made by the clone, or by a staged init: see `staged`): its maps,
    /// which the parent writes (with `oom_score_adj`) while the init waits for `MapsWritten`.
    pub user: Option<userns::UserMaps>,
    /// Namespaces to join in the init (a joined user namespace first, so that the init may join
    /// what it owns; mount last, so paths resolve in the host's view).
    pub join: Vec<JoinNs>,
    /// A user namespace beside joined namespaces: the clone makes no namespace, the init builds
    /// them itself in runc's order (see [`userns::Staged`]).
    pub staged: Option<userns::Staged>,
    /// A new time namespace, unshared by the init after the joins, with `linux.timeOffsets` as
    /// `/proc/self/timens_offsets` takes them (`monotonic <s> <ns>` lines; empty: none), written
    /// before the init enters it. clone(2) cannot make one: its child would be in the namespace
    /// before the offsets could be written.
    pub time_offsets: Option<CString>,
    /// A pid namespace to join: done by the parent around the clone (setns on pid namespaces only
    /// affects children), so no second fork is needed.
    pub join_pid: Option<(PathBuf, String)>,
    /// Absolute host path of the rootfs.
    pub rootfs: CString,
    /// Root handling.
    pub root: RootPlan,
    /// Mount operations in order.
    pub mounts: Vec<MountOp>,
    /// Device nodes to create (skipped when `/dev` is bind-mounted from the host).
    pub devices: Vec<DeviceOp>,
    /// Create the default `/dev` symlinks.
    pub dev_symlinks: bool,
    /// `linux.maskedPaths`.
    pub masked: Vec<CString>,
    /// `linux.readonlyPaths`.
    pub readonly: Vec<CString>,
    /// `hostname`.
    pub hostname: Option<CString>,
    /// `domainname`.
    pub domainname: Option<CString>,
    /// (`/proc/sys/...` path, value, `linux.sysctl.<key>` for error messages).
    pub sysctl: Vec<(CString, CString, String)>,
    /// The process.
    pub process: ProcessPlan,
    /// Host path of the exec fifo.
    pub fifo: CString,
    /// Host path of the result fifo (see [`crate::state::RESULT_FILE`]).
    pub result_fifo: CString,
    /// Fds 3..3+N are passed to the process.
    pub preserve_fds: u32,
    /// Join a fresh session keyring.
    pub new_keyring: bool,
    /// Record trace instants in the init and send them with `Ready`.
    pub trace: bool,
    /// The init asks the parent for the hook state (and to run its hooks) after its mounts.
    pub need_hooks: bool,
    /// `hooks.createContainer`, run by the init before pivot_root.
    pub create_container_hooks: Vec<hooks::HookPlan>,
    /// `hooks.startContainer`, run by the init after `start`, before execve.
    pub start_container_hooks: Vec<hooks::HookPlan>,
    /// `linux.seccomp`, compiled.
    pub seccomp: Option<crate::seccomp::Program>,
}

/// Inputs of [`Plan::build`] besides the spec.
#[derive(Debug)]
pub struct PlanInput<'a> {
    /// Container id.
    pub id: &'a str,
    /// Absolute bundle dir.
    pub bundle: &'a Path,
    /// Absolute rootfs.
    pub rootfs: &'a Path,
    /// The state directory's fifo path.
    pub fifo: &'a Path,
    /// Host cgroups and the container's (not yet created) cgroup.
    pub cgroups: Option<(&'a Host, &'a Cgroup)>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`.
    pub no_new_keyring: bool,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// Socket-activation fds (`LISTEN_FDS` for this process), passed before the preserved ones.
    pub listen_fds: u32,
    /// Record per-phase trace instants.
    pub trace: bool,
    /// The caller when it is not root (rootless): how the maps are written, and groups.
    pub caller: Option<&'a rootless::Caller>,
}

/// The process, its groups left unset where the user namespace denies `setgroups`.
fn plan_process(
    spec: &Spec,
    process: &oci_spec::runtime::Process,
    input: &PlanInput<'_>,
) -> Result<process::ProcessPlan, SpecError> {
    let mut p = process::plan_process(
        process,
        input.rootfs,
        input.listen_fds,
        !input.no_new_keyring,
    )?;
    let denied = rootless::setgroups_denied(spec.linux().as_ref(), input.caller);
    p.groups = rootless::groups(p.groups.take(), denied)?;
    Ok(p)
}

fn ns_flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

fn propagation(p: Option<&str>) -> (libc::c_ulong, Option<libc::c_ulong>) {
    use libc::{MS_PRIVATE, MS_REC, MS_SHARED, MS_SLAVE, MS_UNBINDABLE};
    match p.unwrap_or("") {
        "slave" | "rslave" => (MS_SLAVE | MS_REC, None),
        "shared" => (MS_SHARED | MS_REC, Some(MS_SHARED)),
        "rshared" => (MS_SHARED | MS_REC, Some(MS_SHARED | MS_REC)),
        "unbindable" => (MS_PRIVATE | MS_REC, Some(MS_UNBINDABLE)),
        "runbindable" => (MS_PRIVATE | MS_REC, Some(MS_UNBINDABLE | MS_REC)),
        "private" => (MS_PRIVATE | MS_REC, Some(MS_PRIVATE)),
        _ => (MS_PRIVATE | MS_REC, None),
    }
}

/// Mount points of procfs and sysfs in our mount table that are not below `rootfs`, deepest
/// first (mountinfo: field 5 the mount point, the type after ` - `).
fn host_proc_and_sys_outside(rootfs: &Path) -> Vec<CString> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<String> = info
        .lines()
        .filter_map(|l| {
            let mp = l.split(' ').nth(4)?.replace("\\040", " ");
            let fstype = l.split(" - ").nth(1)?.split(' ').next()?;
            (matches!(fstype, "proc" | "sysfs") && !Path::new(&mp).starts_with(rootfs))
                .then_some(mp)
        })
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.len()));
    out.dedup();
    out.into_iter()
        .filter_map(|m| CString::new(m).ok())
        .collect()
}

/// The mount point of the mount holding `path` (longest mount point prefix in mountinfo).
fn mount_point_of(path: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|mp| mp.replace("\\040", " "))
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.len())
}

/// `linux.namespaces` sorted by what the init does with each.
struct Namespaces {
    /// New namespaces, as clone flags (not the cgroup namespace).
    clone_flags: u64,
    /// A new cgroup namespace, unshared by the init (see [`Plan::cgroupns_at`]).
    unshare_cgroupns: bool,
    /// A new time namespace, unshared by the init (see [`Plan::time_offsets`]).
    unshare_timens: bool,
    /// Namespaces joined by the init, the mount namespace last.
    join: Vec<JoinNs>,
    /// A pid namespace the parent joins, with the field it comes from.
    join_pid: Option<(PathBuf, String)>,
}

fn plan_namespaces(linux: Option<&Linux>) -> Result<Namespaces, SpecError> {
    let mut ns_plan = Namespaces {
        clone_flags: 0,
        unshare_cgroupns: false,
        unshare_timens: false,
        join: Vec::new(),
        join_pid: None,
    };
    for (i, ns) in linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let flag = ns_flag(ns.typ());
        let field = format!("linux.namespaces[{i}].path");
        match ns.path() {
            None if ns.typ() == LinuxNamespaceType::Cgroup => ns_plan.unshare_cgroupns = true,
            None if ns.typ() == LinuxNamespaceType::Time => ns_plan.unshare_timens = true,
            None => ns_plan.clone_flags |= flag as u64,
            Some(p) if ns.typ() == LinuxNamespaceType::Pid => {
                ns_plan.join_pid = Some((p.clone(), field))
            }
            Some(p) => ns_plan.join.push(JoinNs {
                origin: i,
                nstype: flag,
                path: cstr(p.to_string_lossy().into_owned(), &field)?,
            }),
        }
    }
    // A joined user namespace first (it owns the others), the mount namespace last (the other
    // paths are host paths).
    ns_plan.join.sort_by_key(|j| match j.nstype {
        libc::CLONE_NEWUSER => 0,
        libc::CLONE_NEWNS => 2,
        _ => 1,
    });
    Ok(ns_plan)
}

/// `mounts[]` as operations, with `linux.mountLabel` on the new filesystems that take one (the
/// host is probed only when a label is set).
fn plan_mount_ops(
    spec: &Spec,
    input: &PlanInput<'_>,
    unshare_cgroupns: bool,
) -> Result<Vec<MountOp>, SpecError> {
    let mut mounts = mounts::plan_mounts(spec, input.bundle, input.cgroups, unshare_cgroupns)?;
    let label = spec
        .linux()
        .as_ref()
        .and_then(|l| l.mount_label().as_deref());
    if let Some(label) = label {
        let host = if label.is_empty() {
            crate::plan::lsm::Host::default()
        } else {
            crate::plan::lsm::Host::probe()
        };
        if let Some(label) = crate::plan::lsm::check_mount_label(Some(label), &host)? {
            mounts::apply_mount_label(&mut mounts, &label)?;
        }
    }
    Ok(mounts)
}

/// Is `/dev` bind-mounted (then no device nodes or `/dev` links are made)?
fn dev_bound(mounts: &[MountOp]) -> bool {
    mounts
        .iter()
        .filter(|m| matches!(m.kind, MountKind::Bind { .. }))
        .any(|m| {
            // Cleaned as runc compares it: `/dev/`, `//dev` and `/dev/.` are the same bind.
            let dest = std::path::Path::new(std::ffi::OsStr::from_bytes(m.dest.as_bytes()));
            crate::spec::lexical_clean(dest) == std::path::Path::new("/dev")
        })
}

/// Where the init unshares a new cgroup namespace: before the first cgroup mount, else after
/// the last mount.
/// Is the init put in its cgroup by the parent after the clone (the systemd driver's unit)?
fn late_join(input: &PlanInput<'_>) -> bool {
    input.cgroups.is_some_and(|(_, cg)| cg.unit.is_some())
}

/// The first cgroup mount (else the end): a cgroup filesystem, or the bind of the container's
/// cgroup that stands for a `cgroup` mount without a cgroup namespace.
fn cgroupns_position(spec: &Spec, mounts: &[MountOp]) -> usize {
    let spec_mounts = spec.mounts().as_deref().unwrap_or_default();
    let is_cgroup = |t: Option<&str>| t.is_some_and(|t| t.starts_with("cgroup"));
    mounts
        .iter()
        .position(|m| match &m.kind {
            MountKind::Fs { fstype, .. } => fstype.to_bytes().starts_with(b"cgroup"),
            _ => is_cgroup(spec_mounts.get(m.origin).and_then(|sm| sm.typ().as_deref())),
        })
        .unwrap_or(mounts.len())
}

/// `linux.rootfsPropagation`, `root.readonly` and `--no-pivot`.
fn plan_root(spec: &Spec, input: &PlanInput<'_>) -> Result<RootPlan, SpecError> {
    let linux = spec.linux().as_ref();
    let (initial, fin) = propagation(linux.and_then(|l| l.rootfs_propagation().as_deref()));
    let private_parent = if initial & libc::MS_SHARED != 0 {
        mount_point_of(input.rootfs)
            .map(|m| cstr(m, "root.path"))
            .transpose()?
    } else {
        None
    };
    Ok(RootPlan {
        private_parent,
        initial_propagation: initial,
        final_propagation: fin,
        readonly: spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false),
        no_pivot: input.no_pivot,
        hide: if input.no_pivot {
            host_proc_and_sys_outside(input.rootfs)
        } else {
            Vec::new()
        },
    })
}

/// `linux.maskedPaths` or `linux.readonlyPaths` as absolute paths (relative ones are relative
/// to `/`; validated: none climbs out).
fn absolute_paths(list: Option<&Vec<String>>, field: &str) -> Result<Vec<CString>, SpecError> {
    list.into_iter()
        .flatten()
        .map(|p| match p.starts_with('/') {
            true => cstr(p.clone(), field),
            false => cstr(format!("/{p}"), field),
        })
        .collect()
}

/// `linux.sysctl` in key order: (`/proc/sys/...` path, value, `linux.sysctl.<key>`).
fn plan_sysctl(linux: Option<&Linux>) -> Result<Vec<(CString, CString, String)>, SpecError> {
    let mut sysctl = Vec::new();
    if let Some(map) = linux.and_then(|l| l.sysctl().as_ref()) {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for k in keys {
            let field = format!("linux.sysctl.{k}");
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            let (path, value) = (cstr(path, &field)?, cstr(map[k].clone(), &field)?);
            sysctl.push((path, value, field));
        }
    }
    Ok(sysctl)
}

/// `hostname` or `domainname`: an empty one is none.
fn name_of(s: Option<&String>, field: &str) -> Result<Option<CString>, SpecError> {
    s.filter(|s| !s.is_empty())
        .map(|s| cstr(s.clone(), field))
        .transpose()
}

/// Does the init stop after its mounts for hooks (its own, or the parent's prestart and
/// createRuntime)?
#[allow(deprecated)]
fn need_hooks(hooks: Option<&Hooks>) -> bool {
    hooks.is_some_and(|h| {
        [
            h.prestart(),
            h.create_runtime(),
            h.create_container(),
            h.start_container(),
        ]
        .iter()
        .any(|x| x.as_ref().is_some_and(|v| !v.is_empty()))
    })
}

/// `linux.seccomp`, compiled (a notifying program learns the container it is for).
fn plan_seccomp(
    spec: &Spec,
    input: &PlanInput<'_>,
) -> Result<Option<crate::seccomp::Program>, SpecError> {
    let profile = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    crate::seccomp::plan(profile, || crate::seccomp::ContainerRef {
        oci_version: spec.version().clone(),
        id: input.id.to_string(),
        bundle: input.bundle.to_path_buf(),
        annotations: spec.annotations().clone().unwrap_or_default(),
    })
}

/// A host path as a C string.
fn path_cstr(p: &Path, field: &str) -> Result<CString, SpecError> {
    cstr(p.to_string_lossy().into_owned(), field)
}

/// `linux.timeOffsets` as `/proc/self/timens_offsets` lines, in clock order (validated: only
/// `monotonic` and `boottime`).
fn time_offsets(linux: Option<&Linux>) -> Result<CString, SpecError> {
    let mut text = String::new();
    if let Some(offsets) = linux.and_then(|l| l.time_offsets().as_ref()) {
        for clock in ["monotonic", "boottime"] {
            if let Some(o) = offsets.get(clock) {
                let (secs, nanos) = (o.secs().unwrap_or(0), o.nanosecs().unwrap_or(0));
                text.push_str(&format!("{clock} {secs} {nanos}\n"));
            }
        }
    }
    cstr(text, "linux.timeOffsets")
}

impl Plan {
    /// The new namespaces the container gets, whether the clone or the init makes them (cgroup
    /// and time aside: see `cgroupns_at`, `time_offsets`).
    pub fn new_namespaces(&self) -> u64 {
        self.clone_flags | self.staged.as_ref().map_or(0, |s| s.new_flags())
    }

    /// Build the plan from a validated spec.
    pub fn build(spec: &Spec, input: &PlanInput<'_>) -> Result<Plan, SpecError> {
        let linux = spec.linux().as_ref();
        let hooks = spec.hooks().as_ref();
        let ns = plan_namespaces(linux)?;
        let mounts = plan_mount_ops(spec, input, ns.unshare_cgroupns)?;
        let dev_bound = dev_bound(&mounts);
        let devices = if dev_bound {
            Vec::new()
        } else {
            mounts::plan_devices(spec)?
        };
        let masked = absolute_paths(
            linux.and_then(|l| l.masked_paths().as_ref()),
            "linux.maskedPaths",
        )?;
        let readonly = absolute_paths(
            linux.and_then(|l| l.readonly_paths().as_ref()),
            "linux.readonlyPaths",
        )?;
        let sysctl = plan_sysctl(linux)?;
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| SpecError::field("process", "is required to create a container"))?;
        let staged = userns::staged(ns.clone_flags, &ns.join);
        Ok(Plan {
            id: cstr(input.id.to_string(), "id")?,
            clone_flags: if staged.is_some() { 0 } else { ns.clone_flags },
            cgroupns_at: ns
                .unshare_cgroupns
                .then(|| cgroupns_position(spec, &mounts)),
            joined_at: (ns.unshare_cgroupns || late_join(input))
                .then(|| cgroupns_position(spec, &mounts)),
            user: userns::plan(
                linux,
                ns.clone_flags & libc::CLONE_NEWUSER as u64 != 0,
                input.caller,
            )?,
            join: ns.join,
            staged,
            time_offsets: ns.unshare_timens.then(|| time_offsets(linux)).transpose()?,
            join_pid: ns.join_pid,
            rootfs: path_cstr(input.rootfs, "root.path")?,
            root: plan_root(spec, input)?,
            mounts,
            devices,
            dev_symlinks: !dev_bound,
            masked,
            readonly,
            hostname: name_of(spec.hostname().as_ref(), "hostname")?,
            domainname: name_of(spec.domainname().as_ref(), "domainname")?,
            sysctl,
            process: plan_process(spec, process, input)?,
            fifo: path_cstr(input.fifo, "exec.fifo")?,
            result_fifo: path_cstr(
                &input.fifo.with_file_name(crate::state::RESULT_FILE),
                "exec.result",
            )?,
            preserve_fds: input.listen_fds + input.preserve_fds,
            new_keyring: !input.no_new_keyring,
            trace: input.trace,
            need_hooks: need_hooks(hooks),
            create_container_hooks: hooks::plan(
                hooks.and_then(|h| h.create_container().as_ref()),
                "hooks.createContainer",
            )?,
            start_container_hooks: hooks::plan(
                hooks.and_then(|h| h.start_container().as_ref()),
                "hooks.startContainer",
            )?,
            seccomp: plan_seccomp(spec, input)?,
        })
    }
}

#[cfg(test)]
mod tests;
