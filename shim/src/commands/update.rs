//! `update [flags] ID`: change the resource limits of a live container, with runc's flags, or a
//! whole `linux.resources` JSON document from `-r FILE` or `-r -` (stdin), in which case the
//! other flags are ignored (as runc). Only what is given changes; zero means unchanged.
use std::io::Read;

use sangja::Container;
use serde_json::{json, Map, Value};

use crate::cli::UpdateArgs;
use crate::context::{CliError, CmdResult, Ctx};

/// Run `update`.
pub fn run(ctx: &Ctx, args: &UpdateArgs) -> CmdResult {
    let container = Container::load(&ctx.root, &args.id)?;
    let resources = match &args.resources {
        Some(src) => {
            let mut data = Vec::new();
            let read = if src == "-" {
                std::io::stdin().read_to_end(&mut data)
            } else {
                std::fs::File::open(src).and_then(|mut f| f.read_to_end(&mut data))
            };
            read.map_err(|e| {
                CliError::Message(format!("open {src}: {}", crate::context::os_error(&e)))
            })?;
            sangja::parse_resources(&data)?
        }
        None => {
            if args.l3_cache_schema.is_some() || args.mem_bw_schema.is_some() {
                return Err(CliError::Message(
                    "Intel RDT is not supported by sangja".into(),
                ));
            }
            let doc = from_flags(args)?;
            sangja::parse_resources(doc.to_string().as_bytes())?
        }
    };
    container.update(&resources)?;
    Ok(0)
}

fn bad(flag: &str, value: &str, why: impl std::fmt::Display) -> CliError {
    CliError::Message(format!("invalid value for {flag}: {value:?}: {why}"))
}

fn int<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, CliError>
where
    T::Err: std::fmt::Display,
{
    v.trim().parse().map_err(|e| bad(flag, v, e))
}

/// A byte size as runc's `--memory` takes it (go-units' `RAMInBytes`: `1024`, `512k`, `1.5g`,
/// `100MiB`, binary multiples), or `-1`.
pub fn ram_in_bytes(flag: &str, v: &str) -> Result<i64, CliError> {
    let s = v.trim();
    if s == "-1" {
        return Ok(-1);
    }
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(num_end);
    let num: f64 = num
        .parse()
        .map_err(|_| bad(flag, v, "not a size (e.g. 512m)"))?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad(flag, v, "unknown unit")),
    };
    Ok((num * mult) as i64)
}

/// The flags as a `linux.resources` JSON document (only those given).
fn from_flags(a: &UpdateArgs) -> Result<Value, CliError> {
    let mut memory = Map::new();
    let mut cpu = Map::new();
    let mut r = Map::new();
    let mem = [
        ("--memory", &a.memory, "limit"),
        ("--memory-reservation", &a.memory_reservation, "reservation"),
        ("--memory-swap", &a.memory_swap, "swap"),
    ];
    for (flag, v, key) in mem {
        if let Some(v) = v {
            memory.insert(key.into(), json!(ram_in_bytes(flag, v)?));
        }
    }
    let unsigned = [
        ("--cpu-share", &a.cpu_share, "shares"),
        ("--cpu-period", &a.cpu_period, "period"),
        ("--cpu-rt-period", &a.cpu_rt_period, "realtimePeriod"),
    ];
    for (flag, v, key) in unsigned {
        if let Some(v) = v {
            cpu.insert(key.into(), json!(int::<u64>(flag, v)?));
        }
    }
    let signed = [
        ("--cpu-quota", &a.cpu_quota, "quota"),
        ("--cpu-rt-runtime", &a.cpu_rt_runtime, "realtimeRuntime"),
    ];
    for (flag, v, key) in signed {
        if let Some(v) = v {
            cpu.insert(key.into(), json!(int::<i64>(flag, v)?));
        }
    }
    if let Some(c) = &a.cpuset_cpus {
        cpu.insert("cpus".into(), json!(c));
    }
    if let Some(m) = &a.cpuset_mems {
        cpu.insert("mems".into(), json!(m));
    }
    if !memory.is_empty() {
        r.insert("memory".into(), Value::Object(memory));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(v) = &a.pids_limit {
        r.insert(
            "pids".into(),
            json!({"limit": int::<i64>("--pids-limit", v)?}),
        );
    }
    if let Some(v) = &a.blkio_weight {
        r.insert(
            "blockIO".into(),
            json!({"weight": int::<u16>("--blkio-weight", v)?}),
        );
    }
    Ok(Value::Object(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_runcs() {
        let ok = |v: &str| ram_in_bytes("--memory", v).ok();
        assert_eq!(ok("1024"), Some(1024));
        assert_eq!(ok("100M"), Some(100 * 1024 * 1024));
        assert_eq!(ok("200m"), Some(200 * 1024 * 1024));
        assert_eq!(ok("1.5g"), Some(1536 * 1024 * 1024));
        assert_eq!(ok("64KiB"), Some(64 * 1024));
        assert_eq!(ok("2 GB"), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(ok("-1"), Some(-1));
        assert_eq!(ok("lots"), None);
        assert_eq!(ok("5x"), None);
    }

    #[test]
    fn flags_become_a_resources_document() {
        let a = UpdateArgs {
            id: "c".into(),
            resources: None,
            blkio_weight: Some("300".into()),
            cpu_period: Some("100000".into()),
            cpu_quota: Some("-1".into()),
            cpu_share: Some("512".into()),
            cpu_rt_period: None,
            cpu_rt_runtime: None,
            cpuset_cpus: Some("0".into()),
            cpuset_mems: None,
            memory: Some("100M".into()),
            memory_reservation: None,
            memory_swap: Some("-1".into()),
            pids_limit: Some("50".into()),
            l3_cache_schema: None,
            mem_bw_schema: None,
        };
        let v = from_flags(&a).unwrap_or_default();
        assert_eq!(
            v,
            json!({
                "memory": {"limit": 104857600, "swap": -1},
                "cpu": {"shares": 512, "period": 100000, "quota": -1, "cpus": "0"},
                "pids": {"limit": 50},
                "blockIO": {"weight": 300}
            })
        );
        let a = UpdateArgs {
            pids_limit: Some("many".into()),
            ..a
        };
        let e = from_flags(&a).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("--pids-limit")));
    }
}
