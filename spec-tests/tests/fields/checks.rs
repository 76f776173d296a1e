//! The fields whose effect takes more than one command to show: each function runs its own
//! containers, asserts what it must, and returns the outcome and what it saw.
use std::fs;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use spec_tests::{assert_nothing_left, Bundle, Harness};

use super::Outcome::{self, Applied, Refused};

/// Creates, starts and waits for `b`; returns the container's stdout (asserts every step).
fn lifecycle(h: &Harness, b: &Bundle, extra: &[&str]) -> String {
    let id = h.id();
    let (out, c) = h.try_create(b, &id, extra);
    out.ok();
    h.cmd(&["start", &id]).ok();
    h.wait_status(&id, "stopped", spec_tests::secs(20));
    h.cmd(&["delete", &id]).ok();
    c.output()
}

/// `ociVersion`: every 1.x up to 1.3 runs, 2.0.0 is refused naming it.
pub fn version(h: &Harness) -> (Outcome, String) {
    let mut b = h.bundle_private();
    b.args(&["true"]);
    b.set("/ociVersion", json!("1.3.0"));
    lifecycle(h, &b, &[]);
    b.set("/ociVersion", json!("2.0.0"));
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &[]);
    out.failed().assert_error("ociVersion");
    assert_nothing_left(h, &id, &b);
    (Applied, "1.3.0 runs, 2.0.0 refused".into())
}

const HOOK_KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Where a hook of `kind` finds the log: createContainer runs in the container's mount
/// namespace before `pivot_root` with the rootfs as its cwd, startContainer in the container.
fn hook_log(kind: &str, host_dir: &std::path::Path) -> String {
    match kind {
        "createContainer" => "hooklog/log".into(),
        "startContainer" => "/hooklog/log".into(),
        _ => host_dir.join("log").display().to_string(),
    }
}

/// Each kind's hook runs its `path` with its `args` (argv[0] included) and only its `env`.
pub fn hooks(h: &Harness) -> (Outcome, String) {
    let logs = h.tempdir("hooklog");
    let mut b = h.bundle_private();
    b.add_mount(json!({"destination": "/hooklog", "type": "bind",
        "source": logs.to_str().unwrap(), "options": ["rbind"]}));
    for kind in HOOK_KINDS {
        let log = hook_log(kind, &logs);
        b.set(
            &format!("/hooks/{kind}"),
            json!([{"path": "/bin/sh",
                "args": ["sh", "-c", "echo \"$0 $1 $HOOK_VAR ${HOME:-no-home}\" >> \"$LOG\"", kind, "a1"],
                "env": [format!("HOOK_VAR=v-{kind}"), format!("LOG={log}")], "timeout": 5}]),
        );
    }
    b.args(&["true"]);
    lifecycle(h, &b, &[]);
    let got = fs::read_to_string(logs.join("log")).unwrap_or_default();
    let want: Vec<String> = [
        "createRuntime",
        "prestart",
        "createContainer",
        "startContainer",
    ]
    .iter()
    .chain(&["poststart", "poststop"])
    .map(|k| format!("{k} a1 v-{k} no-home"))
    .collect();
    let mut lines: Vec<&str> = got.lines().collect();
    // prestart and createRuntime run at the same point of create: either order is runc's.
    lines.sort_by_key(|l| want.iter().position(|w| w == l));
    assert_eq!(lines, want, "hook log:\n{got}");
    (
        Applied,
        "all six kinds ran with their path, args and env only".into(),
    )
}

/// A hook that outlives its `timeout` is killed: the four before the process starts fail the
/// step naming the hook; poststart and poststop are only warned about, as runc does.
pub fn hook_timeouts(h: &Harness) -> (Outcome, String) {
    let mut seen = Vec::new();
    std::thread::scope(|s| {
        let runs: Vec<_> = HOOK_KINDS
            .iter()
            .map(|kind| {
                s.spawn(move || {
                    let mut b = h.bundle_private();
                    b.set(
                        &format!("/hooks/{kind}"),
                        json!([{"path": "/bin/sleep", "args": ["sleep", "20"], "timeout": 1}]),
                    );
                    b.args(&["true"]);
                    let t = Instant::now();
                    let out = h.run(&b);
                    (kind, out, t.elapsed())
                })
            })
            .collect();
        for r in runs {
            let (kind, out, took) = r.join().unwrap();
            assert!(
                took < Duration::from_secs(10),
                "{kind}: the hook was not killed: {took:?}"
            );
            let fails = !matches!(*kind, "poststart" | "poststop");
            assert_eq!(!out.success(), fails, "{kind}: {out}");
            assert!(
                out.stderr.contains(kind),
                "{kind}: the hook is not named: {out}"
            );
            seen.push(format!("{kind} {:.1}s", took.as_secs_f64()));
        }
    });
    (Applied, format!("killed after 1 s: {}", seen.join(", ")))
}

/// `annotations` are the state's.
pub fn annotations(h: &Harness) -> (Outcome, String) {
    let mut b = h.bundle_private();
    b.set("/annotations", json!({"org.example.fields": "v1", "x": ""}));
    b.args(&["true"]);
    let c = h.create(&b);
    let got = h.state(&c.id)["annotations"].clone();
    h.cmd(&["delete", "--force", &c.id]).ok();
    assert_eq!(got, json!({"org.example.fields": "v1", "x": ""}));
    (Applied, format!("state: {got}"))
}

/// `terminal` gives the process a pty (sent to the console socket) of `consoleSize`.
pub fn terminal(h: &Harness) -> (Outcome, String) {
    let mut b = h.bundle_private();
    b.set("/process/terminal", json!(true));
    b.set("/process/consoleSize", json!({"height": 33, "width": 101}));
    b.args(&["sh", "-c", "tty; stty size"]);
    let sock = spec_tests::console::ConsoleSocket::bind(&h.tempdir("console").join("sock"));
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &["--console-socket", sock.path_str()]);
    out.ok();
    let mut got = sock.receive(spec_tests::secs(10));
    h.cmd(&["start", &id]).ok();
    let text = spec_tests::console::read_until_closed(&mut got.master, spec_tests::secs(10));
    h.wait_status(&id, "stopped", spec_tests::secs(10));
    h.cmd(&["delete", &id]).ok();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(text, "/dev/pts/0 33 101");
    (Applied, text)
}

/// A namespace `type` without a path is new; with a `path` it is that one (the test's own
/// network namespace here).
pub fn namespaces(h: &Harness) -> (Outcome, String) {
    let mut b = h.bundle_private();
    let own = format!("/proc/{}/ns", std::process::id());
    let ns: Vec<Value> = b.config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| match n["type"] == "network" {
            true => json!({"type": "network", "path": format!("{own}/net")}),
            false => n.clone(),
        })
        .collect();
    b.set("/linux/namespaces", json!(ns));
    b.args(&[
        "sh",
        "-c",
        "readlink /proc/self/ns/net; readlink /proc/self/ns/uts",
    ]);
    let got = lifecycle(h, &b, &[]);
    let link = |kind: &str| fs::read_link(format!("{own}/{kind}")).unwrap();
    let want_net = link("net").display().to_string();
    let host_uts = link("uts").display().to_string();
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.first(), Some(&want_net.as_str()), "{got}");
    assert!(
        lines
            .get(1)
            .is_some_and(|u| u.starts_with("uts:[") && *u != host_uts),
        "{got}"
    );
    (
        Applied,
        format!("net joined {want_net}, uts new {}", lines[1]),
    )
}

/// A whole disk `major:minor` (throttles refuse partitions), from `/sys/block`.
fn a_disk() -> Option<String> {
    let mut disks: Vec<String> = fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|d| !d.starts_with("loop") && !d.starts_with("ram") && !d.starts_with("zram"))
        .collect();
    disks.sort();
    let d = disks.first()?;
    fs::read_to_string(format!("/sys/block/{d}/dev"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Per-device weights (BFQ: refused naming the field where the kernel has none) and throttles.
pub fn block_devices(h: &Harness) -> (Outcome, String) {
    let Some(disk) = a_disk() else {
        spec_tests::unchecked!("blockIO device fields", "no whole disk in /sys/block");
        return (Refused, "no disk to name".into());
    };
    let (major, minor) = disk.split_once(':').unwrap();
    let (major, minor): (u64, u64) = (major.parse().unwrap(), minor.parse().unwrap());
    let dev = |rate: u64| json!([{"major": major, "minor": minor, "rate": rate}]);
    let mut b = h.bundle_private();
    b.set(
        "/linux/resources/blockIO",
        json!({"throttleReadBpsDevice": dev(1 << 20), "throttleWriteBpsDevice": dev(2 << 20),
            "throttleReadIOPSDevice": dev(100), "throttleWriteIOPSDevice": dev(200)}),
    );
    b.args(&[
        "sh",
        "-c",
        &format!(
            "{}{}",
            super::CG,
            "cg blkio.throttle.read_bps_device io.max; cg blkio.throttle.write_bps_device; \
         cg blkio.throttle.read_iops_device; cg blkio.throttle.write_iops_device"
        ),
    ]);
    let got = lifecycle(h, &b, &[]);
    let flat = got.split_whitespace().collect::<Vec<_>>().join(" ");
    let v1 = format!("{disk} 1048576 {disk} 2097152 {disk} 100 {disk} 200");
    let v2 = format!("{disk} rbps=1048576 wbps=2097152 riops=100 wiops=200");
    assert!(flat == v1 || flat.starts_with(&v2), "throttles: {flat:?}");

    let mut b = h.bundle_private();
    b.set(
        "/linux/resources/blockIO",
        json!({"weightDevice": [{"major": major, "minor": minor, "weight": 300, "leafWeight": 300}]}),
    );
    b.args(&["true"]);
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &[]);
    let weights = if out.success() {
        h.cmd(&["delete", "--force", &id]).ok();
        "per-device weight written"
    } else {
        out.assert_error("linux.resources.blockIO.weightDevice[0]");
        assert_nothing_left(h, &id, &b);
        "per-device weight refused naming weightDevice[0] (no BFQ here)"
    };
    (Applied, format!("throttles {flat}; {weights}"))
}

/// `checkBeforeUpdate`: an `update` to a memory limit under the usage is refused, and the limit
/// stays.
pub fn check_before_update(h: &Harness) -> (Outcome, String) {
    let mut b = h.bundle_private();
    b.set(
        "/linux/resources/memory",
        json!({"limit": 67108864, "checkBeforeUpdate": true}),
    );
    b.args(&["sleep", "30"]);
    let c = h.create(&b);
    let out = h.cmd(&["update", "--memory", "4096", &c.id]);
    h.cmd(&["delete", "--force", &c.id]).ok();
    out.failed().assert_error("checkBeforeUpdate");
    (Applied, out.error_lines().join(" "))
}

/// The probe (raw syscalls) in a container with `profile` as `linux.seccomp`.
fn probe(h: &Harness, profile: Value, calls: &[&str]) -> String {
    let mut b = h.bundle_private();
    let probe = spec_tests::seccomp::mount_probe(&mut b);
    b.set("/linux/seccomp", profile);
    let mut args = vec![probe];
    args.extend_from_slice(calls);
    b.args(&args);
    lifecycle(h, &b, &[])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Rules: names, action, errnoRet and argument comparisons (`valueTwo` with `MASKED_EQ`);
/// `architectures` decides whether i386 calls meet the rules.
pub fn seccomp_rules(h: &Harness) -> (Outcome, String) {
    let rules = json!([
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
         "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]},
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 39,
         "args": [{"index": 1, "value": 240, "valueTwo": 80, "op": "SCMP_CMP_MASKED_EQ"}]}]);
    let got = probe(
        h,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}),
        &["x64:39:5", "x64:39:6", "x64:110:0:0x5a", "x64:110:0:0x6a"],
    );
    assert_eq!(
        got,
        "x64:39:5 -38 x64:39:6 ok x64:110:0:0x5a -39 x64:110:0:0x6a ok"
    );
    // i386 getpid (20) meets the rule only where the profile lists the architecture.
    let with = |archs: Value| {
        let rule = json!([{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]);
        probe(
            h,
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": archs, "syscalls": rule}),
            &["i386:20", "x64:39"],
        )
    };
    let listed = with(json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]));
    assert_eq!(listed, "i386:20 -38 x64:39 -38");
    // An architecture the profile does not list meets no rule: the call is killed (libseccomp's
    // bad-architecture action, as runc's filters).
    let unlisted = with(json!(["SCMP_ARCH_X86_64"]));
    assert_eq!(unlisted, "", "the i386 call was not killed");
    let unlisted = "killed";
    (
        Applied,
        format!("{got}; X86 listed: {listed}; unlisted: {unlisted}"),
    )
}

/// `defaultErrnoRet` is what the default action returns.
pub fn seccomp_default_errno(h: &Harness) -> (Outcome, String) {
    let profile = match spec_tests::seccomp::try_docker_default() {
        Ok(p) => p,
        Err(e) => {
            spec_tests::unchecked!("linux.seccomp.defaultErrnoRet", "{e}");
            return (Applied, format!("not checked: {e}"));
        }
    };
    let mut p = profile.clone();
    p["defaultErrnoRet"] = json!(38);
    // kexec_load (246) is not in Docker's allow list.
    let with = probe(h, p, &["x64:246"]);
    let mut p = profile;
    p.as_object_mut().unwrap().remove("defaultErrnoRet");
    p["defaultAction"] = json!("SCMP_ACT_ERRNO");
    let without = probe(h, p, &["x64:246"]);
    assert_eq!(
        (with.as_str(), without.as_str()),
        ("x64:246 -38", "x64:246 -1")
    );
    (
        Applied,
        format!("docker's profile with 38: {with}; without: {without}"),
    )
}

/// `flags`: SPEC_ALLOW leaves speculative store bypass unmitigated (seen where the CPU is
/// vulnerable and the kernel mitigates under seccomp); a flag the kernel lacks is refused.
pub fn seccomp_flags(h: &Harness) -> (Outcome, String) {
    let ssb = |flags: Value| {
        let mut b = h.bundle_private();
        b.set(
            "/linux/seccomp",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": flags}),
        );
        b.args(&[
            "sh",
            "-c",
            "grep Speculation_Store_Bypass /proc/self/status | cut -f2",
        ]);
        lifecycle(h, &b, &[]).trim().to_string()
    };
    let plain = ssb(json!([]));
    let allowed = ssb(json!([
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_LOG"
    ]));
    let seen = if plain == allowed {
        spec_tests::unchecked!(
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            "speculative store bypass is {plain:?} with and without it on this CPU and kernel"
        );
        format!("SSB {plain:?} either way (not observable here)")
    } else {
        assert!(
            plain.contains("mitigated") && !allowed.contains("mitigated"),
            "{plain} / {allowed}"
        );
        format!("SSB {plain:?} → {allowed:?} with SPEC_ALLOW")
    };
    let mut b = h.bundle_private();
    b.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NONE_SUCH"]}),
    );
    let id = h.id();
    let (out, _) = h.try_create(&b, &id, &[]);
    out.failed().assert_error("linux.seccomp.flags");
    assert_nothing_left(h, &id, &b);
    (Applied, format!("{seen}; an unknown flag refused"))
}

/// `listenerPath` gets the listener fd with the state, which carries `listenerMetadata`.
pub fn seccomp_listener(h: &Harness) -> (Outcome, String) {
    let path = h.tempdir("agent").join("agent.sock");
    let server = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut b = h.bundle_private();
    let probe = spec_tests::seccomp::mount_probe(&mut b);
    b.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": path.to_str().unwrap(), "listenerMetadata": "fields=1",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    b.args(&[probe, "x64:110"]);
    let agent = std::thread::spawn(move || {
        let (conn, _) = server.accept().unwrap();
        // Closing the listener answers every notified call with ENOSYS.
        let (state, fd) = spec_tests::seccomp::recv_state(conn.as_raw_fd());
        // SAFETY: the fd came with SCM_RIGHTS: the kernel installed it for us alone.
        unsafe { libc::close(fd) };
        state
    });
    let got = lifecycle(h, &b, &[]);
    let state = agent.join().unwrap();
    assert_eq!(state["metadata"], "fields=1", "{state}");
    assert_eq!(got.trim(), "x64:110 -38");
    (
        Applied,
        format!(
            "agent got metadata {}; getppid {}",
            state["metadata"],
            got.trim()
        ),
    )
}
