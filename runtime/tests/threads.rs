//! The library in a multi-threaded program: containers created, started, waited for and deleted
//! from four threads at once while two more threads allocate and free without pause. The child
//! between clone and execve must take no lock and allocate nothing (a glibc `setgroups` waited
//! forever for threads the child does not have; a malloc arena lock held by a busy thread at the
//! clone would do the same), so every container must finish well within the deadline.
//!
//! Needs root (it runs real containers): recorded as a skip otherwise.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use sangja::{Container, CreateOptions};

const THREADS: usize = 4;
const PER_THREAD: usize = 5;

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// A bundle running `args` as uid 1000 with two supplementary groups (so `setgroups` runs).
fn bundle(dir: &std::path::Path, args: &[&str]) {
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
    std::fs::create_dir_all(dir).expect("bundle dir");
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec(&c).expect("config"),
    )
    .expect("config.json");
}

#[test]
fn containers_from_several_threads_beside_busy_allocators() {
    if !is_root() {
        spec_tests::skip!("multi-threaded embedder", "not root");
    }
    let base = std::env::temp_dir().join(format!("sangja-threads-{}", std::process::id()));
    let bundle_dir = base.join("bundle");
    // Exits 0 only with the groups the config asks for.
    bundle(
        &bundle_dir,
        &["sh", "-c", "[ \"$(id -G)\" = \"1000 5 100\" ]"],
    );
    let opts = CreateOptions {
        root: base.join("state"),
        ..CreateOptions::default()
    };
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
        let (done, bundle_dir, opts) = (done.clone(), bundle_dir.clone(), opts.clone());
        std::thread::spawn(move || {
            for i in 0..PER_THREAD {
                let id = format!("threads-{}-{t}-{i}", std::process::id());
                let r = (|| {
                    let mut c = Container::create(&id, &bundle_dir, &opts)?;
                    c.start()?;
                    let code = c.wait()?;
                    c.delete(false)?;
                    Ok::<i32, sangja::Error>(code)
                })();
                if r.is_err() {
                    let _ = Container::force_delete(&opts.root, &id);
                }
                let _ = done.send((id, r.map_err(|e| e.to_string())));
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
            let _ = Container::force_delete(&opts.root, &id);
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
    for (id, r) in &finished {
        assert_eq!(r.as_ref(), Ok(&0), "{id}");
    }
}
