//! The table a profile compiles into before it is emitted as BPF: per ABI, each syscall number's
//! unconditional action and its conditional rules, in profile order. [`super::compile`] fills it;
//! [`super::emit`] lays it out as a program.
use oci_spec::runtime::LinuxSeccompOperator;

use super::arch::Abi;

/// Comparison of one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cond {
    pub(super) index: usize,
    pub(super) op: LinuxSeccompOperator,
    pub(super) value: u64,
    pub(super) value_two: u64,
}

/// Conditions (ANDed) and the action when they all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rule {
    pub(super) conds: Vec<Cond>,
    pub(super) action: u32,
}

/// Everything the profile says about one syscall number on one ABI.
#[derive(Debug, Default)]
pub(super) struct Entry {
    /// The first unconditional action.
    pub(super) uncond: Option<u32>,
    /// Conditional rules, in profile order.
    pub(super) rules: Vec<Rule>,
}

/// Per ABI: syscall number → entry, and the highest number the profile names.
#[derive(Debug)]
pub(super) struct Section {
    pub(super) abi: Abi,
    /// Indexed by the syscall number without the x32 bit (tables stay below 1024).
    pub(super) entries: Vec<Entry>,
    pub(super) max_nr: Option<u32>,
    /// Listed in `architectures` (the ENOSYS stub covers listed ABIs only, as runc's does).
    pub(super) listed: bool,
}
