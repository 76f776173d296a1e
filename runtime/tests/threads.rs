//! The library in a multi-threaded program: containers created (half from a bundle directory,
//! half from a spec held in memory), started, their piped stdout read, waited for and deleted
//! from four threads at once while two more threads allocate and free without pause. The child
//! between clone and execve must take no lock and allocate nothing (a glibc `setgroups` waited
//! forever for threads the child does not have; a malloc arena lock held by a busy thread at the
//! clone would do the same), so every container must finish well within the deadline.
//!
//! Needs root (it runs real containers): recorded as a skip otherwise.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use std::io::Read;

use sangja::{Container, ContainerBuilder};

const THREADS: usize = 4;
const PER_THREAD: usize = 5;

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// A config running `args` as uid 1000 with two supplementary groups (so `setgroups` runs).
fn config(args: &[&str]) -> serde_json::Value {
    let mut c = spec_tests::config::runc_spec();
    spec_tests::config::set_pointer(&mut c, "/process/terminal", serde_json::json!(false));
    spec_tests::config::set_pointer(&mut c, "/process/args", serde_json::json!(args));
    spec_tests::config::set_pointer(
        &mut c,
        "/process/user",
        serde_json::json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 100]}),
    );
    let rootfs = spec_tests::rootfs::shared();
    spec_tests::config::set_pointer(
        &mut c,
        "/root/path",
        serde_json::json!(rootfs.to_str().expect("UTF-8 rootfs")),
    );
    c
}

/// One container through the builder: its stdout read from a pipe until the process exits.
fn one(id: &str, root: &std::path::Path, source: Source<'_>) -> sangja::Result<(i32, String)> {
    let (mut out, w) = std::io::pipe().map_err(|e| sangja::Error::Sys {
        call: "pipe",
        path: Default::default(),
        source: e,
    })?;
    let b = ContainerBuilder::new(id).root(root).stdout(w);
    let b = match source {
        Source::Bundle(dir) => b.bundle(dir),
        Source::Spec(spec) => b.spec(*spec),
    };
    let mut c = b.create()?;
    c.start()?;
    let mut text = String::new();
    let read = out.read_to_string(&mut text);
    let code = c.wait()?;
    c.delete(false)?;
    read.map_err(|e| sangja::Error::Sys {
        call: "read",
        path: Default::default(),
        source: e,
    })?;
    Ok((code, text))
}

enum Source<'a> {
    Bundle(&'a std::path::Path),
    Spec(Box<oci_spec::runtime::Spec>),
}

#[test]
fn containers_from_several_threads_beside_busy_allocators() {
    if !is_root() {
        spec_tests::skip!("multi-threaded embedder", "not root");
    }
    let base = std::env::temp_dir().join(format!("sangja-threads-{}", std::process::id()));
    let bundle_dir = base.join("bundle");
    let root = base.join("state");
    // From the bundle: prints its groups (exit 0 only with the groups the config asks for).
    let groups = ["sh", "-c", "id -G; [ \"$(id -G)\" = \"1000 5 100\" ]"];
    std::fs::create_dir_all(&bundle_dir).expect("bundle dir");
    std::fs::write(
        bundle_dir.join("config.json"),
        serde_json::to_vec(&config(&groups)).expect("config"),
    )
    .expect("config.json");
    let stop = Arc::new(AtomicBool::new(false));
    let allocators: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let v: Vec<u8> = vec![1; 4096 + (n as usize % 65536)];
                    n = n.wrapping_add(v.len() as u64);
                    drop(v);
                }
                n
            })
        })
        .collect();
    let (done, results) = mpsc::channel();
    for t in 0..THREADS {
        let (done, bundle_dir, root) = (done.clone(), bundle_dir.clone(), root.clone());
        std::thread::spawn(move || {
            for i in 0..PER_THREAD {
                let id = format!("threads-{}-{t}-{i}", std::process::id());
                // Every other one from a spec in memory, which prints its own id.
                let (source, expected) = if i % 2 == 0 {
                    (Source::Bundle(&bundle_dir), "1000 5 100\n".to_string())
                } else {
                    let script = format!("echo {id}; id -G");
                    let spec =
                        serde_json::from_value(config(&["sh", "-c", &script])).expect("spec");
                    (Source::Spec(Box::new(spec)), format!("{id}\n1000 5 100\n"))
                };
                let r = one(&id, &root, source);
                if r.is_err() {
                    let _ = Container::force_delete(&root, &id);
                }
                let r = r.map_err(|e| e.to_string());
                let _ = done.send((id, r, expected));
            }
        });
    }
    drop(done);
    let mut finished = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while finished.len() < THREADS * PER_THREAD {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match results.recv_timeout(left) {
            Ok(r) => finished.push(r),
            Err(_) => break,
        }
    }
    stop.store(true, Ordering::Relaxed);
    for a in allocators {
        let _ = a.join();
    }
    // Whatever did not finish (a hung child): killed, its cgroup and state removed.
    for t in 0..THREADS {
        for i in 0..PER_THREAD {
            let id = format!("threads-{}-{t}-{i}", std::process::id());
            let _ = Container::force_delete(&root, &id);
        }
    }
    let _ = std::fs::remove_dir_all(&base);
    assert_eq!(
        finished.len(),
        THREADS * PER_THREAD,
        "only {} of {} containers finished within 120 s (a child hung between clone and exec?)",
        finished.len(),
        THREADS * PER_THREAD
    );
    for (id, r, expected) in &finished {
        assert_eq!(r.as_ref(), Ok(&(0, expected.clone())), "{id}");
    }
}
