//! Signal names and numbers as `kill` accepts them.
//!
//! runc's `kill ID [SIGNAL]` takes a name with or without the `SIG` prefix, in any case
//! (`KILL`, `SIGKILL`, `sigkill`) or a number (`9`). Clients use both forms: containerd and
//! podman send numbers (`kill ID 15`), people type names. We accept the same, plus the
//! real-time forms `RTMIN`, `RTMIN+n` and `RTMAX-n` that `kill -l` prints (Docker's
//! `--stop-signal` allows them too).
//!
//! Differences from runc 1.1.5, which passes any integer through to `kill(2)`: a number outside
//! `0..=SIGRTMAX` is refused here as `unknown signal "65"` instead of failing later with
//! `unable to signal init: invalid argument`. `0` is accepted as runc does (it probes whether
//! the process exists).

/// A signal that is neither a known name nor a number in range.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// The text as given by the user (quoted in the message, as runc does).
    #[error("unknown signal {0:?}")]
    Unknown(String),
}

/// Standard signals (1..=31 on Linux) by canonical name, with the aliases glibc also knows.
///
/// The canonical name of each number comes first, so [`signal_name`] finds it before an alias.
const NAMES: &[(&str, i32)] = &[
    ("SIGHUP", libc::SIGHUP),
    ("SIGINT", libc::SIGINT),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGILL", libc::SIGILL),
    ("SIGTRAP", libc::SIGTRAP),
    ("SIGABRT", libc::SIGABRT),
    ("SIGIOT", libc::SIGIOT),
    ("SIGBUS", libc::SIGBUS),
    ("SIGFPE", libc::SIGFPE),
    ("SIGKILL", libc::SIGKILL),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGALRM", libc::SIGALRM),
    ("SIGTERM", libc::SIGTERM),
    ("SIGSTKFLT", libc::SIGSTKFLT),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGTSTP", libc::SIGTSTP),
    ("SIGTTIN", libc::SIGTTIN),
    ("SIGTTOU", libc::SIGTTOU),
    ("SIGURG", libc::SIGURG),
    ("SIGXCPU", libc::SIGXCPU),
    ("SIGXFSZ", libc::SIGXFSZ),
    ("SIGVTALRM", libc::SIGVTALRM),
    ("SIGPROF", libc::SIGPROF),
    ("SIGWINCH", libc::SIGWINCH),
    ("SIGIO", libc::SIGIO),
    ("SIGPOLL", libc::SIGPOLL),
    ("SIGPWR", libc::SIGPWR),
    ("SIGSYS", libc::SIGSYS),
];

/// `SIGRTMIN`, `SIGRTMIN+1`, … as `kill -l` names the lower half of the real-time range.
const RTMIN_PLUS: [&str; 16] = [
    "SIGRTMIN",
    "SIGRTMIN+1",
    "SIGRTMIN+2",
    "SIGRTMIN+3",
    "SIGRTMIN+4",
    "SIGRTMIN+5",
    "SIGRTMIN+6",
    "SIGRTMIN+7",
    "SIGRTMIN+8",
    "SIGRTMIN+9",
    "SIGRTMIN+10",
    "SIGRTMIN+11",
    "SIGRTMIN+12",
    "SIGRTMIN+13",
    "SIGRTMIN+14",
    "SIGRTMIN+15",
];

/// `SIGRTMAX`, `SIGRTMAX-1`, … as `kill -l` names the upper half of the real-time range.
const RTMAX_MINUS: [&str; 16] = [
    "SIGRTMAX",
    "SIGRTMAX-1",
    "SIGRTMAX-2",
    "SIGRTMAX-3",
    "SIGRTMAX-4",
    "SIGRTMAX-5",
    "SIGRTMAX-6",
    "SIGRTMAX-7",
    "SIGRTMAX-8",
    "SIGRTMAX-9",
    "SIGRTMAX-10",
    "SIGRTMAX-11",
    "SIGRTMAX-12",
    "SIGRTMAX-13",
    "SIGRTMAX-14",
    "SIGRTMAX-15",
];

/// Parse a signal as `kill` takes it: `KILL`, `SIGKILL`, `kill`, `9`, `RTMIN`, `RTMIN+3`, `SIGRTMAX-1`.
///
/// Names are case-insensitive and the `SIG` prefix is optional. Numbers must lie in
/// `0..=SIGRTMAX` (`0` only checks that the target exists, as with `kill(2)`). The real-time
/// range is the C library's (`SIGRTMIN` 34 and `SIGRTMAX` 64 with glibc), so a number names the
/// same signal the container's processes see.
pub fn parse_signal(s: &str) -> Result<i32, SignalError> {
    let unknown = || SignalError::Unknown(s.to_string());
    let t = s;
    if t.starts_with(|c: char| c.is_ascii_digit() || c == '+') {
        return match t.parse::<i32>() {
            Ok(n) if (0..=libc::SIGRTMAX()).contains(&n) => Ok(n),
            _ => Err(unknown()),
        };
    }
    let upper = t.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = NAMES.iter().find(|(full, _)| &full[3..] == name) {
        return Ok(n);
    }
    let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let offset = |rest: &str| -> Option<i32> {
        if rest.is_empty() {
            return Some(0);
        }
        let digits = rest.strip_prefix(['+', '-'])?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<i32>().ok().filter(|&k| k <= rtmax - rtmin)
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        if rest.starts_with('-') {
            return Err(unknown());
        }
        return offset(rest).map(|k| rtmin + k).ok_or_else(unknown);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        if rest.starts_with('+') {
            return Err(unknown());
        }
        return offset(rest).map(|k| rtmax - k).ok_or_else(unknown);
    }
    Err(unknown())
}

/// The canonical name of a signal number (`9` → `SIGKILL`, `35` → `SIGRTMIN+1`), or `None`.
///
/// Used to print signals readably in logs and errors. Real-time signals are named as `kill -l`
/// names them: `SIGRTMIN+n` for the lower half of the range, `SIGRTMAX-n` for the upper half.
pub fn signal_name(n: i32) -> Option<&'static str> {
    if let Some(&(name, _)) = NAMES.iter().find(|&&(_, num)| num == n) {
        return Some(name);
    }
    let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if !(rtmin..=rtmax).contains(&n) {
        return None;
    }
    let half = (rtmax - rtmin) / 2;
    let index = |k: i32| usize::try_from(k).ok();
    if n - rtmin <= half {
        index(n - rtmin).and_then(|i| RTMIN_PLUS.get(i)).copied()
    } else {
        index(rtmax - n).and_then(|i| RTMAX_MINUS.get(i)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_and_without_prefix_in_any_case() {
        for s in ["KILL", "SIGKILL", "kill", "sigkill", "SigKill", "9"] {
            assert_eq!(parse_signal(s).ok(), Some(9), "{s}");
        }
        assert_eq!(parse_signal("TERM").ok(), Some(15));
        assert_eq!(parse_signal("hup").ok(), Some(1));
        assert_eq!(parse_signal("SIGUSR1").ok(), Some(10));
        assert_eq!(parse_signal("winch").ok(), Some(28));
        assert_eq!(parse_signal("IOT").ok(), Some(6));
        assert_eq!(parse_signal("CLD").ok(), Some(17));
    }

    #[test]
    fn numbers_in_range() {
        assert_eq!(parse_signal("0").ok(), Some(0));
        assert_eq!(parse_signal("1").ok(), Some(1));
        assert_eq!(parse_signal("15").ok(), Some(15));
        assert_eq!(parse_signal("64").ok(), Some(64));
        assert_eq!(parse_signal("+9").ok(), Some(9));
        for bad in ["65", "-9", "-1", "99999999999", "9x", ""] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn realtime_forms() {
        assert_eq!(parse_signal("RTMIN").ok(), Some(34));
        assert_eq!(parse_signal("SIGRTMIN").ok(), Some(34));
        assert_eq!(parse_signal("rtmin+1").ok(), Some(35));
        assert_eq!(parse_signal("SIGRTMIN+30").ok(), Some(64));
        assert_eq!(parse_signal("RTMAX").ok(), Some(64));
        assert_eq!(parse_signal("sigrtmax-2").ok(), Some(62));
        assert_eq!(parse_signal("RTMAX-30").ok(), Some(34));
        for bad in [
            "RTMIN+31", "RTMAX-31", "RTMIN-1", "RTMAX+1", "RTMIN+", "RTMIN+x", "RTMIN+-1", "RTMINX",
        ] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_names_quote_the_input() {
        let err = parse_signal("FOO").err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("unknown signal \"FOO\""));
        assert!(parse_signal("SIG").is_err());
        assert!(parse_signal("sigusr1x").is_err());
    }

    #[test]
    fn names_of_numbers() {
        assert_eq!(signal_name(9), Some("SIGKILL"));
        assert_eq!(signal_name(6), Some("SIGABRT"));
        assert_eq!(signal_name(17), Some("SIGCHLD"));
        assert_eq!(signal_name(29), Some("SIGIO"));
        assert_eq!(signal_name(34), Some("SIGRTMIN"));
        assert_eq!(signal_name(35), Some("SIGRTMIN+1"));
        assert_eq!(signal_name(49), Some("SIGRTMIN+15"));
        assert_eq!(signal_name(50), Some("SIGRTMAX-14"));
        assert_eq!(signal_name(64), Some("SIGRTMAX"));
        assert_eq!(signal_name(0), None);
        assert_eq!(signal_name(32), None);
        assert_eq!(signal_name(65), None);
    }

    #[test]
    fn every_name_round_trips() {
        for n in (1..=31).chain(34..=64) {
            let name = signal_name(n);
            assert!(name.is_some(), "{n}");
            assert_eq!(
                name.map(parse_signal).and_then(Result::ok),
                Some(n),
                "{name:?}"
            );
        }
    }
}
