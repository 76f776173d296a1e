//! ④ The parent↔child channel: a `SOCK_SEQPACKET` socketpair, so every message is one datagram.
//! The child is the container's init (`create`) or an exec child (`exec`).
//!
//! ```text
//!  parent (sangja create)                     init (the clone)
//!  ──────────────────────                     ────────────────
//!  plan, state dir, `creating` record,
//!  cgroup, socketpairs
//!  clone (into the v2 cgroup) ──────────────► join v1 cgroups, open the fifos
//!  (a new user namespace: write the init's
//!  oom_score_adj, uid_map, gid_map)
//!        ───────────── MapsWritten ─────────► (only then) become root in it
//!                                              namespaces, mounts
//!  record pid + start time, state.json;
//!  write cgroup.procs only if the kernel
//!  refused CLONE_INTO_CGROUP
//!  (in parallel with the init's set-up)
//!        ───────────── Joined ──────────────► (read only when a cgroup namespace must be
//!                                              unshared: it has to be rooted at our cgroup)
//!        ◄──────────── NeedHooks ──────────── (with hooks: mounts made, before pivot_root)
//!  prestart, createRuntime hooks
//!        ───────────── HookState ───────────► createContainer hooks, pivot_root, identity,
//!                                              resolve args[0]
//!        ◄──────────── Listener ───────────── (a notifying filter: loaded now, the listener
//!  forwarded to listenerPath (crate::agent)    passed as SCM_RIGHTS)
//!        ═════════════ Saved ═══════════════► (its own channel) clear the parent-death signal
//!        ◄──────────── Ready ──────────────── (or Error{step, errno, at, detail}, then _exit)
//!  remove `creating`, pid file, exit          block reading exec.fifo … `start` … execve
//! ```
//!
//! An exec child uses the same channel without `Saved` or hooks: the parent sends `Joined` once
//! the child is in the container's cgroup (always: it runs no user code before), and reads either
//! `Listener`, an `Error`, or end-of-file when the child exec'd (the channel is close-on-exec).
//! Into a paused container the child sends `Ready` first and the parent joins it to the frozen
//! cgroup before `Joined`.
//!
//! Until `Saved`, the init dies with the parent (`PR_SET_PDEATHSIG`, and a check right after
//! setting it that the parent's end is still open): a `create` killed before the state is on
//! disk leaves no process behind (see crate::creating for the rest). The parent writes the state
//! while the init sets up, so the init normally finds `Saved` waiting and `create` pays no round
//! trip for it. `Saved` has a channel of its own because the init may exit without reading it:
//! a message left unread on the main channel would reset it under the parent's read of the
//! init's error.
//!
//! The v1 cgroup joins are the init's own (its first step) and v2 is joined by the clone
//! itself (see crate::join: neither waits for the kernel's global cgroup lock); a root container without hooks, cgroup namespace or notifying filter exchanges only
//! `Saved` and `Ready`.
//!
//! Encoding (no allocation in the child): byte 0 is the tag.
//! - parent → child: `M` maps written; `J` joined; `S` saved (on the `Saved` channel); `D` hook state (LE u32
//!   length of the first document, then both documents: the state for createContainer, then for
//!   startContainer).
//! - child → parent (a staged init, before its set-up): `U` map my new user namespace; `P` the
//!   container's pid 1 (LE i32).
//! - child → parent: `R` ready (+ three LE u64 trace instants when tracing); `H` need hooks; `L`
//!   the seccomp listener (the fd as SCM_RIGHTS); `E` error: byte 1 step, bytes 2..6 errno (LE),
//!   bytes 6..8 the plan entry's index (LE, `u16::MAX`: none), the rest the detail.
use std::os::fd::{BorrowedFd, OwnedFd};

use crate::sys::{self, Errno};

/// A failed step: what, errno, and the path or name it acted on (borrowed from the plan).
#[derive(Debug)]
pub struct Fail<'a> {
    /// The step.
    pub step: Step,
    /// errno (0 when not a syscall failure).
    pub errno: i32,
    /// Path or name.
    pub detail: &'a [u8],
    /// Index of the plan entry it came from, in the list the step works through (`plan.mounts`,
    /// `plan.devices`, …), or [`Fail::NOWHERE`]: the parent names the config field from it.
    pub at: u16,
}

impl Fail<'_> {
    /// No plan entry.
    pub const NOWHERE: u16 = u16::MAX;

    /// The same failure, from entry `i` of the step's list.
    pub fn at(self, i: usize) -> Self {
        Fail {
            at: u16::try_from(i).unwrap_or(Fail::NOWHERE),
            ..self
        }
    }
}

/// The init's set-up steps, named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Step {
    /// Waiting for the parent to put us in the cgroup.
    JoinCgroup = 1,
    /// setns into an existing namespace.
    JoinNamespace,
    /// unshare(CLONE_NEWCGROUP).
    CgroupNamespace,
    /// sethostname.
    Hostname,
    /// setdomainname.
    Domainname,
    /// Setting propagation of `/`.
    RootPropagation,
    /// Bind-mounting the rootfs onto itself.
    BindRootfs,
    /// Resolving or creating a mount destination inside the rootfs.
    MountTarget,
    /// A mount(2) for `mounts[]`.
    Mount,
    /// Changing propagation of a mount.
    MountPropagation,
    /// Setting mount attributes (ro, nosuid, …).
    MountAttr,
    /// Creating a device node.
    Device,
    /// Creating a /dev symlink.
    DevSymlink,
    /// pivot_root.
    PivotRoot,
    /// Detaching the old root.
    UmountOldRoot,
    /// MS_MOVE + chroot (`--no-pivot`).
    Chroot,
    /// Writing a sysctl.
    Sysctl,
    /// Masking a path.
    MaskPath,
    /// Making a path read-only.
    ReadonlyPath,
    /// Making the root read-only.
    ReadonlyRoot,
    /// Opening the exec fifo.
    OpenFifo,
    /// Session keyring.
    Keyring,
    /// setrlimit.
    Rlimit,
    /// oom_score_adj.
    OomScoreAdj,
    /// Dropping the bounding set.
    CapBounding,
    /// setgroups.
    Setgroups,
    /// setresgid.
    Setgid,
    /// setresuid.
    Setuid,
    /// capset.
    Capset,
    /// Raising ambient capabilities.
    CapAmbient,
    /// PR_SET_NO_NEW_PRIVS.
    NoNewPrivs,
    /// chdir to `process.cwd`.
    Cwd,
    /// `process.cwd` was entered but is outside the container's root.
    CwdOutsideRoot,
    /// The container's `/dev/null`, which masking binds, is not the null device.
    NotNullDevice,
    /// A mount destination the image's symlinks lead onto procfs.
    MountIntoProc,
    /// Looking up `args[0]`.
    Exec,
    /// Closing the fds the container process must not inherit.
    Fds,
    /// Bringing up `lo` in a new network namespace.
    Loopback,
    /// Creating the pty and sending its master to the console socket.
    Console,
    /// A createContainer hook.
    CreateContainerHook,
    /// Waiting for the runtime's prestart/createRuntime hooks.
    RuntimeHooks,
    /// Loading the seccomp filter.
    Seccomp,
    /// Writing `process.apparmorProfile` to the AppArmor exec attribute.
    AppArmor,
    /// Writing `process.selinuxLabel` to the SELinux exec attribute.
    SelinuxLabel,
    /// Writing `process.selinuxLabel` to the keyring-creation attribute.
    SelinuxKeyLabel,
    /// A new time namespace: unshare, write `linux.timeOffsets`, enter it.
    TimeNamespace,
    /// A new user namespace: wait for the parent's maps, become its root.
    UserNamespace,
    /// A staged init's new namespaces: unshare them, fork into a new pid namespace.
    UnshareNamespaces,
    /// Unknown (a malformed message).
    Unknown,
}

impl Step {
    const ALL: [Step; 48] = [
        Step::JoinCgroup,
        Step::JoinNamespace,
        Step::CgroupNamespace,
        Step::Hostname,
        Step::Domainname,
        Step::RootPropagation,
        Step::BindRootfs,
        Step::MountTarget,
        Step::Mount,
        Step::MountPropagation,
        Step::MountAttr,
        Step::Device,
        Step::DevSymlink,
        Step::PivotRoot,
        Step::UmountOldRoot,
        Step::Chroot,
        Step::Sysctl,
        Step::MaskPath,
        Step::ReadonlyPath,
        Step::ReadonlyRoot,
        Step::OpenFifo,
        Step::Keyring,
        Step::Rlimit,
        Step::OomScoreAdj,
        Step::CapBounding,
        Step::Setgroups,
        Step::Setgid,
        Step::Setuid,
        Step::Capset,
        Step::CapAmbient,
        Step::NoNewPrivs,
        Step::Cwd,
        Step::CwdOutsideRoot,
        Step::NotNullDevice,
        Step::MountIntoProc,
        Step::Exec,
        Step::Fds,
        Step::Loopback,
        Step::Console,
        Step::CreateContainerHook,
        Step::RuntimeHooks,
        Step::Seccomp,
        Step::AppArmor,
        Step::SelinuxLabel,
        Step::SelinuxKeyLabel,
        Step::TimeNamespace,
        Step::UserNamespace,
        Step::UnshareNamespaces,
    ];

    fn from_u8(b: u8) -> Step {
        Step::ALL
            .iter()
            .copied()
            .find(|s| *s as u8 == b)
            .unwrap_or(Step::Unknown)
    }

    /// What the step does, for messages (`mount`, `pivot_root`, `setresuid`…).
    pub fn describe(self) -> &'static str {
        match self {
            Step::JoinCgroup => "wait for cgroup join",
            Step::JoinNamespace => "setns",
            Step::CgroupNamespace => "unshare cgroup namespace",
            Step::Hostname => "sethostname",
            Step::Domainname => "setdomainname",
            Step::RootPropagation => "set propagation of /",
            Step::BindRootfs => "bind mount rootfs",
            Step::MountTarget => "create mount point",
            Step::Mount => "mount",
            Step::MountPropagation => "set mount propagation",
            Step::MountAttr => "mount_setattr",
            Step::Device => "mknod",
            Step::DevSymlink => "symlink",
            Step::PivotRoot => "pivot_root",
            Step::UmountOldRoot => "umount old root",
            Step::Chroot => "move rootfs and chroot",
            Step::Sysctl => "write sysctl",
            Step::MaskPath => "mask path",
            Step::ReadonlyPath => "make path read-only",
            Step::ReadonlyRoot => "make root read-only",
            Step::OpenFifo => "open exec fifo",
            Step::Keyring => "join session keyring",
            Step::Rlimit => "setrlimit",
            Step::OomScoreAdj => "write oom_score_adj",
            Step::CapBounding => "drop bounding capability",
            Step::Setgroups => "setgroups",
            Step::Setgid => "setresgid",
            Step::Setuid => "setresuid",
            Step::Capset => "capset",
            Step::CapAmbient => "raise ambient capability",
            Step::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
            Step::Cwd => "chdir to cwd",
            Step::CwdOutsideRoot => "check cwd",
            Step::NotNullDevice => "check /dev/null",
            Step::MountIntoProc => "check mount destination",
            Step::Exec => "exec",
            Step::Fds => "close fds",
            Step::Loopback => "bring up loopback",
            Step::Console => "set up console",
            Step::CreateContainerHook => "run createContainer hook",
            Step::RuntimeHooks => "wait for createRuntime hooks",
            Step::Seccomp => "load seccomp filter",
            Step::AppArmor => "apply AppArmor profile",
            Step::SelinuxLabel => "set SELinux exec label",
            Step::SelinuxKeyLabel => "set SELinux keyring label",
            Step::TimeNamespace => "set up time namespace",
            Step::UserNamespace => "become root in the user namespace",
            Step::UnshareNamespaces => "unshare namespaces",
            Step::Unknown => "set up container",
        }
    }
}

/// Max size of one message.
pub const MSG_MAX: usize = 4096;

/// What the init reports.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// Set-up done; the init now blocks on the exec fifo.
    Ready,
    /// Mounts done: run prestart/createRuntime hooks and send the hook state.
    NeedHooks,
    /// A step failed.
    Error {
        /// The step.
        step: Step,
        /// errno (0 for a logical error such as "executable not found").
        errno: i32,
        /// Index of the plan entry the step worked on (`u16::MAX`: none).
        at: u16,
        /// The path or name the step acted on.
        detail: &'a [u8],
    },
}

/// Tell the init its cgroup is joined (parent side).
pub fn send_joined(sock: BorrowedFd<'_>) -> Result<(), Errno> {
    sys::send(sock, b"J").map(drop)
}

/// Wait until the parent has put us in the cgroup (init side).
pub fn wait_joined(sock: BorrowedFd<'_>) -> Result<(), Errno> {
    wait_for(sock, b'J')
}

/// Tell the init its user namespace is mapped (parent side).
pub fn send_maps_written(sock: BorrowedFd<'_>) -> Result<(), Errno> {
    sys::send(sock, b"M").map(drop)
}

/// Wait until the parent has written our `uid_map` and `gid_map` (init side).
pub fn wait_maps_written(sock: BorrowedFd<'_>) -> Result<(), Errno> {
    wait_for(sock, b'M')
}

/// A staged init asks for its new user namespace's maps (init side; see `plan::userns::Staged`).
pub fn ask_maps(sock: BorrowedFd<'_>) -> Result<(), Errno> {
    sys::send(sock, b"U").map(drop)
}

/// A staged init's first process reports the pid of the container's pid 1 (init side).
pub fn send_pid(sock: BorrowedFd<'_>, pid: libc::pid_t) -> Result<(), Errno> {
    let p = pid.to_le_bytes();
    sys::send(sock, &[b'P', p[0], p[1], p[2], p[3]]).map(drop)
}

/// The pid in a `P` message (parent side).
pub fn staged_pid(buf: &[u8]) -> Option<libc::pid_t> {
    match buf {
        [b'P', a, b, c, d] => Some(libc::pid_t::from_le_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// Read one message, which must be the one-byte `tag` (EOF or anything else: an error).
fn wait_for(sock: BorrowedFd<'_>, tag: u8) -> Result<(), Errno> {
    let mut b = [0u8; 1];
    loop {
        match sys::read(sock, &mut b) {
            Ok(1) if b[0] == tag => return Ok(()),
            Ok(_) => return Err(Errno::EPROTO),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The child's end of the channel. It remembers whether the parent's `Joined` was read: a child
/// must never close the channel with `Joined` unread (the parent would see a reset instead of the
/// child's last message), so its failure path reads it first when it is due.
#[derive(Debug)]
pub struct ChildSide<'a> {
    sock: BorrowedFd<'a>,
    saved: Option<BorrowedFd<'a>>,
    expect_joined: bool,
    joined: std::cell::Cell<bool>,
    expect_maps: std::cell::Cell<bool>,
    mapped: std::cell::Cell<bool>,
}

impl<'a> ChildSide<'a> {
    /// `saved`: the separate channel `Saved` comes on (the init's; `exec` has none).
    /// `expect_joined`: the parent sends `Joined` to this child.
    pub fn new(sock: BorrowedFd<'a>, saved: Option<BorrowedFd<'a>>, expect_joined: bool) -> Self {
        ChildSide {
            sock,
            saved,
            expect_joined,
            joined: std::cell::Cell::new(false),
            expect_maps: std::cell::Cell::new(false),
            mapped: std::cell::Cell::new(false),
        }
    }

    /// The parent sends `MapsWritten` (before any `Joined`) unasked: the child is in a new user
    /// namespace that root maps at once.
    pub fn with_maps(self, expect_maps: bool) -> Self {
        ChildSide {
            expect_maps: std::cell::Cell::new(expect_maps),
            ..self
        }
    }

    /// Ask the parent for our maps (`U`): `MapsWritten` is due from now on (a failure before
    /// the ask must not wait for it: the parent waits for the ask).
    pub fn ask_maps(&self) -> Result<(), Errno> {
        ask_maps(self.sock)?;
        self.expect_maps.set(true);
        Ok(())
    }

    /// Has `MapsWritten` come?
    pub fn mapped(&self) -> bool {
        self.mapped.get()
    }

    /// Wait for `MapsWritten` (once).
    pub fn wait_maps_written(&self) -> Result<(), Errno> {
        if !self.mapped.get() {
            wait_maps_written(self.sock)?;
            self.mapped.set(true);
        }
        Ok(())
    }

    /// The raw socket.
    pub fn sock(&self) -> BorrowedFd<'a> {
        self.sock
    }

    /// The `Saved` channel, if any.
    pub fn saved(&self) -> Option<BorrowedFd<'a>> {
        self.saved
    }

    /// Wait for `Joined` (once).
    pub fn wait_joined(&self) -> Result<(), Errno> {
        if !self.joined.get() {
            wait_joined(self.sock)?;
            self.joined.set(true);
        }
        Ok(())
    }

    /// Report a failed step (after consuming a due `MapsWritten` and `Joined`, in the order the
    /// parent sends them).
    pub fn fail(&self, f: &Fail<'_>) {
        if self.expect_maps.get() && self.wait_maps_written().is_err() {
            // The parent sent something else or is gone: it reads no more of ours.
            return;
        }
        if self.expect_joined {
            let _ = self.wait_joined();
        }
        send_error(self.sock, f.step, f.errno, f.at, f.detail);
    }
}

/// Ask the parent to run the runtime's hooks and send the hook state (init side), then receive
/// it into `buf`: returns (state for createContainer, state for startContainer).
pub fn need_hooks<'b>(
    sock: BorrowedFd<'_>,
    buf: &'b mut [u8],
) -> Result<(&'b [u8], &'b [u8]), Errno> {
    sys::write(sock, b"H")?;
    let n = loop {
        match sys::read(sock, buf) {
            Err(Errno::EINTR) => continue,
            r => break r?,
        }
    };
    if n < 5 || buf[0] != b'D' {
        return Err(Errno::EPROTO);
    }
    let mut l = [0u8; 4];
    l.copy_from_slice(&buf[1..5]);
    let first = u32::from_le_bytes(l) as usize;
    if 5 + first > n {
        return Err(Errno::EPROTO);
    }
    let (a, b) = buf[5..n].split_at(first);
    Ok((a, b))
}

/// Parent side of [`need_hooks`]: the two state documents in one `D` message.
pub fn send_hooks_done(sock: BorrowedFd<'_>, creating: &[u8], created: &[u8]) -> Result<(), Errno> {
    let mut msg = Vec::with_capacity(5 + creating.len() + created.len());
    msg.push(b'D');
    msg.extend_from_slice(&(creating.len() as u32).to_le_bytes());
    msg.extend_from_slice(creating);
    msg.extend_from_slice(created);
    sys::write(sock, &msg).map(drop)
}

/// Largest `D` message (two state documents).
pub const HOOK_STATE_MAX: usize = 64 * 1024;

/// Tell the init that the state is on disk (parent side).
pub fn send_saved(sock: BorrowedFd<'_>) -> Result<(), Errno> {
    sys::send(sock, b"S").map(drop)
}

/// Wait for [`send_saved`] (init side). Anything else, or the parent's death, is an error.
pub fn wait_saved(sock: BorrowedFd<'_>) -> Result<(), Errno> {
    wait_for(sock, b'S')
}

/// Send `Ready` (init side), with the init's trace instants when tracing.
pub fn send_ready(sock: BorrowedFd<'_>, times: Option<&[u64; 3]>) -> Result<(), Errno> {
    match times {
        None => sys::write(sock, b"R").map(drop),
        Some(t) => {
            let mut buf = [0u8; 25];
            buf[0] = b'R';
            for (i, v) in t.iter().enumerate() {
                buf[1 + i * 8..9 + i * 8].copy_from_slice(&v.to_le_bytes());
            }
            sys::write(sock, &buf).map(drop)
        }
    }
}

/// The init's trace instants (mounts done, pivot_root done, ready) carried by a `Ready`.
pub fn ready_times(buf: &[u8]) -> Option<[u64; 3]> {
    if buf.len() != 25 || buf[0] != b'R' {
        return None;
    }
    let mut out = [0u64; 3];
    for (i, v) in out.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[1 + i * 8..9 + i * 8]);
        *v = u64::from_le_bytes(b);
    }
    Some(out)
}

/// Send an error (init side), truncating the detail to fit one message. No allocation.
pub fn send_error(sock: BorrowedFd<'_>, step: Step, errno: i32, at: u16, detail: &[u8]) {
    let mut buf = [0u8; MSG_MAX];
    buf[0] = b'E';
    buf[1] = step as u8;
    buf[2..6].copy_from_slice(&errno.to_le_bytes());
    buf[6..8].copy_from_slice(&at.to_le_bytes());
    let n = detail.len().min(MSG_MAX - 8);
    buf[8..8 + n].copy_from_slice(&detail[..n]);
    let _ = sys::write(sock, &buf[..8 + n]);
}

/// Hand a notifying seccomp filter's listener to the parent (child side): the `L` message with
/// the fd as `SCM_RIGHTS`, one `sendmsg` and no allocation (the only syscall the child makes
/// between loading the filter and the handover: see `seccomp::NOTIFY_FORBIDDEN`).
pub fn send_listener(sock: BorrowedFd<'_>, listener: BorrowedFd<'_>) -> Result<(), Errno> {
    sys::send_fd(sock, listener, b"L")
}

/// Read the child's next message into `buf` (parent side), taking the listener fd an `L` message
/// carries: (its length, the listener). Only `L` carries an fd.
pub fn recv(sock: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>), Errno> {
    sys::recv_with_fd(sock, buf)
}

/// Decode one message (parent side). `None` for an empty read (the init died without a word).
pub fn decode(buf: &[u8]) -> Option<Message<'_>> {
    match buf.first()? {
        b'R' => Some(Message::Ready),
        b'H' => Some(Message::NeedHooks),
        b'E' if buf.len() >= 8 => {
            let mut e = [0u8; 4];
            e.copy_from_slice(&buf[2..6]);
            Some(Message::Error {
                step: Step::from_u8(buf[1]),
                errno: i32::from_le_bytes(e),
                at: u16::from_le_bytes([buf[6], buf[7]]),
                detail: &buf[8..],
            })
        }
        _ => Some(Message::Error {
            step: Step::Unknown,
            errno: 0,
            at: u16::MAX,
            detail: b"malformed message from init",
        }),
    }
}

#[cfg(test)]
mod tests;
