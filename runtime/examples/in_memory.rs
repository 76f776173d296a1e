//! Embed sangja with a spec built in memory (no bundle directory, no `config.json`) and read the
//! container's output through a pipe.
//!
//! ```text
//! sudo cargo run -p sangja --example in_memory -- /path/to/rootfs [command...]
//! ```
//! The spec is runc's default (`sangja spec`), with `root.path` set to the rootfs given and the
//! command (default `uname -a`) as `process.args`. Prints what the container wrote to stdout,
//! then its exit code. State goes to a private root under the system temp dir.
use std::io::Read;

use oci_spec::runtime::Spec;
use sangja::ContainerBuilder;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(rootfs) = args.next() else {
        eprintln!("usage: in_memory ROOTFS [COMMAND...]");
        std::process::exit(2);
    };
    let mut command: Vec<String> = args.collect();
    if command.is_empty() {
        command = vec!["uname".into(), "-a".into()];
    }
    match run(&rootfs, command) {
        Ok((output, code)) => {
            print!("{output}");
            println!("container exited with {code}");
            std::process::exit(code);
        }
        Err(e) => {
            eprintln!("in_memory: {e}");
            std::process::exit(1);
        }
    }
}

/// runc's default spec, for `rootfs` (absolute) and `command`, without a terminal.
fn spec(rootfs: &str, command: Vec<String>) -> Result<Spec, String> {
    let mut value: serde_json::Value =
        serde_json::from_str(&sangja::default_spec(false)).map_err(|e| e.to_string())?;
    let root = std::fs::canonicalize(rootfs).map_err(|e| format!("{rootfs}: {e}"))?;
    value["root"]["path"] = serde_json::json!(root);
    value["root"]["readonly"] = serde_json::json!(false);
    value["process"]["terminal"] = serde_json::json!(false);
    value["process"]["args"] = serde_json::json!(command);
    serde_json::from_value(value).map_err(|e| e.to_string())
}

fn run(rootfs: &str, command: Vec<String>) -> Result<(String, i32), String> {
    let (mut output, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    let id = format!("in-memory-{}", std::process::id());
    let builder = ContainerBuilder::new(&id)
        .root(std::env::temp_dir().join("sangja-example"))
        .spec(spec(rootfs, command)?)
        .stdout(writer);
    // Every field is checked before anything is made; errors name the field.
    builder.validate().map_err(|e| e.to_string())?;
    let mut container = builder.create().map_err(|e| e.to_string())?;
    container.start().map_err(|e| e.to_string())?;
    // The builder's copy of the pipe's writer is closed: end-of-file comes when the process exits.
    let mut text = String::new();
    let read = output.read_to_string(&mut text);
    let code = container.wait().map_err(|e| e.to_string())?;
    container.delete(false).map_err(|e| e.to_string())?;
    read.map_err(|e| e.to_string())?;
    Ok((text, code))
}
