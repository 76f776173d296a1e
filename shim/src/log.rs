//! The `log::Log` sink: runc's (logrus's) line shapes, to stderr or appended to `--log FILE`.
//!
//! containerd and conmon pass `--log FILE --log-format json` and, when a call fails, read the last
//! `"level":"error"` line of that file to show users why. So the shapes follow logrus exactly:
//!
//! ```text
//! json: {"level":"error","msg":"container does not exist","time":"2026-11-25T09:21:05.123456789Z"}
//! text: time="2026-11-25T09:21:05.123456789Z" level=error msg="container does not exist"
//! ```
//!
//! Each record is written with one `write` on an `O_APPEND` descriptor, so lines from concurrent
//! runtime invocations sharing a file never interleave.
use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ::log::{Level, LevelFilter, Metadata, Record};

/// Line shape selected by `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// logrus's text formatter: `time="…" level=… msg="…"`.
    Text,
    /// logrus's JSON formatter: `{"level":…,"msg":…,"time":…}`, keys sorted as Go sorts them.
    Json,
}

impl Format {
    /// Parse `--log-format`; runc's wording on an unknown value.
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "" | "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            other => Err(format!("invalid log-format: {other}")),
        }
    }
}

/// Where the lines go.
#[derive(Debug)]
enum Sink {
    /// The process's stderr (no `--log`).
    Stderr,
    /// The `--log` file, opened for append.
    File(File),
}

/// The logger installed for the whole run of the binary.
#[derive(Debug)]
pub struct Logger {
    sink: Sink,
    format: Format,
    level: LevelFilter,
}

impl Logger {
    /// A logger writing to stderr.
    pub fn stderr(format: Format, level: LevelFilter) -> Logger {
        Logger {
            sink: Sink::Stderr,
            format,
            level,
        }
    }

    /// A logger appending to `path` (created `0644` if missing, as runc does).
    pub fn file(path: &Path, format: Format, level: LevelFilter) -> Result<Logger, String> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .open(path)
            .map_err(|e| format!("open {}: {}", path.display(), crate::context::os_error(&e)))?;
        Ok(Logger {
            sink: Sink::File(file),
            format,
            level,
        })
    }

    /// Whether lines already reach stderr, so a failing command need not print its error twice.
    pub fn is_stderr(&self) -> bool {
        matches!(self.sink, Sink::Stderr)
    }

    /// The most verbose level this logger writes.
    pub fn level(&self) -> LevelFilter {
        self.level
    }

    /// Install as the process-wide `log` backend. Leaks the logger: it lives until exit anyway.
    pub fn install(self) -> &'static Logger {
        let logger: &'static Logger = Box::leak(Box::new(self));
        // Fails only if a logger is already set, which nothing else in this binary does.
        let _ = ::log::set_logger(logger);
        ::log::set_max_level(logger.level());
        logger
    }
}

impl ::log::Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let msg = record.args().to_string();
        let line = format_line(self.format, record.level(), &msg, &sangja::rfc3339_now());
        // Nowhere to report a failing log write; the error still reaches the exit code.
        let _ = match &self.sink {
            Sink::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
            Sink::File(f) => (&*f).write_all(line.as_bytes()),
        };
    }

    fn flush(&self) {}
}

/// logrus's name of a level (`warning`, not `warn`).
fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// One log line, newline included, in the given format.
pub fn format_line(format: Format, level: Level, msg: &str, time: &str) -> String {
    match format {
        Format::Json => format!(
            "{{\"level\":{},\"msg\":{},\"time\":{}}}\n",
            json_string(level_name(level)),
            json_string(msg),
            json_string(time)
        ),
        Format::Text => format!(
            "time={} level={} msg={}\n",
            text_value(time),
            level_name(level),
            text_value(msg)
        ),
    }
}

/// A JSON string literal (quotes and escapes by serde_json).
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A logrus text value: bare when it is made of `[A-Za-z0-9-._/@^+]` only, else Go-quoted (`%q`).
fn text_value(s: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._/@^+".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-11-25T09:21:05.123456789Z";

    #[test]
    fn json_line_shape() {
        let line = format_line(Format::Json, Level::Error, "container does not exist", T);
        assert_eq!(
            line,
            "{\"level\":\"error\",\"msg\":\"container does not exist\",\"time\":\"2026-11-25T09:21:05.123456789Z\"}\n"
        );
        let v: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(v["level"], "error");
    }

    #[test]
    fn json_escapes_message() {
        let line = format_line(Format::Json, Level::Warn, "bad \"x\"\n\tpath\\", T);
        assert!(line.starts_with(
            "{\"level\":\"warning\",\"msg\":\"bad \\\"x\\\"\\n\\tpath\\\\\",\"time\":"
        ));
        assert_eq!(line.matches('\n').count(), 1, "one line per record");
    }

    #[test]
    fn text_line_shape() {
        assert_eq!(
            format_line(Format::Text, Level::Error, "unknown signal \"FOO\"", T),
            "time=\"2026-11-25T09:21:05.123456789Z\" level=error msg=\"unknown signal \\\"FOO\\\"\"\n"
        );
        assert_eq!(
            format_line(Format::Text, Level::Info, "ok", T),
            format!("time=\"{T}\" level=info msg=ok\n")
        );
        assert_eq!(
            format_line(Format::Text, Level::Debug, "", T),
            format!("time=\"{T}\" level=debug msg=\"\"\n")
        );
        assert_eq!(
            format_line(Format::Text, Level::Error, "a\u{1}é", T),
            format!("time=\"{T}\" level=error msg=\"a\\x01é\"\n")
        );
    }

    #[test]
    fn formats_parse_like_runc() {
        assert_eq!(Format::parse("text"), Ok(Format::Text));
        assert_eq!(Format::parse("json"), Ok(Format::Json));
        assert_eq!(
            Format::parse("xml"),
            Err("invalid log-format: xml".to_string())
        );
    }

    #[test]
    fn file_is_appended() {
        let dir = std::env::temp_dir().join(format!("sangja-log-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("log.json");
        let _ = std::fs::write(&path, "previous\n");
        let logger = match Logger::file(&path, Format::Json, LevelFilter::Info) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        assert!(!logger.is_stderr());
        ::log::Log::log(
            &logger,
            &Record::builder()
                .level(Level::Error)
                .args(format_args!("boom"))
                .build(),
        );
        ::log::Log::log(
            &logger,
            &Record::builder()
                .level(Level::Debug)
                .args(format_args!("hidden"))
                .build(),
        );
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0], "previous");
        assert!(lines[1].starts_with("{\"level\":\"error\",\"msg\":\"boom\",\"time\":\""));
    }

    #[test]
    fn open_failure_names_the_path() {
        let err = Logger::file(
            Path::new("/nonexistent-dir/x.log"),
            Format::Text,
            LevelFilter::Info,
        )
        .err();
        assert_eq!(
            err.as_deref(),
            Some("open /nonexistent-dir/x.log: no such file or directory")
        );
    }
}
