//! Docker drives sangja (issue 7): a private `dockerd --add-runtime sangja=<sangja>` (own data root,
//! exec root, pidfile, socket and cgroup parent under a temp dir; its managed containerd under the
//! exec root; no bridge, iptables or IP forwarding; overlay2; cgroupfs) runs a busybox image built
//! offline from `/bin/busybox` with `--runtime sangja --network none`. Docker 20.10 goes through
//! containerd's `io.containerd.runc.v2` shim with sangja as its runc binary.
//!
//! Needs root, Debian's `docker.io` (20.10: `/usr/sbin/dockerd`, `/usr/bin/docker`), `containerd`,
//! `runc` (the reference), `busybox-static` and `util-linux` (`script`, for a tty). Each test starts
//! its own daemon ([`spec_tests::dockerd::Dockerd`]), which is stopped and cleaned up on drop, even
//! when the test fails. Every scenario is a function of the runtime name, and
//! `runc_passes_the_same_steps` runs them all with runc, so the expectations are runc's behaviour.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use spec_tests::dockerd::{Dockerd, IMAGE};

fn sangja() -> PathBuf {
    spec_tests::harness::sangja_bin(env!("CARGO_BIN_EXE_sangja"))
}

fn start() -> Dockerd {
    Dockerd::start(&sangja())
}

/// `docker run --runtime <rt> --network none <extra...> IMAGE <args...>`.
fn run_args<'a>(rt: &'a str, extra: &[&'a str], args: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["run", "--runtime", rt, "--network", "none"];
    a.extend(extra);
    a.push(IMAGE);
    a.extend(args);
    a
}

/// A detached `sleep 1000` named `name`; returns its full id.
fn run_detached(d: &Dockerd, rt: &str, name: &str) -> String {
    let o = d.docker(&run_args(rt, &["-d", "--name", name], &["sleep", "1000"]));
    assert!(o.success(), "run -d: {}", o.stderr);
    d.wait_status(name, "running");
    o.stdout.trim().to_string()
}

fn assert_no_containers(d: &Dockerd) {
    let o = d.docker_quiet(&["ps", "-aq"]);
    assert_eq!(o.stdout.trim(), "", "containers left: {o:?}");
}

fn run_rm(d: &Dockerd, rt: &str) {
    let o = d.docker(&run_args(rt, &["--rm"], &["sh", "-c", "echo hi; exit 3"]));
    assert_eq!(o.code, Some(3), "{o:?}");
    assert_eq!(o.stdout, "hi\n");
    let o = d.docker(&run_args(rt, &["--rm"], &["true"]));
    assert_eq!(o.code, Some(0), "{o:?}");
    // stdin reaches the container with -i.
    let a = run_args(rt, &["--rm", "-i"], &["cat"]);
    let o = d.docker_stdin(&a, "from stdin\n");
    assert_eq!(o.stdout, "from stdin\n", "{o:?}");
    assert_no_containers(d);
    assert_eq!(d.container_cgroups(), Vec::<PathBuf>::new());
}

fn user_visible_errors(d: &Dockerd, rt: &str) {
    // A missing binary: exit 127 and the runtime's own message, which containerd's shim took from the
    // last "level":"error" line of the runtime's --log file.
    let o = d.docker(&run_args(rt, &["--rm"], &["/nonexistent"]));
    assert_eq!(o.code, Some(127), "{o:?}");
    let want = format!(
        "OCI runtime create failed: {rt} create failed: unable to start container process: \
         exec: \"/nonexistent\": stat /nonexistent: no such file or directory"
    );
    assert!(o.stderr.contains(&want), "want {want:?} in {o:?}");
    let o = d.docker(&run_args(rt, &["--rm"], &["nonexistent"]));
    assert_eq!(o.code, Some(127), "{o:?}");
    assert!(
        o.stderr
            .contains(r#"exec: "nonexistent": executable file not found in $PATH"#),
        "{o:?}"
    );
    // Not executable: 126 (docker maps "permission denied").
    let o = d.docker(&run_args(rt, &["--rm"], &["/etc/passwd"]));
    assert_eq!(o.code, Some(126), "{o:?}");
    assert!(
        o.stderr.contains(r#"exec: "/etc/passwd": "#) && o.stderr.contains("permission denied"),
        "{o:?}"
    );
    // Without --rm the failed container stays, "created" with exit code 127, and can be removed.
    let o = d.docker(&run_args(rt, &["--name", "failed"], &["/nonexistent"]));
    assert_eq!(o.code, Some(127), "{o:?}");
    assert_eq!(
        d.inspect("failed", "{{.State.Status}} {{.State.ExitCode}}"),
        "created 127"
    );
    let err = d.inspect("failed", "{{.State.Error}}");
    assert!(err.contains("no such file or directory"), "{err}");
    assert!(d.docker(&["rm", "failed"]).success());
    assert_no_containers(d);
    // The failed creates left no cgroup and no runtime state.
    assert_eq!(d.container_cgroups(), Vec::<PathBuf>::new());
    let state: Vec<_> = std::fs::read_dir(d.runtime_root(rt).join("moby"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(state.is_empty(), "runtime state left: {state:?}");
}

fn exec(d: &Dockerd, rt: &str) {
    let id = run_detached(d, rt, "ex");
    let o = d.docker(&["exec", "ex", "echo", "hello"]);
    assert_eq!((o.code, o.stdout.as_str()), (Some(0), "hello\n"), "{o:?}");
    let o = d.docker(&["exec", "ex", "sh", "-c", "exit 5"]);
    assert_eq!(o.code, Some(5), "{o:?}");
    let o = d.docker(&["exec", "ex", "ps", "-o", "pid,args"]);
    assert!(
        o.stdout.contains("sleep 1000") && o.stdout.contains("ps -o pid,args"),
        "{o:?}"
    );
    let o = d.docker_stdin(&["exec", "-i", "ex", "cat"], "piped\n");
    assert_eq!(o.stdout, "piped\n", "{o:?}");
    let o = d.docker(&["exec", "ex", "tty"]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (Some(1), "not a tty\n"),
        "{o:?}"
    );
    let o = d.docker_pty(&["exec", "-t", "ex", "sh", "-c", "tty; exit 6"]);
    assert_eq!(o.code, Some(6), "{o:?}");
    assert!(o.stdout.contains("/dev/pts/"), "{o:?}");
    // A failing exec: docker's 126 and the runtime's message (the error line of its --log).
    let o = d.docker(&["exec", "ex", "/nope"]);
    assert_eq!(o.code, Some(126), "{o:?}");
    let msg = format!("{}{}", o.stdout, o.stderr);
    assert!(
        msg.contains("OCI runtime exec failed")
            && msg.contains(r#"exec: "/nope": stat /nope: no such file or directory"#),
        "{o:?}"
    );
    let log = std::fs::read_to_string(d.task_dir(&id).join("log.json")).unwrap_or_default();
    let last_error = log
        .lines()
        .rfind(|l| l.contains(r#""level":"error""#))
        .unwrap_or_default();
    assert!(last_error.contains("/nope"), "log.json: {log}");
    // `docker top` is the runtime's `ps --format json`.
    let o = d.docker(&["top", "ex"]);
    assert!(o.success() && o.stdout.contains("sleep 1000"), "{o:?}");
    assert!(d.docker(&["rm", "-f", "ex"]).success());
}

fn exec_options(d: &Dockerd, rt: &str) {
    run_detached(d, rt, "eo");
    let o = d.docker(&[
        "exec",
        "--user",
        "1000:1000",
        "-w",
        "/tmp",
        "-e",
        "X=1",
        "eo",
        "sh",
        "-c",
        "id; pwd; echo $X; grep -E '^(CapEff|Seccomp):' /proc/self/status",
    ]);
    assert_eq!(
        o.stdout,
        "uid=1000(tester) gid=1000(tester) groups=1000(tester)\n/tmp\n1\n\
         CapEff:\t0000000000000000\nSeccomp:\t2\n",
        "{o:?}"
    );
    // A detached exec shows up in `docker top` (the runtime's `ps`).
    assert!(d.docker(&["exec", "-d", "eo", "sleep", "500"]).success());
    let mut top = String::new();
    let seen = spec_tests::host::wait_until(Duration::from_secs(5), || {
        top = d.docker_quiet(&["top", "eo"]).stdout;
        top.contains("sleep 500")
    });
    assert!(seen, "{top}");
    // `docker kill` (SIGKILL through the runtime) and `docker wait`.
    assert!(d.docker(&["kill", "eo"]).success());
    assert_eq!(d.docker(&["wait", "eo"]).stdout.trim(), "137");
    assert_eq!(
        d.inspect(
            "eo",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}"
        ),
        "exited 137 false"
    );
    assert!(d.docker(&["rm", "eo"]).success());
}

fn create_resources_and_oom(d: &Dockerd, rt: &str) {
    let c = "/sys/fs/cgroup";
    let o = d.docker(&run_args(
        rt,
        &[
            "--rm",
            "--memory=64m",
            "--memory-reservation=32m",
            "--pids-limit=20",
            "--cpus=1.5",
            "--cpu-shares=100",
            "--ulimit=nofile=1024:2048",
        ],
        &[
            "sh",
            "-c",
            &format!(
                "cat {c}/memory/memory.limit_in_bytes {c}/memory/memory.memsw.limit_in_bytes \
                 {c}/memory/memory.soft_limit_in_bytes {c}/pids/pids.max {c}/cpu/cpu.cfs_quota_us \
                 {c}/cpu/cpu.shares; ulimit -n; ulimit -Hn"
            ),
        ],
    ));
    assert_eq!(
        o.stdout.split_whitespace().collect::<Vec<_>>(),
        [
            "67108864",
            "134217728",
            "33554432",
            "20",
            "150000",
            "100",
            "1024",
            "2048"
        ],
        "{o:?}"
    );
    // The pids limit bites.
    let o = d.docker(&run_args(
        rt,
        &["--rm", "--pids-limit=3"],
        &["sh", "-c", "sleep 1 & sleep 1 & sleep 1 & wait; echo done"],
    ));
    assert!(o.stderr.contains("can't fork"), "{o:?}");
    // The memory limit bites, and docker learns of the OOM kill (the shim watches the cgroup's
    // oom_control; docker records it when the container exits). The hog is a child and the init
    // exits a second later: when the init itself is OOM-killed, docker may process the exit before
    // the OOM event and report OOMKilled false (seen with runc too).
    let o = d.docker(&run_args(
        rt,
        &["-d", "--name", "oom", "--memory=8m", "--memory-swap=8m"],
        &[
            "sh",
            "-c",
            "sh -c 'x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done'; echo inner=$?; sleep 1",
        ],
    ));
    assert!(o.success(), "{o:?}");
    assert_eq!(d.docker(&["wait", "oom"]).stdout.trim(), "0");
    assert_eq!(
        d.inspect("oom", "{{.State.ExitCode}} {{.State.OOMKilled}}"),
        "0 true"
    );
    let o = d.docker(&["logs", "oom"]);
    assert_eq!(o.stdout, "inner=137\n", "{o:?}");
    assert!(d.docker(&["rm", "-f", "oom"]).success());
}

/// `-v host:ctr:rslave` (docker then sets `rootfsPropagation: rslave`): a mount made on the host
/// under the volume after the start shows up in the container.
fn volume_propagation(d: &Dockerd, rt: &str) {
    let vol = d.dir().join(format!("vol-{rt}"));
    let sub = vol.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let sh = |args: &[&str]| {
        let o = std::process::Command::new(args[0])
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {o:?}");
    };
    let v = vol.to_str().unwrap();
    sh(&["mount", "--bind", v, v]);
    sh(&["mount", "--make-shared", v]);
    let spec = format!("{v}:/mnt/v:rslave");
    let o = d.docker(&run_args(
        rt,
        &["-d", "--name", "vp", "-v", &spec],
        &["sleep", "1000"],
    ));
    assert!(o.success(), "{o:?}");
    sh(&["mount", "-t", "tmpfs", "late", sub.to_str().unwrap()]);
    std::fs::write(sub.join("f"), "late mount\n").unwrap();
    let o = d.docker(&["exec", "vp", "cat", "/mnt/v/sub/f"]);
    assert_eq!(o.stdout, "late mount\n", "{o:?}");
    assert!(d.docker(&["rm", "-f", "vp"]).success());
    sh(&["umount", sub.to_str().unwrap()]);
    sh(&["umount", v]);
}

fn update(d: &Dockerd, rt: &str) {
    let id = run_detached(d, rt, "up");
    let mem = d.cgroup_dir("memory", &id);
    let read = |f: &str| {
        std::fs::read_to_string(mem.join(f))
            .unwrap_or_else(|e| panic!("{}/{f}: {e}", mem.display()))
            .trim()
            .to_string()
    };
    // Docker refuses --memory alone here (MemorySwap 0 means "twice the limit" only at create).
    let o = d.docker(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--pids-limit",
        "50",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "up",
    ]);
    assert!(o.success(), "{o:?}");
    assert_eq!(read("memory.limit_in_bytes"), "67108864");
    assert_eq!(read("memory.memsw.limit_in_bytes"), "134217728");
    let cg = |c: &str, f: &str| {
        std::fs::read_to_string(d.cgroup_dir(c, &id).join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(cg("pids", "pids.max"), "50");
    assert_eq!(cg("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(cg("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(cg("cpu", "cpu.shares"), "512");
    // Inside the container (docker bind-mounts its v1 cgroup at /sys/fs/cgroup/<controller>).
    let o = d.docker(&[
        "exec",
        "up",
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]);
    assert_eq!(o.stdout.trim(), "67108864", "{o:?}");
    assert_eq!(
        d.inspect("up", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}"),
        "67108864 134217728"
    );
    // `docker stats` reads the runtime's cgroup through the shim.
    let o = d.docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "up"]);
    assert!(o.success() && o.stdout.contains("/ 64MiB"), "{o:?}");
    // Lowering the limit again.
    let o = d.docker(&["update", "--memory", "32m", "up"]);
    assert!(o.success(), "{o:?}");
    assert_eq!(read("memory.limit_in_bytes"), "33554432");
    assert!(d.docker(&["rm", "-f", "up"]).success());
}

fn pause_stop_rm(d: &Dockerd, rt: &str) {
    let id = run_detached(d, rt, "ps1");
    assert!(d.docker(&["pause", "ps1"]).success());
    d.wait_status("ps1", "paused");
    let freezer = d.cgroup_dir("freezer", &id).join("freezer.state");
    assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), "FROZEN");
    let o = d.docker(&["exec", "ps1", "true"]);
    assert!(o.stderr.contains("is paused"), "{o:?}");
    assert!(d.docker(&["unpause", "ps1"]).success());
    d.wait_status("ps1", "running");
    assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), "THAWED");
    assert_eq!(d.docker(&["exec", "ps1", "echo", "ok"]).stdout, "ok\n");
    // A signal the process ignores (pid 1 without a handler) keeps it running.
    assert!(d.docker(&["kill", "-s", "USR1", "ps1"]).success());
    std::thread::sleep(Duration::from_millis(200));
    d.wait_status("ps1", "running");
    // pid 1 ignores SIGTERM, so `stop` escalates to SIGKILL after the timeout.
    let o = d.docker(&["stop", "-t", "1", "ps1"]);
    assert!(o.success(), "{o:?}");
    assert_eq!(
        d.inspect("ps1", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    assert!(
        !d.cgroup_dir("memory", &id).exists(),
        "cgroup kept after stop"
    );
    // A stopped container starts again (a new create/start of the same id).
    assert!(d.docker(&["start", "ps1"]).success());
    d.wait_status("ps1", "running");
    assert!(d.docker(&["restart", "-t", "1", "ps1"]).success());
    d.wait_status("ps1", "running");
    assert!(d.docker(&["rm", "-f", "ps1"]).success());
    assert_no_containers(d);
    assert_eq!(d.container_cgroups(), Vec::<PathBuf>::new());
    let state = d.runtime_root(rt).join("moby").join(&id);
    assert!(!state.exists(), "{} left", state.display());
}

fn run_tty(d: &Dockerd, rt: &str) {
    let o = d.docker_pty(&run_args(
        rt,
        &["-it", "--rm"],
        &["sh", "-c", "tty; echo cols=$COLUMNS; exit 4"],
    ));
    assert_eq!(o.code, Some(4), "{o:?}");
    assert!(o.stdout.contains("/dev/pts/"), "{o:?}");
    let o = d.docker(&run_args(rt, &["--rm"], &["tty"]));
    assert_eq!(o.stdout, "not a tty\n", "{o:?}");
    assert_no_containers(d);
}

#[test]
fn run_rm_propagates_output_and_exit_code() {
    run_rm(&start(), "sangja");
}

#[test]
fn errors_users_see_are_sangjas() {
    user_visible_errors(&start(), "sangja");
}

#[test]
fn detached_container_and_exec() {
    exec(&start(), "sangja");
}

#[test]
fn exec_user_workdir_env_kill_wait() {
    exec_options(&start(), "sangja");
}

#[test]
fn create_time_resources_and_oom_kill() {
    create_resources_and_oom(&start(), "sangja");
}

#[test]
fn rslave_volume_sees_later_host_mounts() {
    volume_propagation(&start(), "sangja");
}

#[test]
fn update_reaches_the_cgroup() {
    update(&start(), "sangja");
}

#[test]
fn pause_unpause_stop_start_rm() {
    pause_stop_rm(&start(), "sangja");
}

#[test]
fn run_it_gets_a_tty() {
    run_tty(&start(), "sangja");
}

/// The reference: the same steps with runc (`--runtime runc`, docker's default runtime).
#[test]
fn runc_passes_the_same_steps() {
    let d = start();
    run_rm(&d, "runc");
    user_visible_errors(&d, "runc");
    exec(&d, "runc");
    exec_options(&d, "runc");
    create_resources_and_oom(&d, "runc");
    volume_propagation(&d, "runc");
    update(&d, "runc");
    pause_stop_rm(&d, "runc");
    run_tty(&d, "runc");
}

/// Stopping the daemon with a running and a paused container leaves nothing: no process, mount,
/// network namespace, cgroup or temp dir.
#[test]
fn daemon_shutdown_leaves_nothing() {
    let mut d = start();
    run_detached(&d, "sangja", "ca");
    run_detached(&d, "sangja", "cb");
    assert!(d.docker(&["pause", "cb"]).success());
    let netns: Vec<_> = std::fs::read_dir(d.dir().join("exec/netns"))
        .unwrap()
        .collect();
    assert_eq!(netns.len(), 2, "one netns file per container");
    let pid = d.inspect("ca", "{{.State.Pid}}");
    d.shutdown();
    assert_eq!(d.leftovers(), Vec::<String>::new());
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

/// A test that fails after dockerd died hard (SIGKILL: containerd, shims and containers outlive it,
/// one container paused) still leaves nothing once its `Dockerd` is dropped during the unwind.
#[test]
fn a_failing_test_still_leaves_nothing() {
    let mut footprint = None;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let d = start();
        footprint = Some(d.footprint());
        run_detached(&d, "sangja", "fa");
        run_detached(&d, "sangja", "fb");
        assert!(d.docker(&["pause", "fb"]).success());
        let pid = std::fs::read_to_string(d.dir().join("docker.pid")).unwrap();
        spec_tests::host::send_signal(pid.trim().parse().unwrap(), libc::SIGKILL);
        panic!("deliberate failure with dockerd killed");
    }));
    assert!(r.is_err());
    let footprint = footprint.unwrap();
    assert_eq!(footprint.leftovers(), Vec::<String>::new());
    // The killed shims' sockets outside the temp dir were found (and removed).
    assert_eq!(footprint.shim_sockets().len(), 2);
}

/// `dockerd --userns-remap=default`: Docker makes the `dockremap` user and its subordinate ranges
/// (both removed afterwards when this test made them) and runs every container in a user
/// namespace mapped to them; sangja runs them: output and exit code, the map, `-d` + exec, stop,
/// rm.
#[test]
fn userns_remap_runs_containers_in_a_user_namespace() {
    let made_user = !user_exists("dockremap");
    let (subuid, subgid) = (read("/etc/subuid"), read("/etc/subgid"));
    let d = Dockerd::try_start_opts(&[("sangja", &sangja())], &["--userns-remap=default"])
        .unwrap_or_else(|e| panic!("{e}"));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let start = read("/etc/subuid")
            .lines()
            .find_map(|l| {
                l.strip_prefix("dockremap:")?
                    .split(':')
                    .next()
                    .map(String::from)
            })
            .expect("dockremap has a subordinate uid range");
        let o = d.docker(&run_args(
            "sangja",
            &["--rm"],
            &["sh", "-c", "cat /proc/self/uid_map; exit 3"],
        ));
        assert_eq!(o.code, Some(3), "{o:?}");
        let map: Vec<&str> = o.stdout.split_whitespace().collect();
        assert_eq!(map.get(..2), Some(&["0", start.as_str()][..]), "{o:?}");
        run_detached(&d, "sangja", "remapped");
        let o = d.docker(&["exec", "remapped", "id", "-u"]);
        assert_eq!(o.stdout.trim(), "0", "{o:?}");
        let o = d.docker(&["stop", "-t", "1", "remapped"]);
        assert!(o.success(), "{o:?}");
        let o = d.docker(&["rm", "remapped"]);
        assert!(o.success(), "{o:?}");
        assert_no_containers(&d);
    }));
    drop(d);
    if made_user {
        let _ = std::process::Command::new("userdel")
            .arg("dockremap")
            .status();
        let _ = std::fs::write("/etc/subuid", subuid);
        let _ = std::fs::write("/etc/subgid", subgid);
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn user_exists(name: &str) -> bool {
    read("/etc/passwd")
        .lines()
        .any(|l| l.split(':').next() == Some(name))
}
