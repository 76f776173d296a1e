//! Architectures and syscall numbers.
//!
//! A filter dispatches on `seccomp_data.arch` (an `AUDIT_ARCH_*` value). On an x86_64 host a process
//! can make x86_64, x32 (same `AUDIT_ARCH_X86_64`, syscall number with `__X32_SYSCALL_BIT` set) and
//! i386 (`AUDIT_ARCH_I386`) syscalls, so those are the sections a filter needs there; on aarch64,
//! aarch64 and arm. The other architectures runtime-spec names are accepted and left out of the
//! program: their sections would be dead code on this kernel (libseccomp compiles them, the kernel
//! never takes them).
//!
//! Names resolve through one table generated at build time from the `syscalls` crate (see
//! `build.rs`). Unknown names are skipped, as libseccomp does. On x86, the socket and SysV IPC
//! calls also exist multiplexed through `socketcall(2)` / `ipc(2)`: like libseccomp, a rule for
//! `socket` also matches `socketcall(SYS_SOCKET, …)`.
use oci_spec::runtime::Arch as OciArch;

include!(concat!(env!("OUT_DIR"), "/syscall_table.rs"));

/// `__X32_SYSCALL_BIT`.
#[cfg(not(target_arch = "aarch64"))]
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `AUDIT_ARCH_X86_64`.
#[cfg(not(target_arch = "aarch64"))]
pub(crate) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386`.
#[cfg(not(target_arch = "aarch64"))]
pub(crate) const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_AARCH64`.
#[cfg(target_arch = "aarch64")]
pub(crate) const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// `AUDIT_ARCH_ARM`.
#[cfg(target_arch = "aarch64")]
pub(crate) const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// An architecture section the compiler can emit on this host: the x86 ones everywhere but on
/// aarch64 (x86_64 is also what [`native`] falls back to on hosts without sections of their own),
/// the arm ones on aarch64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Abi {
    /// x86_64.
    #[cfg(not(target_arch = "aarch64"))]
    X86_64,
    /// i386 (and x86_64 processes using `int 0x80`).
    #[cfg(not(target_arch = "aarch64"))]
    X86,
    /// x32: x86_64 registers, 32-bit pointers, syscall numbers with the x32 bit.
    #[cfg(not(target_arch = "aarch64"))]
    X32,
    /// aarch64.
    #[cfg(target_arch = "aarch64")]
    Aarch64,
    /// 32-bit arm (and aarch64 processes in compat mode).
    #[cfg(target_arch = "aarch64")]
    Arm,
}

impl Abi {
    /// Column in [`SYSCALLS`].
    fn column(self) -> usize {
        match self {
            #[cfg(not(target_arch = "aarch64"))]
            Abi::X86_64 => 0,
            #[cfg(not(target_arch = "aarch64"))]
            Abi::X86 => 1,
            #[cfg(not(target_arch = "aarch64"))]
            Abi::X32 => 2,
            #[cfg(target_arch = "aarch64")]
            Abi::Aarch64 => 3,
            #[cfg(target_arch = "aarch64")]
            Abi::Arm => 4,
        }
    }

    /// The `AUDIT_ARCH_*` value in `seccomp_data.arch`.
    pub(crate) fn audit_arch(self) -> u32 {
        match self {
            #[cfg(not(target_arch = "aarch64"))]
            Abi::X86_64 | Abi::X32 => AUDIT_ARCH_X86_64,
            #[cfg(not(target_arch = "aarch64"))]
            Abi::X86 => AUDIT_ARCH_I386,
            #[cfg(target_arch = "aarch64")]
            Abi::Aarch64 => AUDIT_ARCH_AARCH64,
            #[cfg(target_arch = "aarch64")]
            Abi::Arm => AUDIT_ARCH_ARM,
        }
    }

    /// Arguments are compared on 64 bits (else on the low halves only). libseccomp counts x32 as
    /// a 32-bit ABI (its pointers are), so do we: runc's filters compare x32 arguments that way.
    pub(crate) fn is_64bit(self) -> bool {
        match self {
            #[cfg(not(target_arch = "aarch64"))]
            Abi::X86_64 => true,
            #[cfg(not(target_arch = "aarch64"))]
            Abi::X86 | Abi::X32 => false,
            #[cfg(target_arch = "aarch64")]
            Abi::Aarch64 => true,
            #[cfg(target_arch = "aarch64")]
            Abi::Arm => false,
        }
    }

    /// The bit set in every `seccomp_data.nr` of this ABI: x32's `__X32_SYSCALL_BIT`, else 0.
    pub(crate) fn nr_bit(self) -> u32 {
        match self {
            #[cfg(not(target_arch = "aarch64"))]
            Abi::X32 => X32_SYSCALL_BIT,
            #[cfg(not(target_arch = "aarch64"))]
            Abi::X86_64 | Abi::X86 => 0,
            #[cfg(target_arch = "aarch64")]
            Abi::Aarch64 | Abi::Arm => 0,
        }
    }

    /// The ABI also has the socket and SysV IPC calls multiplexed through `socketcall(2)` and
    /// `ipc(2)` (i386 only: libseccomp knows no multiplexer on the others).
    fn multiplexes(self) -> bool {
        match self {
            #[cfg(not(target_arch = "aarch64"))]
            Abi::X86 => true,
            #[cfg(not(target_arch = "aarch64"))]
            Abi::X86_64 | Abi::X32 => false,
            #[cfg(target_arch = "aarch64")]
            Abi::Aarch64 | Abi::Arm => false,
        }
    }

    /// The `seccomp_data.nr` of `name` on this ABI (x32 numbers include the x32 bit).
    #[cfg(test)]
    pub(crate) fn resolve(self, name: &str) -> Option<u32> {
        self.number(lookup(name)?)
    }

    /// The `seccomp_data.nr` on this ABI of a syscall found by [`lookup`].
    pub(crate) fn number(self, row: &[i32; 5]) -> Option<u32> {
        let nr = row[self.column()];
        if nr < 0 {
            return None;
        }
        Some(nr as u32 | self.nr_bit())
    }

    /// On x86, the multiplexer form of `name`: (`socketcall` or `ipc` number, sub-call number for
    /// arg0). libseccomp matches both this and the direct syscall where one exists (`socket` is
    /// 359 on i386; `accept`, `send`, `recv`, `semop` and `semtimedop` exist only multiplexed).
    pub(crate) fn multiplexed(self, name: &str) -> Option<(u32, u32)> {
        if !self.multiplexes() {
            return None;
        }
        const SOCKETCALL: u32 = 102;
        const IPC: u32 = 117;
        // A `match` on strings dispatches on the length first: cheaper than a scan.
        Some(match name {
            "socket" => (SOCKETCALL, 1),
            "bind" => (SOCKETCALL, 2),
            "connect" => (SOCKETCALL, 3),
            "listen" => (SOCKETCALL, 4),
            "accept" => (SOCKETCALL, 5),
            "getsockname" => (SOCKETCALL, 6),
            "getpeername" => (SOCKETCALL, 7),
            "socketpair" => (SOCKETCALL, 8),
            "send" => (SOCKETCALL, 9),
            "recv" => (SOCKETCALL, 10),
            "sendto" => (SOCKETCALL, 11),
            "recvfrom" => (SOCKETCALL, 12),
            "shutdown" => (SOCKETCALL, 13),
            "setsockopt" => (SOCKETCALL, 14),
            "getsockopt" => (SOCKETCALL, 15),
            "sendmsg" => (SOCKETCALL, 16),
            "recvmsg" => (SOCKETCALL, 17),
            "accept4" => (SOCKETCALL, 18),
            "recvmmsg" => (SOCKETCALL, 19),
            "sendmmsg" => (SOCKETCALL, 20),
            "semop" => (IPC, 1),
            "semget" => (IPC, 2),
            "semctl" => (IPC, 3),
            "semtimedop" => (IPC, 4),
            "msgsnd" => (IPC, 11),
            "msgrcv" => (IPC, 12),
            "msgget" => (IPC, 13),
            "msgctl" => (IPC, 14),
            "shmat" => (IPC, 21),
            "shmdt" => (IPC, 22),
            "shmget" => (IPC, 23),
            "shmctl" => (IPC, 24),
            _ => return None,
        })
    }
}

/// The numbers of `name` on every ABI (one binary search over the generated table).
pub(crate) fn lookup(name: &str) -> Option<&'static [i32; 5]> {
    SYSCALLS
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| &SYSCALLS[i].1)
}

/// The ABIs a filter on this host covers when the profile lists `arch` (empty for foreign ones).
/// `SCMP_ARCH_NATIVE` is the host's own.
pub(crate) fn host_abis(arch: OciArch) -> &'static [Abi] {
    #[cfg(target_arch = "x86_64")]
    {
        match arch {
            OciArch::ScmpArchNative | OciArch::ScmpArchX86_64 => &[Abi::X86_64],
            OciArch::ScmpArchX86 => &[Abi::X86],
            OciArch::ScmpArchX32 => &[Abi::X32],
            _ => &[],
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        match arch {
            OciArch::ScmpArchNative | OciArch::ScmpArchAarch64 => &[Abi::Aarch64],
            OciArch::ScmpArchArm => &[Abi::Arm],
            _ => &[],
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = arch;
        &[]
    }
}

/// The host's own ABI: always part of a filter, as libseccomp's `seccomp_init` adds it.
pub(crate) fn native() -> Abi {
    #[cfg(target_arch = "aarch64")]
    {
        Abi::Aarch64
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        Abi::X86_64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_with_every_column() {
        assert!(SYSCALLS.windows(2).all(|w| w[0].0 < w[1].0));
        // The generated table holds every ABI's numbers on every host.
        assert_eq!(lookup("mkdir"), Some(&[83, 39, 83, -1, 39]));
        assert_eq!(lookup("mkdirat").map(|r| r[3]), Some(34));
        assert_eq!(lookup("no_such_call"), None);
    }

    #[test]
    #[cfg(not(target_arch = "aarch64"))]
    fn x86_numbers_resolve_per_abi() {
        assert_eq!(Abi::X86_64.resolve("mkdir"), Some(83));
        assert_eq!(Abi::X86.resolve("mkdir"), Some(39));
        assert_eq!(Abi::X32.resolve("mkdir"), Some(83 | X32_SYSCALL_BIT));
        assert_eq!(Abi::X32.resolve("readv"), Some(515 | X32_SYSCALL_BIT));
        assert_eq!(Abi::X32.resolve("uselib"), None);
        assert_eq!(Abi::X86_64.resolve("socketcall"), None);
        assert_eq!(Abi::X86.resolve("socketcall"), Some(102));
        assert_eq!(Abi::X86.resolve("_llseek"), Some(140));
        assert_eq!(Abi::X86_64.resolve("no_such_call"), None);
        assert_eq!(Abi::X86.multiplexed("socket"), Some((102, 1)));
        assert_eq!(Abi::X86.multiplexed("shmctl"), Some((117, 24)));
        assert_eq!(Abi::X86_64.multiplexed("socket"), None);
    }

    #[test]
    #[cfg(target_arch = "aarch64")]
    fn arm_numbers_resolve_per_abi() {
        assert_eq!(Abi::Aarch64.resolve("mkdirat"), Some(34));
        assert_eq!(Abi::Aarch64.resolve("mkdir"), None);
        assert_eq!(Abi::Arm.resolve("mkdir"), Some(39));
        assert_eq!(Abi::Arm.multiplexed("socket"), None);
    }
}
