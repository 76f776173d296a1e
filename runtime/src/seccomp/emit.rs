//! Rules per architecture → one BPF program: the layout.
//!
//! Forward, the program is a head that dispatches on `seccomp_data.arch`, then one block per
//! section in [`Abi`] order: runc's ENOSYS stub where it applies, the dispatch on the syscall
//! number (a binary search over runs of numbers with one verdict) and the argument comparisons of
//! conditional rules. It is built backward with the [`Emitter`] (last section first, the head
//! last), so that every jump is forward to an instruction already placed.
use super::arch::Abi;
#[cfg(not(target_arch = "aarch64"))]
use super::arch::X32_SYSCALL_BIT;
#[cfg(not(target_arch = "aarch64"))]
use super::bpf::JSET;
use super::bpf::{data, Emitter, Insn, Label, JEQ, JGE, JGT};
use super::ret;
use super::table::{Cond, Rule, Section};
use oci_spec::runtime::LinuxSeccompOperator;

/// What a syscall of an architecture the filter does not cover gets: killed, as libseccomp's
/// default bad-architecture action does.
const BAD_ARCH: u32 = ret::KILL_THREAD;

/// The whole program for `sections` (sorted by [`Abi`]), `default` the default action, `enosys`
/// whether listed ABIs get runc's ENOSYS stub.
pub(super) fn program(sections: &[Section], default: u32, enosys: bool) -> Vec<Insn> {
    let mut e = Emitter::new();
    // runc's stub covers the listed ABIs that name at least one syscall.
    let stub_max = |s: &Section| if enosys && s.listed { s.max_nr } else { None };
    // Emitted last section first: the starts come in reverse layout order.
    let mut starts: Vec<(Abi, Label)> = Vec::new();
    for sec in sections.iter().rev() {
        let tree = emit_dispatch(&mut e, sec, default);
        let start = match sec.abi {
            // Entered from the x86_64 section, which checked the stub.
            #[cfg(not(target_arch = "aarch64"))]
            Abi::X32 => e.load(data::NR),
            #[cfg(not(target_arch = "aarch64"))]
            Abi::X86_64 => {
                let x32 = starts.iter().find(|(a, _)| *a == Abi::X32).map(|(_, l)| *l);
                let target32 = match x32 {
                    Some(l) => l,
                    None => e.ret(BAD_ARCH),
                };
                let x32_max = sections
                    .iter()
                    .find(|s| s.abi == Abi::X32)
                    .and_then(stub_max);
                emit_x86_64_head(&mut e, tree, target32, stub_max(sec), x32_max, default)
            }
            _ => emit_section_head(&mut e, tree, stub_max(sec)),
        };
        starts.push((sec.abi, start));
    }
    emit_arch_dispatch(&mut e, &starts);
    e.finish()
}

/// The start of a section entered from the program's head that routes no other ABI: `ld nr`,
/// then the stub when the section has one (`jgt max → ENOSYS`), then its dispatch.
///
/// The `ld` falls through to the instruction emitted just before it: the stub's jump, else the
/// dispatch's last emission. That is `tree` except when the whole dispatch is one `ret` shared
/// with code emitted earlier ([`Emitter::ret`]): the `ld` then runs into the next section's code.
/// On x86_64 hosts that is an i386 section without rules running into x32's dispatch, which gives
/// every i386 number (all below the x32 bit) the default action too; on aarch64 hosts an aarch64
/// section without rules would run arm's dispatch (a known gap, kept as is here).
fn emit_section_head(e: &mut Emitter, tree: Label, max: Option<u32>) -> Label {
    if let Some(max) = max {
        let nosys = e.ret(ret::ERRNO | libc::ENOSYS as u32);
        e.jump(JGT, max, nosys, tree);
    }
    e.load(data::NR)
}

/// The program's head: `ld arch`, then one `jeq` per section entered from here, in layout order
/// (x32 shares x86_64's `AUDIT_ARCH` and is entered from the x86_64 section), and the
/// bad-architecture `ret` after the last.
fn emit_arch_dispatch(e: &mut Emitter, starts: &[(Abi, Label)]) {
    let mut next = e.ret_here(BAD_ARCH);
    for &(abi, start) in starts {
        #[cfg(not(target_arch = "aarch64"))]
        if abi == Abi::X32 {
            continue;
        }
        next = e.jump(JEQ, abi.audit_arch(), start, next);
    }
    e.load(data::ARCH);
}

/// The start of the x86_64 section, which also routes x32 syscalls, exactly as runc's stub
/// followed by libseccomp's filter do:
/// ```text
///     ld nr; jset X32_BIT → x32 : x64
/// x64: [jgt max64 → ENOSYS]; jge X32_BIT → target32 : tree
/// x32: [jgt max32 → ENOSYS]; jeq 0xffffffff → default : target32   (syscall(-1) is x86_64's)
/// ```
#[cfg(not(target_arch = "aarch64"))]
fn emit_x86_64_head(
    e: &mut Emitter,
    tree: Label,
    target32: Label,
    max64: Option<u32>,
    max32: Option<u32>,
    default: u32,
) -> Label {
    let def = e.ret(default);
    let mut xb = e.jump(JEQ, 0xffff_ffff, def, target32);
    if let Some(m) = max32 {
        let nosys = e.ret(ret::ERRNO | libc::ENOSYS as u32);
        xb = e.jump(JGT, m, nosys, xb);
    }
    let mut x64 = e.jump(JGE, X32_SYSCALL_BIT, target32, tree);
    if let Some(m) = max64 {
        let nosys = e.ret(ret::ERRNO | libc::ENOSYS as u32);
        x64 = e.jump(JGT, m, nosys, x64);
    }
    e.jump(JSET, X32_SYSCALL_BIT, xb, x64);
    e.load(data::NR)
}

/// What a run of consecutive syscall numbers does.
#[derive(Debug, Clone, Copy)]
enum Verdict<'a> {
    /// Always this action.
    Ret(u32),
    /// Depends on the arguments.
    Rules(&'a [Rule]),
}

/// One ABI's syscall dispatch (the accumulator holds the syscall number); returns its start.
///
/// The numbers are cut into runs of one verdict (Docker's profile allows long stretches of the
/// table: its ~370 names make ~50 runs on x86_64), and a binary search over the runs' starts
/// (`jge` only) jumps straight to each run's `ret` or rule block: about log2(runs) comparisons
/// per syscall and one instruction per run.
fn emit_dispatch(e: &mut Emitter, sec: &Section, default: u32) -> Label {
    let runs = runs_of(sec, default);
    emit_runs(e, sec.abi, &runs, default)
}

/// The runs of `sec`'s table, each as (its first `seccomp_data.nr`, its verdict), sorted; the
/// last covers the numbers past the table, with the default action.
fn runs_of(sec: &Section, default: u32) -> Vec<(u32, Verdict<'_>)> {
    let bit = sec.abi.nr_bit();
    let mut runs: Vec<(u32, Verdict<'_>)> = Vec::with_capacity(64);
    for (i, en) in sec.entries.iter().enumerate() {
        let v = match en.uncond {
            Some(a) => Verdict::Ret(a),
            None if en.rules.is_empty() => Verdict::Ret(default),
            None => Verdict::Rules(&en.rules),
        };
        if let (Some((_, Verdict::Ret(a))), Verdict::Ret(b)) = (runs.last(), v) {
            if *a == b {
                continue;
            }
        }
        runs.push((i as u32 | bit, v));
    }
    // Past the table: the default (the numbers below the first run never get here).
    if !matches!(runs.last(), Some((_, Verdict::Ret(a))) if *a == default) {
        runs.push((sec.entries.len() as u32 | bit, Verdict::Ret(default)));
    }
    runs
}

/// The binary search over `runs` (sorted by start); returns its first instruction.
fn emit_runs(e: &mut Emitter, abi: Abi, runs: &[(u32, Verdict<'_>)], default: u32) -> Label {
    if let [(_, v)] = runs {
        return match *v {
            Verdict::Ret(a) => e.ret(a),
            Verdict::Rules(r) => emit_rules(e, abi, r, default),
        };
    }
    let mid = runs.len() / 2;
    let right = emit_runs(e, abi, &runs[mid..], default);
    let left = emit_runs(e, abi, &runs[..mid], default);
    e.jump(JGE, runs[mid].0, right, left)
}

/// The conditional rules of one syscall: each rule's conditions in a row, falling to the next
/// rule on the first that fails, to the default action after the last rule.
fn emit_rules(e: &mut Emitter, abi: Abi, rules: &[Rule], default: u32) -> Label {
    let mut fail = e.ret(default);
    for r in rules.iter().rev() {
        let mut pass = e.ret(r.action);
        for c in r.conds.iter().rev() {
            pass = emit_cond(e, abi, c, pass, fail);
        }
        fail = pass;
    }
    fail
}

/// One comparison: continue at `pass` when it holds, at `fail` when not.
fn emit_cond(e: &mut Emitter, abi: Abi, c: &Cond, pass: Label, fail: Label) -> Label {
    use LinuxSeccompOperator as Op;
    let lo = |v: u64| v as u32;
    let hi = |v: u64| (v >> 32) as u32;
    let (ld_lo, ld_hi) = (data::arg_lo(c.index), data::arg_hi(c.index));
    // Low half: jump on (code, k), with `t`/`f` swapped for negated operators.
    let (code, k, negate) = match c.op {
        Op::ScmpCmpEq => (JEQ, lo(c.value), false),
        Op::ScmpCmpNe => (JEQ, lo(c.value), true),
        Op::ScmpCmpGt => (JGT, lo(c.value), false),
        Op::ScmpCmpGe => (JGE, lo(c.value), false),
        Op::ScmpCmpLt => (JGE, lo(c.value), true),
        Op::ScmpCmpLe => (JGT, lo(c.value), true),
        // libseccomp compares with the datum masked too: (arg & mask) == (datum & mask).
        Op::ScmpCmpMaskedEq => (JEQ, lo(c.value_two & c.value), false),
    };
    let (t, f) = if negate { (fail, pass) } else { (pass, fail) };
    let masked = c.op == Op::ScmpCmpMaskedEq;
    e.jump(code, k, t, f);
    if masked {
        e.and(lo(c.value));
    }
    let lo_start = e.load(ld_lo);
    if !abi.is_64bit() || (masked && hi(c.value) == 0) {
        return lo_start;
    }
    // High half first: it decides unless equal.
    match c.op {
        Op::ScmpCmpEq | Op::ScmpCmpNe => {
            e.jump(JEQ, hi(c.value), lo_start, f);
        }
        Op::ScmpCmpMaskedEq => {
            e.jump(JEQ, hi(c.value_two & c.value), lo_start, fail);
            e.and(hi(c.value));
        }
        Op::ScmpCmpGt | Op::ScmpCmpGe | Op::ScmpCmpLt | Op::ScmpCmpLe => {
            // hi > v.hi decides "greater"; hi < v.hi decides "not greater".
            let eq = e.jump(JEQ, hi(c.value), lo_start, f);
            e.jump(JGT, hi(c.value), t, eq);
        }
    }
    e.load(ld_hi)
}
