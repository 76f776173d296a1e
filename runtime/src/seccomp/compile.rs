//! `linux.seccomp` → rules per architecture (here) → one BPF program (laid out by `emit`).
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
use std::path::PathBuf;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, LinuxSyscall};

use super::arch::{self, Abi};
use super::bpf::{self, Insn};
use super::table::{Cond, Entry, Rule, Section};
use super::{emit, ret, Program, FLAG_LOG, FLAG_NEW_LISTENER, FLAG_SPEC_ALLOW, FLAG_TSYNC};
use super::{FLAG_WAIT_KILLABLE_RECV, NOTIFY_FORBIDDEN};
use crate::spec::SpecError;

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

/// Compile a profile for this host. Pure: the kernel is not asked anything (see
/// [`Program::check_kernel`]).
///
/// The steps: the default action, one section per ABI the filter covers, every `syscalls[]` entry
/// lowered into the sections' rules (in profile order, which decides between rules), the program
/// laid out from the sections (`emit`), then the filter flags and the listener.
pub fn compile(s: &LinuxSeccomp) -> Result<Program, SpecError> {
    let default = default_action(s)?;
    let mut sections = sections(s);
    let mut notify = false;
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        notify |= lower_syscall(&mut sections, i, sc, default)?;
    }
    let insns = emit::program(&sections, default, wants_enosys_stub(default));
    check_size(&insns)?;
    let flags = filter_flags(s, notify);
    let listener_path = listener_path(s, notify)?;
    Ok(Program {
        insns,
        flags,
        listener_path,
        listener_metadata: s.listener_metadata().clone().unwrap_or_default(),
        container: None,
    })
}

/// The `SECCOMP_RET_*` value of `defaultAction` (with `defaultErrnoRet`). `SCMP_ACT_NOTIFY`
/// cannot be it, as runc refuses it: the init's own syscalls between loading the filter and
/// handing the listener over would wait for an agent that has no listener yet (see
/// [`NOTIFY_FORBIDDEN`]).
fn default_action(s: &LinuxSeccomp) -> Result<u32, SpecError> {
    let default = action_value(s.default_action(), s.default_errno_ret(), || {
        "linux.seccomp.defaultErrnoRet".to_string()
    })?;
    if default == ret::USER_NOTIF {
        return Err(SpecError::field(
            "linux.seccomp.defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    Ok(default)
}

/// One empty section per ABI the filter covers, sorted by [`Abi`] (the program's layout order):
/// the native ABI always (libseccomp's `seccomp_init` adds it) and every ABI of this host that
/// `architectures` names; `listed` marks the named ones.
fn sections(s: &LinuxSeccomp) -> Vec<Section> {
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
    abis.iter()
        .map(|&(abi, listed)| Section {
            abi,
            entries: Vec::new(),
            max_nr: None,
            listed,
        })
        .collect()
}

/// Add `syscalls[i]` to every section: its action, its conditions and its names, checked in that
/// order (the first error found is the one reported). Returns whether the rule notifies.
fn lower_syscall(
    sections: &mut [Section],
    i: usize,
    sc: &LinuxSyscall,
    default: u32,
) -> Result<bool, SpecError> {
    let action = action_value(sc.action(), sc.errno_ret(), || {
        format!("linux.seccomp.syscalls[{i}].errnoRet")
    })?;
    let conds = conds_of(i, sc)?;
    let notify = action == ret::USER_NOTIF;
    if notify {
        check_notify_names(i, sc)?;
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
            sec.add_name(name, row, &rules);
        }
    }
    Ok(notify)
}

/// The conditions of `syscalls[i].args`, in order; an index past the six arguments is an error.
fn conds_of(i: usize, sc: &LinuxSyscall) -> Result<Vec<Cond>, SpecError> {
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
    Ok(conds)
}

/// A notifying `syscalls[i]` names none of [`NOTIFY_FORBIDDEN`] (the error names the first).
fn check_notify_names(i: usize, sc: &LinuxSyscall) -> Result<(), SpecError> {
    let Some(j) = sc
        .names()
        .iter()
        .position(|n| NOTIFY_FORBIDDEN.contains(&n.as_str()))
    else {
        return Ok(());
    };
    Err(SpecError::field(
        format!("linux.seccomp.syscalls[{i}].names[{j}]"),
        format!(
            "SCMP_ACT_NOTIFY cannot be used for {:?}: sangja needs it before the listener reaches \
             the agent (it would wait for itself; runc refuses write too)",
            sc.names()[j]
        ),
    ))
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

/// `r` as a rule of the multiplexer (`socketcall`/`ipc`) for sub-call `sub`: libseccomp replaces
/// the argument 0 test by the sub-call number and keeps the others (they then apply to the
/// multiplexer's own arguments).
fn multiplexed_rule(r: &Rule, sub: u32) -> Rule {
    let mut conds = vec![Cond {
        index: 0,
        op: LinuxSeccompOperator::ScmpCmpEq,
        value: sub as u64,
        value_two: 0,
    }];
    conds.extend(r.conds.iter().filter(|c| c.index != 0).copied());
    Rule {
        conds,
        action: r.action,
    }
}

impl Section {
    /// Add `rule` to syscall `nr`'s entry, unless an unconditional rule already decided it; an
    /// unconditional rule replaces the conditional ones listed before it.
    fn add(&mut self, nr: u32, rule: &Rule) {
        let i = (nr & !self.abi.nr_bit()) as usize;
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

    /// Count `nr` towards the highest number the profile names here (the ENOSYS stub's bound).
    fn note_max(&mut self, nr: u32) {
        self.max_nr = Some(self.max_nr.map_or(nr, |m| m.max(nr)));
    }

    /// Add the rules of one syscall name (`row`: its numbers, from [`arch::lookup`]) to this ABI:
    /// to its own number where it has one, and to its multiplexer where it has one.
    fn add_name(&mut self, name: &str, row: Option<&[i32; 5]>, rules: &[Rule]) {
        let mux = self.abi.multiplexed(name);
        if let Some(nr) = row.and_then(|r| self.abi.number(r)) {
            // runc's stub uses libseccomp's numbers, where multiplexed calls have none.
            if mux.is_none() {
                self.note_max(nr);
            }
            for r in rules {
                self.add(nr, r);
            }
        }
        if let Some((mux, sub)) = mux {
            for r in rules {
                self.add(mux, &multiplexed_rule(r, sub));
            }
        }
    }
}

/// Whether the program gets runc's ENOSYS stub (on a listed ABI, syscalls above the highest one
/// the profile names there return ENOSYS): not when the default action is permissive (ALLOW, LOG,
/// TRACE), nor when it is ENOSYS itself (the stub would change no verdict).
fn wants_enosys_stub(default: u32) -> bool {
    let permissive =
        matches!(default, ret::ALLOW | ret::LOG) || default & ret::ACTION == ret::TRACE;
    !permissive && default != ret::ERRNO | libc::ENOSYS as u32
}

/// The program fits the kernel's limit on instructions ([`bpf::MAX_INSNS`]).
fn check_size(insns: &[Insn]) -> Result<(), SpecError> {
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
    Ok(())
}

/// The `SECCOMP_FILTER_FLAG_*` bits for `seccomp(2)`: `NEW_LISTENER` when a rule notifies, and
/// the profile's `flags` but TSYNC with a listener (refused with it) and WAIT_KILLABLE_RECV
/// without one (meaningless without it).
fn filter_flags(s: &LinuxSeccomp, notify: bool) -> u32 {
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
    flags
}

/// The agent's socket, kept when a rule notifies: `listenerPath` is then required, and
/// `listenerMetadata` is refused without it (an empty path counts as none).
fn listener_path(s: &LinuxSeccomp, notify: bool) -> Result<Option<PathBuf>, SpecError> {
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
    Ok(if notify {
        s.listener_path().clone()
    } else {
        None
    })
}
