//! Opt-in per-phase timings of a lifecycle command (`sangja --trace FILE`): monotonic timestamps,
//! so phases measured in the init and in the runtime line up. Off by default: nothing is
//! recorded and no clock is read unless asked for.

/// `CLOCK_MONOTONIC` in nanoseconds (async-signal-safe: usable in the init).
pub fn now_ns() -> u64 {
    crate::sys::monotonic_ns()
}

/// Named instants of one command, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// (phase, monotonic ns when it ended).
    pub phases: Vec<(&'static str, u64)>,
}

impl Trace {
    /// A trace whose first instant is "begin".
    pub fn start() -> Trace {
        Trace {
            phases: vec![("begin", now_ns())],
        }
    }

    /// Record that `phase` ended now.
    pub fn mark(&mut self, phase: &'static str) {
        self.phases.push((phase, now_ns()));
    }

    /// Record that `phase` ended at `ns` (an instant taken elsewhere, e.g. in the init).
    pub fn mark_at(&mut self, phase: &'static str, ns: u64) {
        self.phases.push((phase, ns));
    }

    /// One JSON line: `{"command":…,"id":…,"clock":"monotonic","begin_ns":…,"phases":[{"phase":…,"us":…}],"total_us":…}`
    /// where `us` is each phase's duration since the previous instant.
    pub fn to_json_line(&self, command: &str, id: &str) -> String {
        let begin = self.phases.first().map_or(0, |p| p.1);
        let mut prev = begin;
        let phases: Vec<serde_json::Value> = self
            .phases
            .iter()
            .skip(1)
            .map(|(name, ns)| {
                let us = ns.saturating_sub(prev) as f64 / 1000.0;
                prev = *ns;
                serde_json::json!({ "phase": name, "us": us })
            })
            .collect();
        let total = prev.saturating_sub(begin) as f64 / 1000.0;
        serde_json::json!({
            "command": command,
            "id": id,
            "clock": "monotonic",
            "begin_ns": begin,
            "phases": phases,
            "total_us": total,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_between_consecutive_instants() {
        let t = Trace {
            phases: vec![("begin", 1_000), ("parse", 3_000), ("ready", 10_000)],
        };
        let v: serde_json::Value =
            serde_json::from_str(&t.to_json_line("create", "c1")).expect("json");
        assert_eq!(v["phases"][0]["phase"], "parse");
        assert_eq!(v["phases"][0]["us"], 2.0);
        assert_eq!(v["phases"][1]["us"], 7.0);
        assert_eq!(v["total_us"], 9.0);
        assert!(now_ns() > 0);
    }
}
