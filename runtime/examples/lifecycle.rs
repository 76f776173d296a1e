//! Embed sangja without its CLI: create, start, wait for and delete a container.
//!
//! ```text
//! sudo cargo run -p sangja --example lifecycle -- /path/to/bundle [id]
//! ```
//! The bundle is a directory with `config.json` and a root filesystem (see the README for how to
//! build one from busybox). State goes to a private root under the system temp dir.
use sangja::{Container, CreateOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(bundle) = args.next() else {
        eprintln!("usage: lifecycle BUNDLE [ID]");
        std::process::exit(2);
    };
    let id = args
        .next()
        .unwrap_or_else(|| format!("example-{}", std::process::id()));
    let opts = CreateOptions {
        root: std::env::temp_dir().join("sangja-example"),
        ..CreateOptions::default()
    };
    let code = match run(&id, &bundle, &opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lifecycle: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn run(id: &str, bundle: &str, opts: &CreateOptions) -> sangja::Result<i32> {
    let mut c = Container::create(id, bundle, opts)?;
    println!(
        "created {} (init pid {}, status {})",
        c.id(),
        c.pid(),
        c.status()
    );
    c.start()?;
    let code = c.wait()?;
    println!("container exited with {code}");
    c.delete(false)?;
    Ok(code)
}
