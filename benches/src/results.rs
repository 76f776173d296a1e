//! Every sample measured, named by group, subject and metric, and the failures seen.

use crate::stats::Stats;

/// Named samples: `group` (lifecycle, rss, floor, vm, scale, preload, clients), `subject` (a runtime, "floor",
/// "vm"), `metric`.
#[derive(Debug, Clone)]
pub struct Series {
    pub group: String,
    pub subject: String,
    pub metric: String,
    pub values: Vec<f64>,
}

impl Series {
    pub fn unit(&self) -> &'static str {
        match self.group.as_str() {
            "rss" => "MiB",
            "seccomp" if self.metric == "instructions" => "instructions",
            "seccomp" => "µs",
            _ if self.metric.ends_with("containers/s") => "containers/s",
            _ => "ms",
        }
    }
}

/// Everything measured, plus failures (a failed command is counted and reported, never fatal).
#[derive(Debug, Default)]
pub struct Results {
    pub series: Vec<Series>,
    pub failures: Vec<(String, String, String)>,
}

impl Results {
    pub fn push(&mut self, group: &str, subject: &str, metric: &str, value: f64) {
        if let Some(s) = self
            .series
            .iter_mut()
            .find(|s| s.group == group && s.subject == subject && s.metric == metric)
        {
            s.values.push(value);
            return;
        }
        self.series.push(Series {
            group: group.into(),
            subject: subject.into(),
            metric: metric.into(),
            values: vec![value],
        });
    }

    pub fn fail(&mut self, subject: &str, what: &str, msg: String) {
        if self.failures.iter().filter(|f| f.0 == subject).count() < 3 {
            eprintln!("\n{subject} {what} failed: {msg}");
        }
        self.failures.push((subject.into(), what.into(), msg));
    }

    pub fn stats(&self, group: &str, subject: &str, metric: &str) -> Option<Stats> {
        self.series
            .iter()
            .find(|s| s.group == group && s.subject == subject && s.metric == metric)
            .and_then(|s| Stats::of(&s.values))
    }

    pub fn median(&self, group: &str, subject: &str, metric: &str) -> Option<f64> {
        self.stats(group, subject, metric).map(|s| s.median)
    }
}
