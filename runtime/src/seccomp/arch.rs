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
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `AUDIT_ARCH_X86_64`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386`.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_AARCH64`.
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// `AUDIT_ARCH_ARM`.
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// An architecture section the compiler can emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Abi {
    /// x86_64.
    X86_64,
    /// i386 (and x86_64 processes using `int 0x80`).
    X86,
    /// x32: x86_64 registers, 32-bit pointers, syscall numbers with the x32 bit.
    X32,
    /// aarch64.
    Aarch64,
    /// 32-bit arm (and aarch64 processes in compat mode).
    Arm,
}

impl Abi {
    /// Column in [`SYSCALLS`].
    fn column(self) -> usize {
        match self {
            Abi::X86_64 => 0,
            Abi::X86 => 1,
            Abi::X32 => 2,
            Abi::Aarch64 => 3,
            Abi::Arm => 4,
        }
    }

    /// The `AUDIT_ARCH_*` value in `seccomp_data.arch`.
    pub fn audit_arch(self) -> u32 {
        match self {
            Abi::X86_64 | Abi::X32 => AUDIT_ARCH_X86_64,
            Abi::X86 => AUDIT_ARCH_I386,
            Abi::Aarch64 => AUDIT_ARCH_AARCH64,
            Abi::Arm => AUDIT_ARCH_ARM,
        }
    }

    /// Arguments are 64 bits wide (else only the low halves exist, as libseccomp treats them).
    pub fn is_64bit(self) -> bool {
        matches!(self, Abi::X86_64 | Abi::X32 | Abi::Aarch64)
    }

    /// The `seccomp_data.nr` of `name` on this ABI (x32 numbers include the x32 bit).
    pub fn resolve(self, name: &str) -> Option<u32> {
        let i = SYSCALLS.binary_search_by(|(n, _)| (*n).cmp(name)).ok()?;
        let nr = SYSCALLS[i].1[self.column()];
        if nr < 0 {
            return None;
        }
        Some(if self == Abi::X32 {
            nr as u32 | X32_SYSCALL_BIT
        } else {
            nr as u32
        })
    }

    /// On x86, the multiplexer form of `name`: (`socketcall` or `ipc` number, sub-call number for
    /// arg0), and whether the direct syscall is also matched (libseccomp pairs the two only for the
    /// direct socket calls 359..=373 and IPC calls 393..=402; `recvmmsg`/`sendmmsg` keep their own
    /// numbers only, `accept`/`send`/`recv`/`semop`/`semtimedop` exist only multiplexed).
    pub fn multiplexed(self, name: &str) -> Option<(u32, u32)> {
        if self != Abi::X86 {
            return None;
        }
        const SOCKETCALL: u32 = 102;
        const IPC: u32 = 117;
        const SOCKET: [(&str, u32); 18] = [
            ("socket", 1),
            ("bind", 2),
            ("connect", 3),
            ("listen", 4),
            ("accept", 5),
            ("getsockname", 6),
            ("getpeername", 7),
            ("socketpair", 8),
            ("send", 9),
            ("recv", 10),
            ("sendto", 11),
            ("recvfrom", 12),
            ("shutdown", 13),
            ("setsockopt", 14),
            ("getsockopt", 15),
            ("sendmsg", 16),
            ("recvmsg", 17),
            ("accept4", 18),
        ];
        const SYSV: [(&str, u32); 12] = [
            ("semop", 1),
            ("semget", 2),
            ("semctl", 3),
            ("semtimedop", 4),
            ("msgsnd", 11),
            ("msgrcv", 12),
            ("msgget", 13),
            ("msgctl", 14),
            ("shmat", 21),
            ("shmdt", 22),
            ("shmget", 23),
            ("shmctl", 24),
        ];
        if let Some((_, sub)) = SOCKET.iter().find(|(n, _)| *n == name) {
            return Some((SOCKETCALL, *sub));
        }
        SYSV.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, sub)| (IPC, *sub))
    }
}

/// The ABIs a filter on this host covers when the profile lists `arch` (empty for foreign ones).
/// `SCMP_ARCH_NATIVE` is the host's own.
pub fn host_abis(arch: OciArch) -> &'static [Abi] {
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
pub fn native() -> Abi {
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
    fn table_is_sorted_and_resolves_per_abi() {
        assert!(SYSCALLS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(Abi::X86_64.resolve("mkdir"), Some(83));
        assert_eq!(Abi::X86.resolve("mkdir"), Some(39));
        assert_eq!(Abi::X32.resolve("mkdir"), Some(83 | X32_SYSCALL_BIT));
        assert_eq!(Abi::X32.resolve("readv"), Some(515 | X32_SYSCALL_BIT));
        assert_eq!(Abi::X32.resolve("uselib"), None);
        assert_eq!(Abi::X86_64.resolve("socketcall"), None);
        assert_eq!(Abi::X86.resolve("socketcall"), Some(102));
        assert_eq!(Abi::X86.resolve("_llseek"), Some(140));
        assert_eq!(Abi::Aarch64.resolve("mkdirat"), Some(34));
        assert_eq!(Abi::Aarch64.resolve("mkdir"), None);
        assert_eq!(Abi::X86_64.resolve("no_such_call"), None);
        assert_eq!(Abi::X86.multiplexed("socket"), Some((102, 1)));
        assert_eq!(Abi::X86.multiplexed("shmctl"), Some((117, 24)));
        assert_eq!(Abi::X86_64.multiplexed("socket"), None);
    }
}
