//! Device access rules: `linux.resources.devices` in order, then runc's default allowed devices
//! appended (so, as with runc 1.1, a config cannot take them away). On v1 they are written to
//! `devices.deny`/`devices.allow` after a deny-all; the resulting `devices.list` for `runc spec`'s
//! config is the one runc 1.1.5 produces:
//!
//! ```text
//! b *:* m   c *:* m   c 1:3 rwm   c 1:5 rwm   c 1:7 rwm   c 1:8 rwm   c 1:9 rwm
//! c 5:0 rwm   c 5:2 rwm   c 10:200 rwm   c 136:* rwm
//! ```
//!
//! Unlike runc 1.1.5, a `linux.devices` entry for `/dev/null` (or another default path) does not
//! drop the default rule for it (runc then fails with "error reopening /dev/null").
//!
//! cgroup2 has no device files: [`program`] builds a `BPF_PROG_TYPE_CGROUP_DEVICE` program from the
//! same rules (as runc's devicefilter: default deny, the last matching rule wins, so the rules are
//! emitted in reverse, each returning its verdict when it matches), loaded and attached to the
//! container's cgroup directory by the v2 code.
use std::borrow::Cow;
use std::fmt;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::error::CgroupError;
use crate::sys::BpfInsn;

/// One device rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    /// Allow (else deny).
    pub allow: bool,
    /// `a`, `b` or `c`.
    pub typ: char,
    /// Major; `None` is any.
    pub major: Option<i64>,
    /// Minor; `None` is any.
    pub minor: Option<i64>,
    /// Some of `rwm`.
    pub access: Cow<'static, str>,
    /// JSON path of the rule (the defaults name the spec's list they extend).
    pub field: Cow<'static, str>,
}

impl fmt::Display for Rule {
    /// The kernel's rule syntax: `c 1:3 rwm`, `b *:* m`, `a *:* rwm`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.typ,
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

const DEFAULT_FIELD: &str = "linux.resources.devices (runc's default allowed devices)";

const fn allow(typ: char, major: Option<i64>, minor: Option<i64>, access: &'static str) -> Rule {
    Rule {
        allow: true,
        typ,
        major,
        minor,
        access: Cow::Borrowed(access),
        field: Cow::Borrowed(DEFAULT_FIELD),
    }
}

/// runc 1.1's `AllowedDevices` (mknod of anything; null, zero, full, random, urandom, tty, ptmx,
/// tun, pts), in the order runc's `devices.list` shows them. They do not overlap, so their order
/// only shows in `devices.list`.
pub(crate) const DEFAULT_RULES: [Rule; 11] = [
    allow('b', None, None, "m"),
    allow('c', None, None, "m"),
    allow('c', Some(1), Some(3), "rwm"),
    allow('c', Some(1), Some(5), "rwm"),
    allow('c', Some(1), Some(7), "rwm"),
    allow('c', Some(1), Some(8), "rwm"),
    allow('c', Some(1), Some(9), "rwm"),
    allow('c', Some(5), Some(0), "rwm"),
    allow('c', Some(5), Some(2), "rwm"),
    allow('c', Some(10), Some(200), "rwm"),
    allow('c', Some(136), None, "rwm"),
];

/// The rules for a container: the config's, validated, then the defaults.
pub(crate) fn rules(spec: Option<&[LinuxDeviceCgroup]>) -> Result<Vec<Rule>, CgroupError> {
    let mut out = Vec::with_capacity(spec.map_or(0, <[_]>::len) + DEFAULT_RULES.len());
    for (i, d) in spec.unwrap_or_default().iter().enumerate() {
        let field = format!("linux.resources.devices[{i}]");
        let typ = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => 'a',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::C => 'c',
            other => {
                return Err(CgroupError::Invalid {
                    field: format!("{field}.type"),
                    reason: format!(
                        "{:?} is not a cgroup device type (a, b or c)",
                        other.as_str()
                    ),
                })
            }
        };
        let access = match d.access() {
            Some(a) => known_access(a, &field)?,
            None => "rwm".to_string(),
        };
        out.push(Rule {
            allow: d.allow(),
            typ,
            major: d.major().filter(|&m| m >= 0),
            minor: d.minor().filter(|&m| m >= 0),
            access: Cow::Owned(access),
            field: Cow::Owned(field),
        });
    }
    out.extend(DEFAULT_RULES.iter().cloned());
    Ok(out)
}

/// The `r`, `w` and `m` of a config's access string, in that order. Other letters are ignored
/// with a warning, as runc ignores them (its own tests write `rwa`); a string with none of the
/// three is refused, since runc would silently turn it into a rule that matches nothing
/// (`{"allow": false, "access": "RWM"}` would deny nothing).
fn known_access(access: &str, field: &str) -> Result<String, CgroupError> {
    let kept: String = ['r', 'w', 'm']
        .into_iter()
        .filter(|c| access.contains(*c))
        .collect();
    if kept.is_empty() {
        return Err(CgroupError::Invalid {
            field: format!("{field}.access"),
            reason: format!("{access:?} has none of r, w and m"),
        });
    }
    if access.chars().any(|c| !matches!(c, 'r' | 'w' | 'm')) {
        log::warn!("{field}.access: {access:?}: only {kept:?} applies (letters other than r, w and m are ignored, as runc)");
    }
    Ok(kept)
}

/// `bpf_cgroup_dev_ctx.access_type`: the device type in the low 16 bits...
const BPF_DEVCG_DEV_BLOCK: i32 = 1;
const BPF_DEVCG_DEV_CHAR: i32 = 2;
/// ...and the access in the high 16 bits.
const BPF_DEVCG_ACC_MKNOD: i32 = 1;
const BPF_DEVCG_ACC_READ: i32 = 2;
const BPF_DEVCG_ACC_WRITE: i32 = 4;

/// eBPF opcodes used by [`program`].
pub(crate) mod op {
    /// `BPF_LDX | BPF_MEM | BPF_W`: `dst = *(u32 *)(src + off)`.
    pub const LDXW: u8 = 0x61;
    /// `BPF_ALU | BPF_AND | BPF_K`: `dst = (u32)dst & imm`.
    pub const AND32_IMM: u8 = 0x54;
    /// `BPF_ALU | BPF_RSH | BPF_K`: `dst = (u32)dst >> imm`.
    pub const RSH32_IMM: u8 = 0x74;
    /// `BPF_ALU | BPF_MOV | BPF_K`: `dst = (u32)imm`.
    pub const MOV32_IMM: u8 = 0xb4;
    /// `BPF_ALU | BPF_MOV | BPF_X`: `dst = (u32)src`.
    pub const MOV32_REG: u8 = 0xbc;
    /// `BPF_JMP | BPF_JNE | BPF_K`: `if dst != imm goto +off`.
    pub const JNE_IMM: u8 = 0x55;
    /// `BPF_JMP | BPF_JEQ | BPF_K`: `if dst == imm goto +off`.
    pub const JEQ_IMM: u8 = 0x15;
    /// `BPF_JMP | BPF_JNE | BPF_X`: `if dst != src goto +off`.
    pub const JNE_REG: u8 = 0x5d;
    /// `BPF_JMP | BPF_EXIT`: return `r0`.
    pub const EXIT: u8 = 0x95;
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// The access bits of a rule (`rwm`).
fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |acc, c| {
        acc | match c {
            'r' => BPF_DEVCG_ACC_READ,
            'w' => BPF_DEVCG_ACC_WRITE,
            'm' => BPF_DEVCG_ACC_MKNOD,
            _ => 0,
        }
    })
}

/// The `BPF_PROG_TYPE_CGROUP_DEVICE` program for `rules`: deny unless a rule allows, the last
/// matching rule deciding. A rule matches when the device type is its type (or it is `a`), the
/// major and minor are its (or it has `*`), and for an allow rule every access bit requested is
/// in its access (`rw` asked of `c 1:3 r` does not match it), for a deny rule any is (`rw` asked
/// after `c 1:3 w` was denied is refused, as the v1 controller does).
///
/// Registers: `r2` the device type, `r3` the access, `r4` the major, `r5` the minor (from the
/// context `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }` in `r1`).
pub(crate) fn program(rules: &[Rule]) -> Vec<BpfInsn> {
    let mut p = vec![
        insn(op::LDXW, 2, 1, 0, 0),
        insn(op::AND32_IMM, 2, 0, 0, 0xffff),
        insn(op::LDXW, 3, 1, 0, 0),
        insn(op::RSH32_IMM, 3, 0, 0, 16),
        insn(op::LDXW, 4, 1, 4, 0),
        insn(op::LDXW, 5, 1, 8, 0),
    ];
    let mut block = Vec::with_capacity(8);
    for r in rules.iter().rev() {
        block.clear();
        let typ = match r.typ {
            'b' => Some(BPF_DEVCG_DEV_BLOCK),
            'c' => Some(BPF_DEVCG_DEV_CHAR),
            _ => None,
        };
        // Each test jumps past the rest of the block (offsets are patched below).
        if let Some(t) = typ {
            block.push(insn(op::JNE_IMM, 2, 0, 0, t));
        }
        let acc = access_bits(&r.access);
        let all = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
        if acc & all != all {
            block.push(insn(op::MOV32_REG, 1, 3, 0, 0));
            block.push(insn(op::AND32_IMM, 1, 0, 0, acc));
            if r.allow {
                // Every bit asked for is allowed: `(access & acc) == access`.
                block.push(insn(op::JNE_REG, 1, 3, 0, 0));
            } else {
                // Any bit asked for is denied: `(access & acc) != 0`.
                block.push(insn(op::JEQ_IMM, 1, 0, 0, 0));
            }
        }
        let mut unmatchable = false;
        for (v, reg) in [(r.major, 4), (r.minor, 5)] {
            if let Some(v) = v {
                // Device numbers are 12 (major) and 20 (minor) bits: a larger one matches nothing.
                match i32::try_from(v) {
                    Ok(v) => block.push(insn(op::JNE_IMM, reg, 0, 0, v)),
                    Err(_) => unmatchable = true,
                }
            }
        }
        if unmatchable {
            continue;
        }
        let unconditional = block.is_empty();
        block.push(insn(op::MOV32_IMM, 0, 0, 0, i32::from(r.allow)));
        block.push(insn(op::EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, b) in block.iter_mut().enumerate() {
            if matches!(b.code, op::JNE_IMM | op::JNE_REG | op::JEQ_IMM) {
                // From the instruction after this one to the end of the block.
                b.off = (len - i - 1) as i16;
            }
        }
        p.extend_from_slice(&block);
        if unconditional {
            // Every device matches it: earlier rules cannot be reached.
            return p;
        }
    }
    p.push(insn(op::MOV32_IMM, 0, 0, 0, 0));
    p.push(insn(op::EXIT, 0, 0, 0, 0));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_print_in_kernel_syntax() {
        let r: Vec<String> = DEFAULT_RULES.iter().map(|r| r.to_string()).collect();
        assert_eq!(r[0], "b *:* m");
        assert_eq!(r[2], "c 1:3 rwm");
        assert_eq!(r[10], "c 136:* rwm");
    }

    #[test]
    fn config_rules_come_first_and_are_validated() {
        let spec: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":7,"access":"r"}]"#,
        )
        .unwrap_or_default();
        let r = rules(Some(&spec)).unwrap_or_default();
        assert_eq!(r.len(), 2 + DEFAULT_RULES.len());
        assert_eq!(r[0].to_string(), "a *:* rwm");
        assert!(!r[0].allow);
        assert_eq!(r[1].to_string(), "b 7:* r");
        let odd: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":false,"type":"c","access":"wrax"}]"#)
                .unwrap_or_default();
        let r = rules(Some(&odd)).unwrap_or_default();
        assert_eq!(
            r.first().map(|r| r.to_string()).as_deref(),
            Some("c *:* rw")
        );
        let bad: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":true,"type":"c","access":"RWM"}]"#)
                .unwrap_or_default();
        let e = rules(Some(&bad)).err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("linux.resources.devices[0].access")),
            "{e:?}"
        );
    }

    /// A tiny interpreter for the instructions [`program`] emits, on a `bpf_cgroup_dev_ctx`.
    fn run(p: &[BpfInsn], ctx: [u32; 3]) -> u64 {
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 10_000, "no exit");
            let i = p
                .get(pc)
                .copied()
                .unwrap_or_else(|| panic!("pc {pc} ran off the end"));
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                op::LDXW => {
                    assert_eq!(src, 1, "loads only from the context");
                    assert!(
                        i.off % 4 == 0 && (0..12).contains(&i.off),
                        "ctx offset {}",
                        i.off
                    );
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                op::AND32_IMM => r[dst] = u64::from((r[dst] as u32) & (i.imm as u32)),
                op::RSH32_IMM => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                op::MOV32_IMM => r[dst] = u64::from(i.imm as u32),
                op::MOV32_REG => r[dst] = u64::from(r[src] as u32),
                op::JNE_IMM | op::JNE_REG | op::JEQ_IMM => {
                    let v = if i.code == op::JNE_REG {
                        r[src]
                    } else {
                        i.imm as i64 as u64
                    };
                    assert!(i.off >= 0, "backward jump");
                    if (r[dst] != v) == (i.code != op::JEQ_IMM) {
                        pc += i.off as usize;
                    }
                }
                op::EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    const R: u32 = 2;
    const W: u32 = 4;
    const M: u32 = 1;

    /// May a process do `access` on device `typ` `major:minor` under `rules`?
    fn allowed(p: &[BpfInsn], typ: char, major: u32, minor: u32, access: u32) -> bool {
        let t = if typ == 'b' { 1 } else { 2 };
        match run(p, [(access << 16) | t, major, minor]) {
            0 => false,
            1 => true,
            v => panic!("verdict {v}"),
        }
    }

    fn spec_rules(json: &str) -> Vec<Rule> {
        let spec: Vec<LinuxDeviceCgroup> = serde_json::from_str(json).unwrap();
        rules(Some(&spec)).unwrap()
    }

    #[test]
    fn program_allows_the_defaults_and_denies_the_rest() {
        // runc spec's config: deny all, then the defaults.
        let p = program(&spec_rules(r#"[{"allow":false,"access":"rwm"}]"#));
        assert_eq!(p.last().map(|i| i.code), Some(op::EXIT));
        assert!(allowed(&p, 'c', 1, 3, R | W), "/dev/null rw");
        assert!(allowed(&p, 'c', 1, 3, R));
        assert!(allowed(&p, 'c', 1, 5, W), "/dev/zero");
        assert!(allowed(&p, 'c', 5, 2, R | W), "/dev/ptmx");
        assert!(allowed(&p, 'c', 136, 7, R | W), "a pts");
        assert!(allowed(&p, 'c', 10, 200, R | W), "tun");
        assert!(!allowed(&p, 'b', 8, 0, R), "/dev/sda r");
        assert!(!allowed(&p, 'b', 8, 0, W), "/dev/sda w");
        assert!(!allowed(&p, 'c', 1, 1, R), "/dev/mem");
        assert!(!allowed(&p, 'c', 10, 201, R));
        assert!(!allowed(&p, 'c', 4, 0, R | W), "tty0");
        // mknod of anything, but not opening it.
        assert!(allowed(&p, 'b', 8, 0, M), "mknod sda");
        assert!(allowed(&p, 'c', 1, 1, M), "mknod mem");
        assert!(!allowed(&p, 'b', 8, 0, M | R));
    }

    #[test]
    fn last_matching_rule_wins() {
        // A config allowing /dev/sda reads, then denying every block device.
        let p = program(&spec_rules(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"b","major":8,"minor":0,"access":"r"},
                {"allow":true,"type":"b","major":8,"access":"rw"},
                {"allow":false,"type":"b","major":8,"minor":16,"access":"rw"}]"#,
        ));
        assert!(allowed(&p, 'b', 8, 0, R), "/dev/sda r");
        assert!(allowed(&p, 'b', 8, 0, R | W), "8:* rw covers sda rw");
        assert!(allowed(&p, 'b', 8, 1, W), "8:* wildcard minor");
        assert!(!allowed(&p, 'b', 8, 16, R), "sdb denied after");
        assert!(!allowed(&p, 'b', 8, 16, R | W));
        assert!(allowed(&p, 'b', 8, 16, M), "the default b *:* m comes last");
        assert!(!allowed(&p, 'b', 9, 0, R));
        assert!(!allowed(&p, 'c', 8, 0, R), "type matters");
        assert!(allowed(&p, 'c', 1, 3, R | W), "defaults still apply");
    }

    #[test]
    fn access_must_be_covered_by_the_rule() {
        let p = program(&spec_rules(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":7,"minor":-1,"access":"r"}]"#,
        ));
        assert!(allowed(&p, 'c', 7, 3, R));
        assert!(!allowed(&p, 'c', 7, 3, W));
        assert!(!allowed(&p, 'c', 7, 3, R | W), "rw is not within r");
        // A partial deny after a full allow: any denied bit refuses the request.
        let p = program(&spec_rules(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":7,"minor":3,"access":"rwm"},
                {"allow":false,"type":"c","major":7,"minor":3,"access":"w"}]"#,
        ));
        assert!(allowed(&p, 'c', 7, 3, R));
        assert!(allowed(&p, 'c', 7, 3, M));
        assert!(!allowed(&p, 'c', 7, 3, W));
        assert!(!allowed(&p, 'c', 7, 3, R | W), "rw asks for the denied w");
    }

    #[test]
    fn allow_all_wildcards() {
        // `a *:* rwm` allowed (a privileged container): everything, and the program stops there.
        let p = program(&spec_rules(r#"[{"allow":true,"access":"rwm"}]"#));
        assert!(allowed(&p, 'b', 8, 0, R | W | M));
        assert!(allowed(&p, 'c', 1, 1, R));
        assert!(allowed(&p, 'c', 1, 3, R | W));
        // No rules at all: only the defaults, the rest denied.
        let p = program(&rules(None).unwrap());
        assert!(!allowed(&p, 'b', 8, 0, R));
        assert!(allowed(&p, 'c', 1, 9, R), "/dev/urandom");
        // A type-wide wildcard for block devices, char ones untouched.
        let p = program(&spec_rules(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","access":"rw"}]"#,
        ));
        assert!(allowed(&p, 'b', 259, 3, R | W));
        assert!(!allowed(&p, 'c', 4, 1, R));
        // A later deny-all wins over earlier allows, and ends the program (the defaults after it
        // are still allowed).
        let p = program(&spec_rules(
            r#"[{"allow":true,"type":"b","access":"rw"},{"allow":false,"access":"rwm"}]"#,
        ));
        assert!(!allowed(&p, 'b', 8, 0, R));
        assert!(allowed(&p, 'c', 1, 3, R | W));
    }
}
