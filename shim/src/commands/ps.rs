//! `ps [--format table|json] ID [ps options]`: the processes of the container, from its cgroup's
//! pid list. As runc: `json` is a bare JSON array of host pids (`null` when there are none);
//! `table` runs the host's `ps` (default `-ef`) and keeps its header and the lines whose PID
//! column is one of the container's.
use std::process::Command;

use sangja::Container;

use crate::cli::PsArgs;
use crate::context::{print, CliError, CmdResult, Ctx};

/// Run `ps`.
pub fn run(ctx: &Ctx, args: &PsArgs) -> CmdResult {
    let container = Container::load(&ctx.root, &args.id)?;
    let pids = container.processes();
    match args.format.as_str() {
        "json" => {
            let text = if pids.is_empty() {
                "null".to_string()
            } else {
                serde_json::to_string(&pids)
                    .map_err(|e| CliError::Message(format!("marshal pids: {e}")))?
            };
            print(&format!("{text}\n"))?;
            Ok(0)
        }
        "table" => {
            let ps_args: Vec<&str> = if args.ps_args.is_empty() {
                vec!["-ef"]
            } else {
                args.ps_args.iter().map(String::as_str).collect()
            };
            let out = Command::new("ps").args(&ps_args).output().map_err(|e| {
                CliError::Message(format!("exec ps: {}", crate::context::os_error(&e)))
            })?;
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            if !out.status.success() {
                return Err(CliError::Message(format!("{}: {text}", out.status)));
            }
            print(&filter_table(&text, &pids)?)?;
            Ok(0)
        }
        other => Err(CliError::Message(format!(
            "invalid format option {other:?}"
        ))),
    }
}

/// The header of `ps` output and the lines whose PID column is in `pids`.
fn filter_table(text: &str, pids: &[i32]) -> Result<String, CliError> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let col = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or_else(|| CliError::Message("couldn't find PID field in ps output".into()))?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_keeps_the_header_and_the_containers_lines() {
        let ps = "UID        PID  PPID  C STIME TTY          TIME CMD\n\
                  root         1     0  0 10:00 ?        00:00:01 init\n\
                  root      1015     1  0 10:07 ?        00:00:00 sleep 1000\n\
                  root      1025  1015  0 10:07 ?        00:00:00 sleep 1000\n";
        let t = filter_table(ps, &[1015, 1025]).unwrap_or_default();
        assert_eq!(t.lines().count(), 3);
        assert!(t.starts_with("UID        PID"));
        assert!(!t.contains(" init"));
        assert!(filter_table("USER COMMAND\n", &[1]).is_err());
    }
}
