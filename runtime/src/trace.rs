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
    /// (name, start ns, end ns) of steps that overlap the phases (the systemd unit's start,
    /// while the init sets up).
    pub spans: Vec<(&'static str, u64, u64)>,
}

impl Trace {
    /// A trace whose first instant is "begin".
    pub fn start() -> Trace {
        Trace {
            phases: vec![("begin", now_ns())],
            spans: Vec::new(),
        }
    }

    /// Record that `phase` ended now.
    pub fn mark(&mut self, phase: &'static str) {
        self.phases.push((phase, now_ns()));
    }

    /// Record a step from `start` to `end` (ns) that overlaps the phases.
    pub fn span(&mut self, name: &'static str, start: u64, end: u64) {
        self.spans.push((name, start, end));
    }

    /// Record that `phase` ended at `ns` (an instant taken elsewhere, e.g. in the init).
    pub fn mark_at(&mut self, phase: &'static str, ns: u64) {
        self.phases.push((phase, ns));
    }

    /// One JSON line: `{"command":…,"id":…,"clock":"monotonic","begin_ns":…,"phases":[{"phase":…,"us":…}],"total_us":…}`
    /// where `us` is each phase's duration since the previous instant; with spans, also
    /// `"spans":[{"span":…,"us":…}]`.
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
        let mut line = serde_json::json!({
            "command": command,
            "id": id,
            "clock": "monotonic",
            "begin_ns": begin,
            "phases": phases,
            "total_us": total,
        });
        if !self.spans.is_empty() {
            let spans: Vec<serde_json::Value> = self
                .spans
                .iter()
                .map(|(name, a, b)| {
                    serde_json::json!({ "span": name, "us": b.saturating_sub(*a) as f64 / 1000.0 })
                })
                .collect();
            line["spans"] = serde_json::Value::from(spans);
        }
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_between_consecutive_instants() {
        let mut t = Trace {
            phases: vec![("begin", 1_000), ("parse", 3_000), ("ready", 10_000)],
            spans: Vec::new(),
        };
        assert!(!t.to_json_line("create", "c1").contains("spans"));
        t.span("parent:systemd-unit", 4_000, 6_500);
        let v: serde_json::Value =
            serde_json::from_str(&t.to_json_line("create", "c1")).expect("json");
        assert_eq!(v["phases"][0]["phase"], "parse");
        assert_eq!(v["phases"][0]["us"], 2.0);
        assert_eq!(v["phases"][1]["us"], 7.0);
        assert_eq!(v["total_us"], 9.0);
        assert_eq!(v["spans"][0]["span"], "parent:systemd-unit");
        assert_eq!(v["spans"][0]["us"], 2.5);
        assert!(now_ns() > 0);
    }
}
