//! eBPF for cgroup v2 device rules: loading a `BPF_PROG_TYPE_CGROUP_DEVICE` program and
//! attaching it to a cgroup. Runs in the parent (the device program is built there, in `cgroups/`).
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{check_long, Errno, SysResult};

/// One eBPF instruction (`struct bpf_insn`): opcode, destination register in the low nibble and
/// source register in the high nibble of `regs`, offset, immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    /// Opcode (class | size/op | mode/source).
    pub code: u8,
    /// `dst | src << 4`.
    pub regs: u8,
    /// Jump offset (instructions after the next) or memory offset.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

/// `bpf(2)` commands and constants used for cgroup device programs.
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE` attach type.
const BPF_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`: programs attached below (or already here) keep running too.
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The `BPF_PROG_LOAD` part of `union bpf_attr` (up to `expected_attach_type`).
#[repr(C)]
struct BpfProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH` part of `union bpf_attr`.
#[repr(C)]
struct BpfProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `bpf(BPF_PROG_LOAD)` of a `BPF_PROG_TYPE_CGROUP_DEVICE` program named `name` (at most 15
/// bytes are kept). With `log`, the verifier writes its log there (level 1).
pub fn bpf_load_cgroup_device(
    insns: &[BpfInsn],
    license: &CStr,
    name: &str,
    log: Option<&mut [u8]>,
) -> SysResult<OwnedFd> {
    let mut prog_name = [0u8; 16];
    for (d, s) in prog_name.iter_mut().take(15).zip(name.bytes()) {
        *d = s;
    }
    let (log_level, log_size, log_buf) = match log {
        Some(l) => (
            1,
            u32::try_from(l.len()).unwrap_or(u32::MAX),
            l.as_mut_ptr() as u64,
        ),
        None => (0, 0, 0),
    };
    let attr = BpfProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len()).map_err(|_| Errno::E2BIG)?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level,
        log_size,
        log_buf,
        kern_version: 0,
        prog_flags: 0,
        prog_name,
        prog_ifindex: 0,
        expected_attach_type: BPF_CGROUP_DEVICE,
    };
    // SAFETY: attr is a fully initialised bpf_attr prefix of the size passed; the instruction
    // array, license string and log buffer it points to outlive the call (borrowed here).
    let fd = check_long(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const BpfProgLoadAttr,
            std::mem::size_of::<BpfProgLoadAttr>(),
        )
    })?;
    // SAFETY: the kernel returned a new fd (BPF fds are close-on-exec) that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `bpf(BPF_PROG_ATTACH)` of a loaded device program to the cgroup2 directory `cgroup`, with
/// `BPF_F_ALLOW_MULTI`. The attachment holds its own reference: `prog` may be closed afterwards.
pub fn bpf_attach_cgroup_device(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> SysResult<()> {
    let attr = BpfProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: attr is a fully initialised bpf_attr prefix of the size passed; both fds are live.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const BpfProgAttachAttr,
            std::mem::size_of::<BpfProgAttachAttr>(),
        )
    })
    .map(drop)
}
