//! `linux.seccomp` → rules per architecture → one BPF program.
//!
//! Semantics follow runc 1.1 with libseccomp 2.5, the reference users' profiles are written for:
//! - a rule whose action equals the default action is dropped (runc skips it);
//! - conditions on distinct argument indexes are ANDed; when two conditions of one rule name the
//!   same index, each condition becomes its own rule (ORed), as runc does because libseccomp cannot
//!   hold two comparisons of one argument in a rule;
//! - several rules for one syscall are ORed; the first unconditional rule for a syscall decides it
//!   whatever else is listed (libseccomp drops conditional chains under an unconditional rule);
//!   among conditional rules with different actions the first listed that matches wins;
//! - 64-bit arguments are compared on both 32-bit halves (high first); 32-bit ABIs (i386, and x32
//!   as libseccomp counts it) compare the low halves only, with the value truncated;
//! - `SCMP_CMP_MASKED_EQ` (`value` the mask, `valueTwo` the datum) tests
//!   `(arg & mask) == (datum & mask)`, as libseccomp does;
//! - when the default action is not permissive (ALLOW, LOG, TRACE), syscalls numbered above the
//!   highest one the profile names on an architecture return ENOSYS, so that programs probing newer
//!   syscalls fall back instead of failing with the default errno (runc's `-ENOSYS` stub);
//! - a syscall from an architecture the filter does not cover kills the thread (libseccomp's
//!   default bad-architecture action); x32 syscalls are such when `SCMP_ARCH_X32` is not listed,
//!   except `syscall(-1)`, which libseccomp counts as x86_64's.
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

use super::arch::{self, Abi, X32_SYSCALL_BIT};
use super::bpf::{self, data, Emitter, Insn, Label, JEQ, JGE, JGT, JSET};
use super::{ret, Program, FLAG_LOG, FLAG_NEW_LISTENER, FLAG_SPEC_ALLOW, FLAG_TSYNC};
use super::{FLAG_WAIT_KILLABLE_RECV, NOTIFY_FORBIDDEN};
use crate::spec::SpecError;

/// Comparison of one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cond {
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
}

/// Conditions (ANDed) and the action when they all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    conds: Vec<Cond>,
    action: u32,
}

/// Everything the profile says about one syscall number on one ABI.
#[derive(Debug, Default)]
struct Entry {
    /// The first unconditional action.
    uncond: Option<u32>,
    /// Conditional rules, in profile order.
    rules: Vec<Rule>,
}

/// Per ABI: syscall number → entry, and the highest number the profile names.
#[derive(Debug)]
struct Section {
    abi: Abi,
    /// Indexed by the syscall number without the x32 bit (tables stay below 1024).
    entries: Vec<Entry>,
    max_nr: Option<u32>,
    /// Listed in `architectures` (the ENOSYS stub covers listed ABIs only, as runc's does).
    listed: bool,
}

/// The `SECCOMP_RET_*` value of an action. `errno` is `errnoRet` (or `defaultErrnoRet`).
pub(super) fn action_value(
    a: LinuxSeccompAction,
    errno: Option<u32>,
    field: impl FnOnce() -> String,
) -> Result<u32, SpecError> {
    let data = |default: u32| -> Result<u32, SpecError> {
        let e = errno.unwrap_or(default);
        if e > 0xffff {
            return Err(SpecError::field(
                field(),
                format!("{e} does not fit the 16 bits seccomp returns"),
            ));
        }
        Ok(e)
    };
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ret::KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => ret::KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => ret::TRAP,
        LinuxSeccompAction::ScmpActErrno => ret::ERRNO | data(libc::EPERM as u32)?,
        LinuxSeccompAction::ScmpActTrace => ret::TRACE | data(libc::EPERM as u32)?,
        LinuxSeccompAction::ScmpActLog => ret::LOG,
        LinuxSeccompAction::ScmpActAllow => ret::ALLOW,
        LinuxSeccompAction::ScmpActNotify => ret::USER_NOTIF,
    })
}

/// The rules a `syscalls[]` entry's `args` make (see the module docs for duplicate indexes).
fn rules_of(conds: Vec<Cond>, action: u32) -> Vec<Rule> {
    let mut seen = 0u8;
    let dup = conds.iter().any(|c| {
        let bit = 1u8 << c.index;
        let d = seen & bit != 0;
        seen |= bit;
        d
    });
    if dup {
        conds
            .into_iter()
            .map(|c| Rule {
                conds: vec![c],
                action,
            })
            .collect()
    } else {
        vec![Rule { conds, action }]
    }
}

impl Section {
    fn add(&mut self, nr: u32, rule: &Rule) {
        let i = (nr & !X32_SYSCALL_BIT) as usize;
        if i >= self.entries.len() {
            self.entries.resize_with(i + 1, Entry::default);
        }
        let e = &mut self.entries[i];
        if e.uncond.is_some() {
            return;
        }
        if rule.conds.is_empty() {
            e.uncond = Some(rule.action);
            e.rules.clear();
        } else {
            e.rules.push(rule.clone());
        }
    }

    fn note_max(&mut self, nr: u32) {
        self.max_nr = Some(self.max_nr.map_or(nr, |m| m.max(nr)));
    }
}

/// Compile a profile for this host. Pure: the kernel is not asked anything (see
/// [`Program::check_kernel`]).
pub fn compile(s: &LinuxSeccomp) -> Result<Program, SpecError> {
    let default = action_value(s.default_action(), s.default_errno_ret(), || {
        "linux.seccomp.defaultErrnoRet".to_string()
    })?;
    if default == ret::USER_NOTIF {
        return Err(SpecError::field(
            "linux.seccomp.defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    // The native ABI is always covered (libseccomp's seccomp_init adds it); listed ones too.
    let mut abis: Vec<(Abi, bool)> = vec![(arch::native(), false)];
    for a in s.architectures().iter().flatten() {
        for abi in arch::host_abis(*a) {
            match abis.iter_mut().find(|(x, _)| x == abi) {
                Some(x) => x.1 = true,
                None => abis.push((*abi, true)),
            }
        }
    }
    abis.sort();
    let mut sections: Vec<Section> = abis
        .iter()
        .map(|&(abi, listed)| Section {
            abi,
            entries: Vec::new(),
            max_nr: None,
            listed,
        })
        .collect();
    let mut notify = false;
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let action = action_value(sc.action(), sc.errno_ret(), || {
            format!("linux.seccomp.syscalls[{i}].errnoRet")
        })?;
        let mut conds = Vec::new();
        for (k, a) in sc.args().iter().flatten().enumerate() {
            if a.index() > 5 {
                return Err(SpecError::field(
                    format!("linux.seccomp.syscalls[{i}].args[{k}].index"),
                    format!("{} is not an argument index (0 to 5)", a.index()),
                ));
            }
            conds.push(Cond {
                index: a.index(),
                op: a.op(),
                value: a.value(),
                value_two: a.value_two().unwrap_or(0),
            });
        }
        if action == ret::USER_NOTIF {
            notify = true;
            if let Some(j) = sc
                .names()
                .iter()
                .position(|n| NOTIFY_FORBIDDEN.contains(&n.as_str()))
            {
                return Err(SpecError::field(
                    format!("linux.seccomp.syscalls[{i}].names[{j}]"),
                    format!(
                        "SCMP_ACT_NOTIFY cannot be used for {:?}: sangja needs it before the \
                         listener reaches the agent (it would wait for itself; runc refuses \
                         write too)",
                        sc.names()[j]
                    ),
                ));
            }
        }
        // runc skips rules that do what the default does (they still count for the ENOSYS stub).
        let rules = if action == default {
            Vec::new()
        } else {
            rules_of(conds, action)
        };
        for (j, name) in sc.names().iter().enumerate() {
            if name.is_empty() {
                return Err(SpecError::field(
                    format!("linux.seccomp.syscalls[{i}].names[{j}]"),
                    "empty string is not a valid syscall",
                ));
            }
            let row = arch::lookup(name);
            for sec in sections.iter_mut() {
                let mux = sec.abi.multiplexed(name);
                if let Some(nr) = row.and_then(|r| sec.abi.number(r)) {
                    // runc's stub uses libseccomp's numbers, where multiplexed calls have none.
                    if mux.is_none() {
                        sec.note_max(nr);
                    }
                    for r in &rules {
                        sec.add(nr, r);
                    }
                }
                if let Some((mux, sub)) = mux {
                    for r in &rules {
                        // libseccomp replaces the argument 0 test by the sub-call number and keeps
                        // the others (they then apply to the multiplexer's own arguments).
                        let mut conds = vec![Cond {
                            index: 0,
                            op: LinuxSeccompOperator::ScmpCmpEq,
                            value: sub as u64,
                            value_two: 0,
                        }];
                        conds.extend(r.conds.iter().filter(|c| c.index != 0).copied());
                        sec.add(
                            mux,
                            &Rule {
                                conds,
                                action: r.action,
                            },
                        );
                    }
                }
            }
        }
    }
    let permissive =
        matches!(default, ret::ALLOW | ret::LOG) || default & ret::ACTION == ret::TRACE;
    let enosys = !permissive && default != ret::ERRNO | libc::ENOSYS as u32;
    let insns = emit(&sections, default, enosys);
    if insns.len() > bpf::MAX_INSNS {
        return Err(SpecError::field(
            "linux.seccomp",
            format!(
                "the profile compiles to {} BPF instructions, over the kernel's limit of {}",
                insns.len(),
                bpf::MAX_INSNS
            ),
        ));
    }
    let mut flags = if notify { FLAG_NEW_LISTENER } else { 0 };
    for f in s.flags().iter().flatten() {
        use oci_spec::runtime::LinuxSeccompFilterFlag as F;
        flags |= match f {
            F::SeccompFilterFlagLog => FLAG_LOG,
            F::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            // The init is single-threaded when it loads the filter: TSYNC has nothing to do, and
            // the kernel refuses it together with NEW_LISTENER.
            F::SeccompFilterFlagTsync if notify => 0,
            F::SeccompFilterFlagTsync => FLAG_TSYNC,
            // Only meaningful (and only accepted) with a listener.
            F::SeccompFilterFlagWaitKillableRecv if notify => FLAG_WAIT_KILLABLE_RECV,
            F::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }
    let no_path = s
        .listener_path()
        .as_ref()
        .is_none_or(|p| p.as_os_str().is_empty());
    if no_path
        && s.listener_metadata()
            .as_ref()
            .is_some_and(|m| !m.is_empty())
    {
        return Err(SpecError::field(
            "linux.seccomp.listenerMetadata",
            "must not be set without listenerPath",
        ));
    }
    if notify && no_path {
        return Err(SpecError::field(
            "linux.seccomp.listenerPath",
            "is required when a rule uses SCMP_ACT_NOTIFY",
        ));
    }
    Ok(Program {
        insns,
        flags,
        listener_path: if notify {
            s.listener_path().clone()
        } else {
            None
        },
        listener_metadata: s.listener_metadata().clone().unwrap_or_default(),
        container: None,
    })
}

/// Emit the whole program (backward: last section first).
fn emit(sections: &[Section], default: u32, enosys: bool) -> Vec<Insn> {
    let mut e = Emitter::new();
    let bad_arch = ret::KILL_THREAD;
    // runc's stub covers the listed ABIs that name at least one syscall.
    let stub_max = |s: &Section| if enosys && s.listed { s.max_nr } else { None };
    let x32_max = sections
        .iter()
        .find(|s| s.abi == Abi::X32)
        .and_then(stub_max);
    // Forward order: head, x86_64, x32, x86, aarch64, arm (sections sorted by Abi).
    let mut starts: Vec<(Abi, Label)> = Vec::new();
    for sec in sections.iter().rev() {
        let tree = emit_dispatch(&mut e, sec, default);
        let start = match sec.abi {
            // Entered from the x86_64 section, which checked the stub.
            Abi::X32 => e.load(data::NR),
            Abi::X86_64 => {
                let x32 = starts.iter().find(|(a, _)| *a == Abi::X32).map(|(_, l)| *l);
                let target32 = match x32 {
                    Some(l) => l,
                    None => e.ret(bad_arch),
                };
                emit_x86_64_head(&mut e, tree, target32, stub_max(sec), x32_max, default)
            }
            _ => {
                let mut start = tree;
                if let Some(max) = stub_max(sec) {
                    let nosys = e.ret(ret::ERRNO | libc::ENOSYS as u32);
                    start = e.jump(JGT, max, nosys, start);
                }
                let _ = start;
                e.load(data::NR)
            }
        };
        starts.push((sec.abi, start));
    }
    // Head: dispatch on the architecture; x32 shares x86_64's AUDIT_ARCH and is entered from it.
    let mut next = e.ret_here(bad_arch);
    for &(abi, start) in &starts {
        if abi == Abi::X32 {
            continue;
        }
        next = e.jump(JEQ, abi.audit_arch(), start, next);
    }
    e.load(data::ARCH);
    e.finish()
}

/// The start of the x86_64 section, which also routes x32 syscalls, exactly as runc's stub
/// followed by libseccomp's filter do:
/// ```text
///     ld nr; jset X32_BIT → x32 : x64
/// x64: [jgt max64 → ENOSYS]; jge X32_BIT → target32 : tree
/// x32: [jgt max32 → ENOSYS]; jeq 0xffffffff → default : target32   (syscall(-1) is x86_64's)
/// ```
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
    let bit = if sec.abi == Abi::X32 {
        X32_SYSCALL_BIT
    } else {
        0
    };
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
    emit_runs(e, sec.abi, &runs, default)
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
