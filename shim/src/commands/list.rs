//! `list [--format table|json] [--quiet]`: the containers of the root, shaped as runc prints them.
//!
//! - `--quiet`: ids, one per line (takes precedence over `--format`).
//! - `--format json`: one compact JSON array of state objects and a newline; `null` when there are
//!   none (Go encodes the nil slice so, and clients handle that).
//! - table: Go's `tabwriter` with minwidth 12, tabwidth 1, padding 3, padchar ' '.
//!
//! Unlike `state`, whose `owner` is always empty in runc, `list` fills `owner` with the user name
//! owning the container's state directory ([`Container::owner`]).
use sangja::{Container, State};

use crate::cli::ListArgs;
use crate::context::{print, CliError, CmdResult, Ctx};

/// Run `list`.
pub fn run(ctx: &Ctx, args: &ListArgs) -> CmdResult {
    if !args.quiet && args.format != "table" && args.format != "json" {
        return Err(CliError::Message("invalid format option".into()));
    }
    // A root never created lists as empty (the library's rule, as runc's).
    let containers = Container::list(&ctx.root)?;
    let text = if args.quiet {
        containers.iter().map(|c| format!("{}\n", c.id())).collect()
    } else {
        let states: Vec<State> = containers
            .iter()
            .map(|c| State {
                owner: c.owner(),
                ..c.state()
            })
            .collect();
        if args.format == "json" {
            json(&states)?
        } else {
            table(&states)
        }
    };
    print(&text)?;
    Ok(0)
}

/// The JSON form: a compact array and a newline, `null` for none.
fn json(states: &[State]) -> Result<String, CliError> {
    if states.is_empty() {
        return Ok("null\n".into());
    }
    let text = serde_json::to_string(states)
        .map_err(|e| CliError::Message(format!("marshal list: {e}")))?;
    Ok(text + "\n")
}

/// The table form, byte for byte as runc's tabwriter lays it out.
fn table(states: &[State]) -> String {
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
    let rows: Vec<[String; 6]> = std::iter::once(header)
        .chain(states.iter().map(|s| {
            [
                s.id.clone(),
                s.pid.to_string(),
                s.status.to_string(),
                s.bundle.display().to_string(),
                s.created.clone(),
                s.owner.clone(),
            ]
        }))
        .collect();
    tabwrite(&rows)
}

/// Go `tabwriter.NewWriter(w, 12, 1, 3, ' ', 0)` on tab-separated cells: every column but the last
/// is padded to max(12, widest cell + 3) characters; the last cell is written as is.
fn tabwrite<const N: usize>(rows: &[[String; N]]) -> String {
    const MIN_WIDTH: usize = 12;
    const PADDING: usize = 3;
    let mut widths = [MIN_WIDTH; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count() + PADDING);
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < N {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sangja::Status;
    use std::path::PathBuf;

    fn state(id: &str, pid: i32, status: Status, bundle: &str) -> State {
        State {
            oci_version: "1.0.2-dev".into(),
            id: id.into(),
            pid,
            status,
            bundle: PathBuf::from(bundle),
            rootfs: PathBuf::from(bundle).join("rootfs"),
            created: "2026-11-25T09:21:11.379922066Z".into(),
            annotations: Default::default(),
            owner: "root".into(),
        }
    }

    #[test]
    fn empty_table_is_the_header() {
        assert_eq!(
            table(&[]),
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
    }

    #[test]
    fn table_matches_runc_byte_for_byte() {
        // Captured from runc 1.1.5 `list` with one created and one stopped container.
        let expected = "\
ID          PID         STATUS      BUNDLE      CREATED                          OWNER
c1          0           stopped     /tmp/bb     2026-11-25T09:21:11.379922066Z   root
c2          3770        created     /tmp/bb     2026-11-25T09:21:11.379922066Z   root
";
        let states = [
            state("c1", 0, Status::Stopped, "/tmp/bb"),
            state("c2", 3770, Status::Created, "/tmp/bb"),
        ];
        assert_eq!(table(&states), expected);
    }

    #[test]
    fn long_cells_widen_their_column() {
        let states = [state("a-very-long-container-id", 1, Status::Running, "/b")];
        let text = table(&states);
        let mut lines = text.lines();
        assert_eq!(lines.next().map(|l| l.find("PID")), Some(Some(24 + 3)));
        assert_eq!(
            lines.next().map(|l| l.find(" 1 ").map(|i| i + 1)),
            Some(Some(27))
        );
    }

    #[test]
    fn json_is_compact_array_or_null() {
        assert_eq!(json(&[]).ok().as_deref(), Some("null\n"));
        let text = json(&[state("c1", 7, Status::Created, "/tmp/bb")]).unwrap_or_default();
        assert_eq!(
            text,
            "[{\"ociVersion\":\"1.0.2-dev\",\"id\":\"c1\",\"pid\":7,\"status\":\"created\",\"bundle\":\"/tmp/bb\",\
             \"rootfs\":\"/tmp/bb/rootfs\",\"created\":\"2026-11-25T09:21:11.379922066Z\",\"owner\":\"root\"}]\n"
        );
    }
}
