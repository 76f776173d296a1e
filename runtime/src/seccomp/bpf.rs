//! Classic BPF as seccomp runs it, and a backward assembler.
//!
//! The program is built from its end towards its start: every jump is forward, so when an
//! instruction is prepended all its targets are already placed and its offsets are known. A
//! conditional jump whose target is more than 255 instructions away (jt/jf are 8 bits) goes through
//! an inserted `ja` (32-bit offset). `ret` instructions are shared while they are within reach and
//! duplicated when not, which costs one instruction, as a trampoline would.
/// One instruction (`struct sock_filter`): defined beside the syscall that loads it (`pub`: the
/// crate re-exports it as `seccomp::Insn`).
pub use crate::sys::Insn;

/// `BPF_LD | BPF_W | BPF_ABS`: A = seccomp_data[k..k+4].
pub(crate) const LD_ABS: u16 = 0x20;
/// `BPF_ALU | BPF_AND | BPF_K`: A &= k.
pub(crate) const AND_K: u16 = 0x54;
/// `BPF_JMP | BPF_JA`.
pub(crate) const JA: u16 = 0x05;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
pub(crate) const JEQ: u16 = 0x15;
/// `BPF_JMP | BPF_JGT | BPF_K`.
pub(crate) const JGT: u16 = 0x25;
/// `BPF_JMP | BPF_JGE | BPF_K`.
pub(crate) const JGE: u16 = 0x35;
/// `BPF_JMP | BPF_JSET | BPF_K` (the x32 bit test, see `emit_x86_64_head`).
#[cfg(not(target_arch = "aarch64"))]
pub(crate) const JSET: u16 = 0x45;
/// `BPF_RET | BPF_K`.
pub(crate) const RET_K: u16 = 0x06;

/// Offsets in `struct seccomp_data`.
pub(crate) mod data {
    /// `nr`.
    pub(crate) const NR: u32 = 0;
    /// `arch`.
    pub(crate) const ARCH: u32 = 4;
    /// Low 32 bits of `args[i]` (little-endian).
    pub(crate) fn arg_lo(i: usize) -> u32 {
        16 + 8 * i as u32
    }
    /// High 32 bits of `args[i]` (little-endian).
    pub(crate) fn arg_hi(i: usize) -> u32 {
        20 + 8 * i as u32
    }
}

/// The kernel's `BPF_MAXINSNS`.
pub(crate) const MAX_INSNS: usize = 4096;

/// A place in the program being built: its distance from the end of the program.
pub(crate) type Label = usize;

/// Backward assembler.
#[derive(Debug, Default)]
pub(crate) struct Emitter {
    /// The program, last instruction first.
    rev: Vec<Insn>,
    /// The nearest copy of each `ret` value (a handful of distinct values: a list beats a map).
    rets: Vec<(u32, Label)>,
}

impl Emitter {
    /// An empty program.
    pub(crate) fn new() -> Self {
        Emitter {
            rev: Vec::with_capacity(1024),
            rets: Vec::with_capacity(16),
        }
    }

    fn push(&mut self, insn: Insn) -> Label {
        self.rev.push(insn);
        self.rev.len() - 1
    }

    /// Offset from an instruction about to be placed to `target`.
    fn dist(&self, target: Label) -> usize {
        self.rev.len() - target - 1
    }

    /// `ret k`, shared with an existing one when a jump from here can reach it.
    pub(crate) fn ret(&mut self, k: u32) -> Label {
        if let Some(&(_, l)) = self.rets.iter().find(|(v, _)| *v == k) {
            if self.dist(l) <= 200 {
                return l;
            }
        }
        self.ret_here(k)
    }

    /// A fresh `ret k` at this point (for fall-through blocks that must end here).
    pub(crate) fn ret_here(&mut self, k: u32) -> Label {
        let l = self.push(Insn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k,
        });
        match self.rets.iter_mut().find(|(v, _)| *v == k) {
            Some(r) => r.1 = l,
            None => self.rets.push((k, l)),
        }
        l
    }

    /// `ld [off]`.
    pub(crate) fn load(&mut self, off: u32) -> Label {
        self.push(Insn {
            code: LD_ABS,
            jt: 0,
            jf: 0,
            k: off,
        })
    }

    /// `and #k`.
    pub(crate) fn and(&mut self, k: u32) -> Label {
        self.push(Insn {
            code: AND_K,
            jt: 0,
            jf: 0,
            k,
        })
    }

    /// `ja target`.
    fn ja(&mut self, target: Label) -> Label {
        let d = self.dist(target);
        self.push(Insn {
            code: JA,
            jt: 0,
            jf: 0,
            k: d as u32,
        })
    }

    /// A conditional jump (`JEQ`/`JGT`/`JGE`/`JSET` against `k`) to `t` if true, `f` if false.
    pub(crate) fn jump(&mut self, code: u16, k: u32, t: Label, f: Label) -> Label {
        let (mut t, mut f) = (t, f);
        loop {
            let (dt, df) = (self.dist(t), self.dist(f));
            if dt > 255 {
                t = self.ja(t);
            } else if df > 255 {
                f = self.ja(f);
            } else {
                return self.push(Insn {
                    code,
                    jt: dt as u8,
                    jf: df as u8,
                    k,
                });
            }
        }
    }

    /// The program in execution order.
    pub(crate) fn finish(mut self) -> Vec<Insn> {
        self.rev.reverse();
        self.rev
    }
}

/// A tiny seccomp BPF interpreter: the verdict of `prog` for a `seccomp_data`. Used by the tests
/// to check compiled programs against crafted inputs, which are x86 ones (those tests are built on
/// x86 hosts only); panics on a malformed program.
#[cfg(all(test, not(target_arch = "aarch64")))]
pub(crate) fn run(prog: &[Insn], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_le_bytes());
    data[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    let mut acc: u32 = 0;
    let mut pc = 0usize;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps <= prog.len(), "a loop in a forward-only program");
        let i = prog[pc];
        pc += 1;
        match i.code {
            LD_ABS => {
                let o = i.k as usize;
                assert!(o.is_multiple_of(4) && o + 4 <= 64, "bad load offset {o}");
                acc = u32::from_le_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]);
            }
            AND_K => acc &= i.k,
            JA => pc += i.k as usize,
            JEQ | JGT | JGE | JSET => {
                let c = match i.code {
                    JEQ => acc == i.k,
                    JGT => acc > i.k,
                    JGE => acc >= i.k,
                    _ => acc & i.k != 0,
                };
                pc += if c { i.jt } else { i.jf } as usize;
            }
            RET_K => return i.k,
            c => panic!("unexpected opcode {c:#x}"),
        }
        assert!(pc < prog.len(), "jump past the end");
    }
}
