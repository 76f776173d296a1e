//! What the transient unit is told, as runc tells it: the unit's own properties
//! ([`unit_properties`]: slice, `Delegate`, the init's pid, accounting), the resources as unit
//! properties ([`resource_properties`]) so that systemd keeps them (a `daemon-reload` re-applies
//! a unit's properties over its cgroup files), and the `org.systemd.property.*` annotations
//! ([`annotation_properties`]).
//!
//! Resources are mapped from the cgroup2 writes the plan already made (`memory.max`,
//! `cpu.weight`, `cpu.max`, `pids.max`, `cpuset.*`, …), so each value is converted once (shares to
//! weight, swap to `memory.swap.max`) and the unit and the files always agree; what has no unit
//! property (I/O limits, hugetlb, rdma, …) is only written to the files, as with runc.
use std::collections::HashMap;

use crate::cgroups::devices::Rule;
use crate::cgroups::error::CgroupError;
use crate::cgroups::files::Write;
use crate::dbus::Value;

use super::path::Unit;

/// systemd versions that first accept a property (runc's gates).
pub const V_DEVICE_MAJOR: u32 = 240;
const V_CPU_PERIOD: u32 = 242;
const V_CPUSET: u32 = 244;
const V_CPU_IDLE: u32 = 252;
const V_OOM_POLICY: u32 = 253;

/// The annotation prefix runc reads unit properties from.
pub const ANNOTATION_PREFIX: &str = "org.systemd.property.";

fn prop(name: &str, v: Value) -> (String, Value) {
    (name.to_string(), v)
}

/// The unit's own properties: description, slice and delegation (a scope), the init `pid`,
/// accounting on, no default dependencies.
pub fn unit_properties(unit: &Unit, id: &str, pid: Option<u32>) -> Vec<(String, Value)> {
    let mut out = vec![prop(
        "Description",
        Value::Str(format!("sangja container {id}")),
    )];
    if unit.is_slice() {
        out.push(prop("Wants", Value::Strs(vec![unit.slice.clone()])));
    } else {
        out.push(prop("Slice", Value::Str(unit.slice.clone())));
        out.push(prop("Delegate", Value::Bool(true)));
    }
    if let Some(pid) = pid {
        out.push(prop("PIDs", Value::U32s(vec![pid])));
    }
    for a in [
        "MemoryAccounting",
        "CPUAccounting",
        "IOAccounting",
        "TasksAccounting",
    ] {
        out.push(prop(a, Value::Bool(true)));
    }
    out.push(prop("DefaultDependencies", Value::Bool(false)));
    out
}

/// A unit property and the systemd versions that take it: `since <= version < before` (a version
/// of 0 is unknown and takes only the ungated).
#[derive(Debug, Clone, PartialEq)]
pub struct Gated {
    /// The first version that takes it (0: all).
    pub since: u32,
    /// The first version that no longer gets it (`u32::MAX`: none).
    pub before: u32,
    /// Name and value.
    pub prop: (String, Value),
}

fn always(name: &str, v: Value) -> Gated {
    since(0, name, v)
}

fn since(version: u32, name: &str, v: Value) -> Gated {
    Gated {
        since: version,
        before: u32::MAX,
        prop: prop(name, v),
    }
}

/// Do any of `gated` depend on systemd's version (so it must be asked first)?
pub fn needs_version(gated: &[Gated]) -> bool {
    gated.iter().any(|g| g.since > 0 || g.before < u32::MAX)
}

/// The properties of `gated` that a systemd of `version` takes.
pub fn for_version(gated: Vec<Gated>, version: u32) -> Vec<(String, Value)> {
    gated
        .into_iter()
        .filter(|g| g.since <= version && version < g.before)
        .map(|g| g.prop)
        .collect()
}

/// `max` or a number, as a `t` (max: `u64::MAX`, systemd's infinity).
fn limit(v: &str, field: &str) -> Result<u64, CgroupError> {
    if v == "max" {
        return Ok(u64::MAX);
    }
    v.parse().map_err(|_| CgroupError::Invalid {
        field: field.to_string(),
        reason: format!("{v:?} is not a number or \"max\""),
    })
}

/// A cpuset list (`0-3,8`) as systemd's bitmask: little-endian bytes, bit i of byte i/8.
pub fn cpuset_bits(list: &str, field: &str) -> Result<Vec<u8>, CgroupError> {
    let bad = |why: String| CgroupError::Invalid {
        field: field.to_string(),
        reason: why,
    };
    let mut bits = Vec::new();
    for part in list.trim().split(',').map(str::trim) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| bad(format!("{list:?}: {part:?} is not a number or range")))
        };
        let (a, b) = (num(a)?, num(b)?);
        if a > b || b >= 1 << 16 {
            return Err(bad(format!("{list:?}: invalid range {part:?}")));
        }
        if bits.len() <= b / 8 {
            bits.resize(b / 8 + 1, 0);
        }
        for i in a..=b {
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    Ok(bits)
}

/// `cpu.max` (`quota period`) as `CPUQuotaPerSecUSec` (rounded up to a multiple of 10 ms per second,
/// which is what systemd can say) and `CPUQuotaPeriodUSec`, with the quota the file must get to
/// agree with the unit after that rounding.
fn cpu_max(value: &str, out: &mut Vec<Gated>) -> Option<String> {
    let mut parts = value.split_whitespace();
    let (quota, period) = (parts.next()?, parts.next());
    let period_n = period.and_then(|p| p.parse::<u64>().ok());
    if let Some(p) = period_n {
        out.push(since(V_CPU_PERIOD, "CPUQuotaPeriodUSec", Value::U64(p)));
    }
    let Ok(q) = quota.parse::<u64>() else {
        out.push(always("CPUQuotaPerSecUSec", Value::U64(u64::MAX)));
        return None;
    };
    let p = period_n.filter(|&p| p > 0).unwrap_or(100_000);
    let mut per_sec = q.saturating_mul(1_000_000) / p;
    let mut adjusted = None;
    if per_sec % 10_000 != 0 {
        per_sec = (per_sec / 10_000 + 1) * 10_000;
        let q = per_sec.saturating_mul(p) / 1_000_000;
        adjusted = Some(match period {
            Some(period) => format!("{q} {period}"),
            None => q.to_string(),
        });
    }
    out.push(always("CPUQuotaPerSecUSec", Value::U64(per_sec)));
    adjusted
}

/// The unit properties for the cgroup2 `writes` (those in directory `v2`), each with the systemd
/// versions that take it ([`for_version`] picks them once the version is known): everything is
/// converted and checked here, before the unit exists. `cpu.max` writes are changed where the
/// unit's rounding changes the quota.
pub fn resource_properties(writes: &mut [Write], v2: usize) -> Result<Vec<Gated>, CgroupError> {
    let mut out = Vec::new();
    let idle = writes
        .iter()
        .any(|w| w.dir == v2 && w.w.file == "cpu.idle" && w.w.value.trim() == "1");
    for w in writes.iter_mut().filter(|w| w.dir == v2) {
        let (file, v, field) = (&*w.w.file, w.w.value.trim(), &*w.w.field);
        let named = match file {
            "memory.max" => Some("MemoryMax"),
            "memory.low" => Some("MemoryLow"),
            "memory.high" => Some("MemoryHigh"),
            "memory.min" => Some("MemoryMin"),
            "memory.swap.max" => Some("MemorySwapMax"),
            "pids.max" => Some("TasksMax"),
            _ => None,
        };
        if let Some(name) = named {
            let n = limit(v, field)?;
            let n = if name == "TasksMax" { n.max(1) } else { n };
            out.push(always(name, Value::U64(n)));
            continue;
        }
        match file {
            // An idle cgroup is weight 0 to systemd 252 on; older ones get the weight.
            "cpu.weight" => out.push(Gated {
                before: if idle { V_CPU_IDLE } else { u32::MAX },
                ..always("CPUWeight", Value::U64(limit(v, field)?))
            }),
            "cpu.idle" if idle => out.push(since(V_CPU_IDLE, "CPUWeight", Value::U64(0))),
            "cpu.max" => {
                if let Some(q) = cpu_max(v, &mut out) {
                    w.w.value = q;
                }
            }
            "cpuset.cpus" => out.push(since(
                V_CPUSET,
                "AllowedCPUs",
                Value::Bytes(cpuset_bits(v, field)?),
            )),
            "cpuset.mems" => out.push(since(
                V_CPUSET,
                "AllowedMemoryNodes",
                Value::Bytes(cpuset_bits(v, field)?),
            )),
            "memory.oom.group" => {
                let policy = if v == "1" { "kill" } else { "continue" };
                out.push(since(V_OOM_POLICY, "OOMPolicy", Value::Str(policy.into())));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The device rules as `DevicePolicy` and `DeviceAllow` (the kernel enforces them through our
/// own eBPF program; the unit says the same so systemd does not open what the program closes).
/// Only allow rules of a deny-all list can be said to systemd; a list that ends up allowing all
/// is `auto`.
pub fn device_properties(rules: &[Rule], version: u32) -> Vec<(String, Value)> {
    let allow_all = rules
        .iter()
        .rev()
        .find(|r| r.typ == 'a')
        .is_some_and(|r| r.allow);
    let mut out = vec![prop("DeviceAllow", Value::StrPairs(Vec::new()))];
    if allow_all {
        out.push(prop("DevicePolicy", Value::Str("auto".into())));
        return out;
    }
    out.push(prop("DevicePolicy", Value::Str("strict".into())));
    let mut allow = Vec::new();
    for r in rules.iter().filter(|r| r.allow && r.typ != 'a') {
        let kind = if r.typ == 'b' { "block" } else { "char" };
        let perms: String = r.access.chars().filter(|c| "rwm".contains(*c)).collect();
        let path = match (r.major, r.minor) {
            (None, None) => format!("{kind}-*"),
            (Some(maj), None) if version >= V_DEVICE_MAJOR => format!("{kind}-{maj}"),
            (Some(maj), Some(min)) => format!("/dev/{kind}/{maj}:{min}"),
            // `*:m`, or a whole major on an old systemd: the eBPF program still allows it.
            _ => continue,
        };
        allow.push((path, perms));
    }
    out.push(prop("DeviceAllow", Value::StrPairs(allow)));
    out
}

fn annotation_error(key: &str, reason: String) -> CgroupError {
    CgroupError::Invalid {
        field: format!("annotations.{key}"),
        reason,
    }
}

/// `org.systemd.property.<Name>` annotations as unit properties. The value is in GVariant text
/// form, as runc reads it: `true`, `'text'`, `uint64 5`/`@t 5` (also `u`, `i`, `x`), a bare
/// integer (`i`), `['a', 'b']`; a name ending in `Sec` takes seconds and becomes `…USec`.
pub fn annotation_properties(
    annotations: Option<&HashMap<String, String>>,
) -> Result<Vec<(String, Value)>, CgroupError> {
    let mut keys: Vec<&String> = annotations
        .into_iter()
        .flat_map(|a| a.keys())
        .filter(|k| k.starts_with(ANNOTATION_PREFIX))
        .collect();
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let name = &key[ANNOTATION_PREFIX.len()..];
        let text = annotations
            .and_then(|a| a.get(key))
            .map_or("", |v| v.as_str());
        if name.len() < 3 {
            return Err(annotation_error(key, "name incorrect: too short".into()));
        }
        if !name.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(annotation_error(
                key,
                "name incorrect: contains non-alphabetic character".into(),
            ));
        }
        let value = parse_gvariant(text)
            .ok_or_else(|| annotation_error(key, format!("value {text:?}: parse error")))?;
        let sec = name
            .strip_suffix("Sec")
            .filter(|stem| stem.ends_with(|c: char| c.is_ascii_lowercase()));
        match sec {
            Some(stem) => {
                let n = match value {
                    Value::U64(n) => n,
                    Value::U32(n) => u64::from(n),
                    Value::I32(n) if n >= 0 => n as u64,
                    Value::I64(n) if n >= 0 => n as u64,
                    _ => {
                        return Err(annotation_error(
                            key,
                            "value parse error: not a number".into(),
                        ))
                    }
                };
                out.push((
                    format!("{stem}USec"),
                    Value::U64(n.saturating_mul(1_000_000)),
                ));
            }
            None => out.push((name.to_string(), value)),
        }
    }
    Ok(out)
}

/// A GVariant text value of the types unit properties use (see [`annotation_properties`]).
fn parse_gvariant(text: &str) -> Option<Value> {
    let t = text.trim();
    match t {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    if let Some(s) = quoted(t) {
        return Some(Value::Str(s));
    }
    if let Some(list) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let items: Option<Vec<String>> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(quoted)
            .collect();
        return items.map(Value::Strs);
    }
    let (ty, num) = match t.split_once(char::is_whitespace) {
        Some((ty, num)) => (ty, num.trim()),
        None => ("int32", t),
    };
    match ty {
        "uint64" | "@t" => num.parse().ok().map(Value::U64),
        "uint32" | "@u" => num.parse().ok().map(Value::U32),
        "int64" | "@x" => num.parse().ok().map(Value::I64),
        "int32" | "@i" => num.parse().ok().map(Value::I32),
        _ => None,
    }
}

/// `'text'` or `"text"` (no escapes inside).
fn quoted(t: &str) -> Option<String> {
    ['\'', '"'].iter().find_map(|q| {
        t.strip_prefix(*q)
            .and_then(|r| r.strip_suffix(*q))
            .filter(|s| !s.contains(*q) && !s.contains('\\'))
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests;
