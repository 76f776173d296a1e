//! `events [--stats] [--interval D] ID`: runc-shaped events on stdout, one JSON object a line.
//! With `--stats`, one `stats` event and exit; without, a `stats` event every interval (default
//! 5s) and an `oom` event as soon as the kernel OOM-kills a process of the container, until the
//! container stops.
use std::time::{Duration, Instant};

use sangja::{Container, Event, Status};

use crate::cli::EventsArgs;
use crate::context::{print, CliError, CmdResult, Ctx};

/// A Go duration (`5s`, `100ms`, `1m30s`, `1.5h`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {text:?}");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * secs;
        rest = &rest[u..];
    }
    Ok(Duration::from_secs_f64(total))
}

fn not_running(id: &str) -> CliError {
    CliError::Message(format!("container with id {id} is not running"))
}

fn emit(event: &Event<'_>) -> Result<(), CliError> {
    let line = serde_json::to_string(event)
        .map_err(|e| CliError::Message(format!("marshal event: {e}")))?;
    print(&format!("{line}\n"))
}

/// Print one stats event; false once the container has stopped.
fn stats_event(c: &Container) -> Result<bool, CliError> {
    match c.stats() {
        Ok(s) => {
            emit(&Event {
                typ: "stats",
                id: c.id(),
                data: Some(&s),
            })?;
            Ok(true)
        }
        Err(sangja::Error::NotRunning) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Run `events`.
pub fn run(ctx: &Ctx, args: &EventsArgs) -> CmdResult {
    let interval = parse_duration(&args.interval).map_err(CliError::Message)?;
    if interval.is_zero() {
        return Err(CliError::Message(
            "duration interval must be greater than 0".into(),
        ));
    }
    let c = Container::load(&ctx.root, &args.id)?;
    if c.status() == Status::Stopped {
        return Err(not_running(&args.id));
    }
    if args.stats {
        return if stats_event(&c)? {
            Ok(0)
        } else {
            Err(not_running(&args.id))
        };
    }
    let mut watch = c.oom_watch()?;
    loop {
        let deadline = Instant::now() + interval;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match watch.as_mut() {
                Some(w) => {
                    if w.wait(left) {
                        emit(&Event {
                            typ: "oom",
                            id: c.id(),
                            data: None,
                        })?;
                    }
                }
                None => std::thread::sleep(left),
            }
        }
        if !stats_event(&c)? {
            return Ok(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
