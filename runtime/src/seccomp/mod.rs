//! ③ Seccomp: `linux.seccomp` compiled to a classic BPF program in the parent, loaded by the init
//! (and by an exec'd process) with the `seccomp(2)` syscall. Pure Rust: no libseccomp.
//!
//! - [`compile()`] turns the profile into one program covering every ABI a process on this host can
//!   use (x86_64, x32 and i386 on x86_64), dispatching on `seccomp_data.arch` and the x32 bit, with
//!   a binary search over syscall numbers. Semantics are runc 1.1 + libseccomp 2.5's, detailed in
//!   `compile`'s module; the syscall tables come from the `syscalls` crate (see `build.rs`).
//! - [`Program::check_kernel`] asks the kernel, at plan time, whether it has the requested filter
//!   flags.
//! - This module only plans: `crate::init::seccomp` loads the program (in the init or an exec'd
//!   process, with no allocation) and `crate::agent` hands a notifying filter's listener to the
//!   agent at `listenerPath`.
//!
use std::path::PathBuf;

use crate::spec::SpecError;

mod arch;
mod bpf;
mod compile;
mod emit;
mod table;
#[cfg(all(test, not(target_arch = "aarch64")))]
mod tests;
#[cfg(all(test, not(target_arch = "aarch64")))]
mod versus_libseccomp;

pub use bpf::Insn;
pub use compile::compile;
pub use oci_spec::runtime::LinuxSeccomp;

/// `SECCOMP_RET_*` values.
pub mod ret {
    /// Kill the thread.
    pub const KILL_THREAD: u32 = 0x0000_0000;
    /// Kill the process.
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    /// Send SIGSYS.
    pub const TRAP: u32 = 0x0003_0000;
    /// Fail with the errno in the low 16 bits.
    pub const ERRNO: u32 = 0x0005_0000;
    /// Hand to the supervisor listening on the filter's notification fd.
    pub const USER_NOTIF: u32 = 0x7fc0_0000;
    /// Notify a ptrace tracer (with the low 16 bits as message).
    pub const TRACE: u32 = 0x7ff0_0000;
    /// Allow and log.
    pub const LOG: u32 = 0x7ffc_0000;
    /// Allow.
    pub const ALLOW: u32 = 0x7fff_0000;
    /// The action bits (`SECCOMP_RET_ACTION_FULL`).
    pub const ACTION: u32 = 0xffff_0000;
}

/// `SECCOMP_FILTER_FLAG_TSYNC`.
pub const FLAG_TSYNC: u32 = 1 << 0;
/// `SECCOMP_FILTER_FLAG_LOG`.
pub const FLAG_LOG: u32 = 1 << 1;
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`.
pub const FLAG_SPEC_ALLOW: u32 = 1 << 2;
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
pub const FLAG_NEW_LISTENER: u32 = 1 << 3;
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 5.19).
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// Syscalls that cannot be `SCMP_ACT_NOTIFY`: the init makes them after loading the filter and
/// before the agent has the listener (it would wait forever), as runc refuses `write`.
pub const NOTIFY_FORBIDDEN: &[&str] = &["sendmsg", "write"];

/// The container the agent is told about (runtime-spec `state` without pid and status).
#[derive(Debug, Clone, Default)]
pub struct ContainerRef {
    /// `ociVersion` of the bundle.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Annotations.
    pub annotations: std::collections::HashMap<String, String>,
}

/// A compiled profile, ready to load.
#[derive(Debug, Clone)]
pub struct Program {
    insns: Vec<Insn>,
    flags: u32,
    listener_path: Option<PathBuf>,
    listener_metadata: String,
    /// The container the agent is told about (set at plan time when the program notifies).
    container: Option<ContainerRef>,
}

impl Program {
    /// The BPF instructions.
    pub fn instructions(&self) -> &[Insn] {
        &self.insns
    }

    /// Number of instructions.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Never true (a program has at least a `ret`).
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// `SECCOMP_FILTER_FLAG_*` passed to `seccomp(2)`.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// A rule uses `SCMP_ACT_NOTIFY`: loading returns a listener fd for the agent.
    pub fn notifies(&self) -> bool {
        self.flags & FLAG_NEW_LISTENER != 0
    }

    /// `listenerPath` (set when [`Program::notifies`]).
    pub fn listener_path(&self) -> Option<&std::path::Path> {
        self.listener_path.as_deref()
    }

    /// `listenerMetadata`.
    pub fn listener_metadata(&self) -> &str {
        &self.listener_metadata
    }

    /// The container an agent is told about (set at plan time when the program notifies).
    pub(crate) fn container(&self) -> Option<&ContainerRef> {
        self.container.as_ref()
    }

    /// Check the requested filter flags against the running kernel (in the parent, at plan time):
    /// an unsupported flag is an error naming it, except `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`,
    /// which is dropped where the kernel lacks it.
    pub fn check_kernel(&mut self) -> Result<(), SpecError> {
        let names = [
            (FLAG_TSYNC, "SECCOMP_FILTER_FLAG_TSYNC"),
            (FLAG_LOG, "SECCOMP_FILTER_FLAG_LOG"),
            (FLAG_SPEC_ALLOW, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"),
            (
                FLAG_NEW_LISTENER,
                "SCMP_ACT_NOTIFY (SECCOMP_FILTER_FLAG_NEW_LISTENER)",
            ),
        ];
        for (bit, name) in names {
            if self.flags & bit != 0 && !flags_supported(bit) {
                let field = if bit == FLAG_NEW_LISTENER {
                    "linux.seccomp.syscalls"
                } else {
                    "linux.seccomp.flags"
                };
                return Err(SpecError::field(
                    field,
                    format!("{name} is not supported by this kernel"),
                ));
            }
        }
        if self.flags & FLAG_WAIT_KILLABLE_RECV != 0
            && !flags_supported(FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV)
        {
            self.flags &= !FLAG_WAIT_KILLABLE_RECV;
        }
        Ok(())
    }
}

/// Does the kernel accept these filter flags? (`sys::seccomp_flags_supported`.)
fn flags_supported(flags: u32) -> bool {
    crate::sys::seccomp_flags_supported(flags)
}

/// Compile `linux.seccomp` for this kernel (plan time). `container`: what an agent is told
/// about the container, asked for only when a rule notifies.
pub(crate) fn plan(
    s: Option<&LinuxSeccomp>,
    container: impl FnOnce() -> ContainerRef,
) -> Result<Option<Program>, SpecError> {
    s.map(|s| {
        let mut p = compile(s)?;
        p.check_kernel()?;
        if p.notifies() {
            p.container = Some(container());
        }
        Ok(p)
    })
    .transpose()
}

/// For `features` (runc's `linux.seccomp` shape): the actions sangja compiles.
pub const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

/// For `features`: the argument operators.
pub const OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// For `features`: the architectures a profile may list (those foreign to this host are
/// accepted and need no code, see the `arch` module).
pub const ARCHES: &[&str] = &[
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

/// For `features`: the filter flags a profile may list.
pub const KNOWN_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// For `features`: the filter flags this kernel accepts (asks it; a few syscalls).
pub fn supported_flags() -> Vec<&'static str> {
    [
        (FLAG_TSYNC, KNOWN_FLAGS[0]),
        (FLAG_SPEC_ALLOW, KNOWN_FLAGS[1]),
        (FLAG_LOG, KNOWN_FLAGS[2]),
        (FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV, KNOWN_FLAGS[3]),
    ]
    .iter()
    .filter(|(f, _)| flags_supported(*f))
    .map(|(_, n)| *n)
    .collect()
}
