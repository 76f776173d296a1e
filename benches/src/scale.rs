//! Scale: containers per second with 1, 8, 32 concurrent lifecycles, and `state`/`create` latency with a
//! root dir already holding many created containers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::lifecycle::create;
use crate::results::Results;
use crate::runtime::{container_id, Runtime};
use crate::sys;

/// Waits for the init in `pidfile` to exit and reaps it (our child: the benchmark is a subreaper).
fn wait_init(pidfile: &Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(pidfile).map_err(|e| format!("{}: {e}", pidfile.display()))?;
    let pid: i32 = text
        .trim()
        .parse()
        .map_err(|e| format!("pid {text:?}: {e}"))?;
    let fd = sys::pidfd_open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
    if !sys::poll_exit(&fd, Duration::from_secs(30)).map_err(|e| e.to_string())? {
        sys::kill(pid, libc::SIGKILL);
    }
    let _ = sys::wait4(pid, 0);
    Ok(())
}

/// Kills the created container's init in `pidfile` and reaps it, so that a plain `delete` finds it stopped
/// (`delete --force` of a live container makes runc sleep 100 ms).
fn stop_init(pidfile: &Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(pidfile).map_err(|e| format!("{}: {e}", pidfile.display()))?;
    let pid: i32 = text
        .trim()
        .parse()
        .map_err(|e| format!("pid {text:?}: {e}"))?;
    sys::kill(pid, libc::SIGKILL);
    let _ = sys::wait4(pid, 0);
    Ok(())
}

fn lifecycle(rt: &Runtime, bundle: &Path, id: &str, pidfile: &Path) -> Result<(), String> {
    create(rt, bundle, id, pidfile)?;
    let r = rt.exec(&["start", id]).and_then(|_| wait_init(pidfile));
    if r.is_err() {
        let _ = stop_init(pidfile);
    }
    let d = rt.exec(&["delete", id]);
    r.and(d.map(|_| ()))
}

/// For each concurrency level and runtime (runtimes rotated per level): `level` threads loop
/// create/start/wait/delete for `secs`; records containers/s and each lifecycle's latency.
pub fn concurrency(
    runtimes: &[Runtime],
    bundle: &Path,
    work: &Path,
    levels: &[usize],
    secs: f64,
    res: &mut Results,
) {
    for (li, &level) in levels.iter().enumerate() {
        for i in 0..runtimes.len() {
            let rt = &runtimes[(li + i) % runtimes.len()];
            let seq = AtomicUsize::new(0);
            let deadline = Instant::now() + Duration::from_secs_f64(secs);
            let t0 = Instant::now();
            let per_thread: Vec<(Vec<f64>, Vec<String>)> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..level)
                    .map(|t| {
                        let seq = &seq;
                        s.spawn(move || {
                            let pidfile = work.join(format!("scale-{}-{t}.pid", rt.name));
                            let (mut lat, mut errs) = (Vec::new(), Vec::new());
                            while Instant::now() < deadline {
                                let id = container_id(
                                    &format!("c{level}"),
                                    seq.fetch_add(1, Ordering::Relaxed),
                                );
                                let l0 = Instant::now();
                                match lifecycle(rt, bundle, &id, &pidfile) {
                                    Ok(()) => lat.push(l0.elapsed().as_secs_f64() * 1e3),
                                    Err(e) => {
                                        errs.push(e);
                                        rt.force_delete(&id);
                                    }
                                }
                            }
                            (lat, errs)
                        })
                    })
                    .collect();
                handles.into_iter().filter_map(|h| h.join().ok()).collect()
            });
            let elapsed = t0.elapsed().as_secs_f64();
            let done: usize = per_thread.iter().map(|(l, _)| l.len()).sum();
            let metric = format!("{level} concurrent");
            res.push(
                "scale",
                &rt.name,
                &format!("{metric}: containers/s"),
                done as f64 / elapsed,
            );
            for (lat, errs) in per_thread {
                for v in lat {
                    res.push("scale", &rt.name, &format!("{metric}: create→delete"), v);
                }
                for e in errs {
                    res.fail(&rt.name, &metric, e);
                }
            }
            sys::reap_strays();
            eprintln!(
                "scale: {} with {level} concurrent: {:.1} containers/s",
                rt.name,
                done as f64 / elapsed
            );
        }
    }
}

/// Runs `f(i)` for `i in 0..n` on `jobs` threads; returns the errors.
fn parallel(
    n: usize,
    jobs: usize,
    f: impl Fn(usize, usize) -> Result<(), String> + Sync,
) -> Vec<String> {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..jobs.max(1))
            .map(|t| {
                let (next, f) = (&next, &f);
                s.spawn(move || {
                    let mut errs = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break errs;
                        }
                        if let Err(e) = f(t, i) {
                            errs.push(e);
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .flatten()
            .collect()
    })
}

/// With `count` created (not started) containers in each runtime's root dir: `samples` × (`state` of one
/// of them, `create` + cleanup of one more). One runtime at a time; everything deleted after.
pub fn preloaded(
    runtimes: &[Runtime],
    bundle: &Path,
    work: &Path,
    count: usize,
    samples: usize,
    res: &mut Results,
) {
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    for rt in runtimes {
        // Baseline next to the loaded measurement: the same commands with one container in the root.
        let first = work.join(format!("pre-{}-0.pid", rt.name));
        if let Err(e) = create(rt, bundle, &container_id("pre", 0), &first) {
            res.fail(&rt.name, "preload create", e);
            continue;
        }
        sample(
            rt,
            bundle,
            &work.join(format!("pre-{}-x.pid", rt.name)),
            1,
            samples,
            res,
        );
        let t0 = Instant::now();
        let pidfiles: Vec<PathBuf> = (0..count)
            .map(|i| work.join(format!("pre-{}-{i}.pid", rt.name)))
            .collect();
        let errs = parallel(count - 1, jobs, |_, i| {
            create(rt, bundle, &container_id("pre", i + 1), &pidfiles[i + 1]).map(|_| ())
        });
        let populated = count - errs.len();
        for e in errs {
            res.fail(&rt.name, "preload create", e);
        }
        eprintln!(
            "preload: {} has {populated} created containers ({:.1} s)",
            rt.name,
            t0.elapsed().as_secs_f64()
        );
        sample(
            rt,
            bundle,
            &work.join(format!("pre-{}-x.pid", rt.name)),
            count,
            samples,
            res,
        );
        let t1 = Instant::now();
        let errs = parallel(count, jobs, |_, i| {
            let id = container_id("pre", i);
            if stop_init(&pidfiles[i]).is_err() {
                rt.force_delete(&id);
                return Ok(());
            }
            rt.exec(&["delete", &id])
                .map(|_| ())
                .inspect_err(|_| rt.force_delete(&id))
        });
        for e in errs {
            res.fail(&rt.name, "preload delete", e);
        }
        for p in &pidfiles {
            let _ = std::fs::remove_file(p);
        }
        sys::reap_strays();
        eprintln!(
            "preload: {} cleaned up ({:.1} s)",
            rt.name,
            t1.elapsed().as_secs_f64()
        );
    }
}

/// `samples` × (`state` of one of the `count` containers `pre-0…`, `create` + cleanup of one more),
/// recorded as "state with COUNT" and "create with COUNT".
fn sample(
    rt: &Runtime,
    bundle: &Path,
    pidfile: &Path,
    count: usize,
    samples: usize,
    res: &mut Results,
) {
    let metric_state = format!("state with {count}");
    let metric_create = format!("create with {count}");
    for k in 0..samples {
        let probe = container_id("pre", (k * 7919) % count.max(1));
        match rt.exec(&["state", &probe]) {
            Ok(o) => res.push(
                "preload",
                &rt.name,
                &metric_state,
                o.elapsed.as_secs_f64() * 1e3,
            ),
            Err(e) => res.fail(&rt.name, &metric_state, e),
        }
        let id = container_id(&format!("prex{count}"), k);
        match create(rt, bundle, &id, pidfile) {
            Ok(t) => {
                res.push("preload", &rt.name, &metric_create, t);
                let _ = stop_init(pidfile);
                if let Err(e) = rt.exec(&["delete", &id]) {
                    res.fail(&rt.name, &metric_create, e);
                    rt.force_delete(&id);
                }
            }
            Err(e) => {
                res.fail(&rt.name, &metric_create, e);
                rt.force_delete(&id);
            }
        }
    }
}
