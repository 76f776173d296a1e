//! Kubernetes drives sangja (issue 7): sangja is a CRI runtime handler of containerd. A private
//! containerd ([`spec_tests::containerd::Containerd`]) has its CRI plugin on, with runtime handler
//! `sangja` = `io.containerd.runc.v2` with `BinaryName` = the sangja under test and a runtime root
//! (`Root`) in its temp dir; the sandbox image is a busybox image whose default command is a long
//! sleep (the pause container). Pods use the host network (no CNI plugins here) and a private cgroup
//! parent. The tests talk CRI gRPC (`runtime.v1.RuntimeService`) as the kubelet would, through
//! `spec-tests/cri/cri_client.py` (a small crictl; needs `python3 -m pip install grpcio grpcio-tools
//! protobuf`).
//!
//! Needs root, Debian's `containerd`, `busybox-static`. Everything is removed on drop, even when a
//! test fails: pods stopped and removed through CRI, then what containerd still has, the daemon and
//! shims, mounts, cgroups, shim sockets and the temp dir.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use spec_tests::containerd::Containerd;
use spec_tests::host;

const IMAGE: &str = "localhost/sangja-pause:latest";
const CLIENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../spec-tests/cri/cri_client.py"
);

fn sangja() -> PathBuf {
    spec_tests::harness::sangja_bin(env!("CARGO_BIN_EXE_sangja"))
}

/// The CRI plugin: `sangja` (under test) and `runc` (the default handler, which CRI requires),
/// each with its runtime root in the temp dir; no CNI config (host-network pods only), a random
/// streaming port, no AppArmor, and sandboxes at containerd's own OOM score: this machine's root
/// lacks CAP_SYS_RESOURCE, so the usual -998 cannot be written (by sangja or runc).
fn cri_config() -> String {
    let p = r#"[plugins."io.containerd.grpc.v1.cri"]"#.trim_end_matches(']');
    format!(
        "{p}]\n  sandbox_image = \"{IMAGE}\"\n  stream_server_address = \"127.0.0.1\"\n  \
         stream_server_port = \"0\"\n  disable_apparmor = true\n  restrict_oom_score_adj = true\n\
         {p}.cni]\n  bin_dir = \"{{dir}}/cni/bin\"\n  conf_dir = \"{{dir}}/cni/net.d\"\n\
         {p}.containerd]\n  default_runtime_name = \"runc\"\n\
         {p}.containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n\
         {p}.containerd.runtimes.runc.options]\n  Root = \"{{dir}}/runc-runc\"\n\
         {p}.containerd.runtimes.sangja]\n  runtime_type = \"io.containerd.runc.v2\"\n\
         {p}.containerd.runtimes.sangja.options]\n  BinaryName = \"{bin}\"\n  \
         Root = \"{{dir}}/runc\"\n  SystemdCgroup = false\n",
        bin = sangja().display(),
    )
}

/// A private containerd serving CRI with sangja registered; see the module docs.
struct Cri(Containerd);

impl Deref for Cri {
    type Target = Containerd;
    fn deref(&self) -> &Containerd {
        &self.0
    }
}

impl Cri {
    fn start() -> Self {
        let c = Containerd::start("sangja-cri", Some("k8s.io"), &cri_config());
        c.import_image(IMAGE, &["sleep", "1000000"]);
        Self(c)
    }

    /// One CRI call; the response as JSON, or the gRPC error as "<code>: <message>".
    fn try_call(&self, method: &str, req: &Value) -> Result<Value, String> {
        let o = Command::new("python3")
            .arg(CLIENT)
            .arg(self.sock())
            .arg(method)
            .arg(req.to_string())
            .output()
            .expect("spawn python3");
        let stdout = String::from_utf8_lossy(&o.stdout);
        let stderr = String::from_utf8_lossy(&o.stderr);
        eprintln!(
            "cri {method} {req} -> {:?}\n  {stdout}{stderr}",
            o.status.code()
        );
        match o.status.code() {
            Some(0) => Ok(serde_json::from_str(&stdout).expect("response JSON")),
            Some(2) => Err(stderr.trim().to_string()),
            _ => panic!(
                "cri_client.py failed (python3 -m pip install grpcio grpcio-tools protobuf): {stderr}"
            ),
        }
    }

    #[track_caller]
    fn call(&self, method: &str, req: Value) -> Value {
        self.try_call(method, &req)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// A pod config: host network, logs in the temp dir, cgroup parent `/<name>`.
    fn pod_config(&self, name: &str) -> Value {
        json!({
            "metadata": {"name": name, "uid": format!("{name}-uid"), "namespace": "sangja-test"},
            "log_directory": self.dir().join("logs").join(name),
            "linux": {
                "cgroup_parent": format!("/{}", self.name()),
                "security_context": {"namespace_options": {"network": "NODE"}},
            },
        })
    }

    /// RunPodSandbox with handler sangja; returns the pod id.
    fn run_pod(&self, config: &Value) -> String {
        let r = self.call(
            "RunPodSandbox",
            json!({"config": config, "runtime_handler": "sangja"}),
        );
        r["pod_sandbox_id"].as_str().unwrap().to_string()
    }

    fn create(&self, pod: &str, pod_config: &Value, name: &str, cmd: &[&str]) -> String {
        let config = json!({
            "metadata": {"name": name},
            "image": {"image": IMAGE},
            "command": cmd,
            "log_path": format!("{name}.log"),
        });
        let r = self.call(
            "CreateContainer",
            json!({"pod_sandbox_id": pod, "config": config, "sandbox_config": pod_config}),
        );
        r["container_id"].as_str().unwrap().to_string()
    }

    fn status(&self, id: &str) -> Value {
        self.call("ContainerStatus", json!({"container_id": id}))["status"].clone()
    }

    /// Waits (10 s) for a container's state, e.g. `CONTAINER_EXITED`; returns its status.
    #[track_caller]
    fn wait_state(&self, id: &str, want: &str) -> Value {
        let mut last = Value::Null;
        let ok = host::wait_until(Duration::from_secs(10), || {
            last = self.status(id);
            // proto3 JSON leaves out the default, CONTAINER_CREATED
            last["state"].as_str().unwrap_or("CONTAINER_CREATED") == want
        });
        assert!(ok, "{id}: want {want}, status {last}");
        last
    }

    /// `sangja --root <handler's root> list`: the ids of the containers sangja runs for CRI.
    fn sangja_list(&self) -> Vec<(String, String)> {
        let o = Command::new(sangja())
            .arg("--root")
            .arg(self.dir().join("runc/k8s.io"))
            .args(["list", "--format", "json"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        v.as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let f = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                (f("id"), f("status"))
            })
            .collect()
    }

    fn pods(&self) -> Vec<String> {
        let r = self
            .try_call("ListPodSandbox", &json!({}))
            .unwrap_or_default();
        r["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["id"].as_str().map(str::to_string))
            .collect()
    }
}

impl Cri {
    /// Stops and removes the pods through CRI (as the kubelet would), then shuts the daemon down
    /// ([`Containerd::shutdown`]); idempotent.
    fn shutdown(&mut self) {
        if self.sock().exists() {
            for p in self.pods() {
                let _ = self.try_call("StopPodSandbox", &json!({"pod_sandbox_id": p}));
                let _ = self.try_call("RemovePodSandbox", &json!({"pod_sandbox_id": p}));
            }
        }
        self.0.shutdown();
    }
}

impl Drop for Cri {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Stops the daemon and checks that nothing of it, and no runtime state of the `ids`, remains.
fn shut_down_and_check(mut c: Cri, ids: &[String]) {
    let pods = c.pods();
    assert!(pods.is_empty(), "pods left: {pods:?}");
    c.shutdown();
    assert_eq!(c.leftovers(), Vec::<String>::new());
    for id in ids {
        for root in ["/run/sangja", "/run/runc", "/run/containerd/runc/k8s.io"] {
            let p = Path::new(root).join(id);
            assert!(!p.exists(), "{} left behind", p.display());
        }
    }
}

#[test]
fn cri_pod_lifecycle_runs_on_sangja() {
    let c = Cri::start();
    let v = c.call("Version", json!({"version": "v1"}));
    assert_eq!(v["runtime_name"], "containerd", "{v}");
    assert_eq!(v["runtime_api_version"], "v1", "{v}");

    let pod_config = c.pod_config("pod1");
    let pod = c.run_pod(&pod_config);
    let s = c.call("PodSandboxStatus", json!({"pod_sandbox_id": pod}));
    assert_eq!(s["status"]["runtime_handler"], "sangja", "{s}");
    assert_eq!(
        s["status"]["state"],
        Value::Null,
        "SANDBOX_READY (the default): {s}"
    );
    // The pause container is sangja's: it is in the sangja handler's runtime root, running, and
    // the runc handler's root has nothing.
    assert_eq!(c.sangja_list(), vec![(pod.clone(), "running".to_string())]);
    assert!(!c.dir().join("runc-runc/k8s.io").join(&pod).exists());

    // A container that prints to stdout and stderr and exits 7.
    let hello = c.create(
        &pod,
        &pod_config,
        "hello",
        &[
            "sh",
            "-c",
            "echo hello from sangja; echo to stderr >&2; exit 7",
        ],
    );
    assert_eq!(c.status(&hello).get("state"), None, "CONTAINER_CREATED");
    // CRI creates the OCI container (the task) only at StartContainer.
    assert_eq!(c.sangja_list(), vec![(pod.clone(), "running".to_string())]);
    c.call("StartContainer", json!({"container_id": hello}));
    let st = c.wait_state(&hello, "CONTAINER_EXITED");
    assert_eq!(st["exit_code"], 7, "{st}");
    assert_eq!(st["reason"], "Error", "{st}");
    let log_path = st["log_path"].as_str().unwrap();
    assert_eq!(
        Path::new(log_path),
        c.dir().join("logs/pod1/hello.log").as_path()
    );
    let log = fs::read_to_string(log_path).unwrap();
    // CRI log format: "<time> <stream> F <line>"
    let lines: Vec<(&str, &str)> = log
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(4, ' ');
            let (_, stream, _, text) = (f.next()?, f.next()?, f.next()?, f.next()?);
            Some((stream, text))
        })
        .collect();
    assert!(lines.contains(&("stdout", "hello from sangja")), "{log}");
    assert!(lines.contains(&("stderr", "to stderr")), "{log}");

    // A long-running container and ExecSync into it; it shares the pod's pid namespace (joined by
    // path), so the pause process is pid 1 there.
    let long = c.create(&pod, &pod_config, "long", &["sleep", "1000"]);
    c.call("StartContainer", json!({"container_id": long}));
    c.wait_state(&long, "CONTAINER_RUNNING");
    assert!(c
        .sangja_list()
        .contains(&(long.clone(), "running".to_string())));
    let r = c.call(
        "ExecSync",
        json!({"container_id": long, "cmd": ["sh", "-c", "ps; echo exec stderr >&2; exit 3"], "timeout": 30}),
    );
    assert_eq!(r["exit_code"], 3, "{r}");
    assert_eq!(r["stderr"], "exec stderr\n", "{r}");
    let ps = r["stdout"].as_str().unwrap();
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().next() == Some("1") && l.contains("sleep 1000000")),
        "{ps}"
    );
    assert!(ps.contains("sleep 1000\n"), "{ps}");
    let r = c.call(
        "ExecSync",
        json!({"container_id": long, "cmd": ["echo", "exec stdout"], "timeout": 30}),
    );
    assert_eq!(r["stdout"], "exec stdout\n", "{r}");
    assert_eq!(r.get("exit_code"), None, "0 (the default): {r}");

    // Stop (SIGTERM kills sleep, which is not pid 1) and remove.
    c.call(
        "StopContainer",
        json!({"container_id": long, "timeout": 10}),
    );
    let st = c.wait_state(&long, "CONTAINER_EXITED");
    assert_eq!(st["exit_code"], 143, "SIGTERM: {st}");
    for id in [&long, &hello] {
        c.call("RemoveContainer", json!({"container_id": id}));
    }
    let r = c.call("ListContainers", json!({}));
    assert_eq!(r.get("containers"), None, "{r}");
    assert_eq!(c.sangja_list(), vec![(pod.clone(), "running".to_string())]);

    c.call("StopPodSandbox", json!({"pod_sandbox_id": pod}));
    let s = c.call("PodSandboxStatus", json!({"pod_sandbox_id": pod}));
    assert_eq!(s["status"]["state"], "SANDBOX_NOTREADY", "{s}");
    assert_eq!(c.sangja_list(), vec![]);
    c.call("RemovePodSandbox", json!({"pod_sandbox_id": pod}));
    assert!(c
        .try_call("PodSandboxStatus", &json!({"pod_sandbox_id": pod}))
        .is_err());
    shut_down_and_check(c, &[pod, hello, long]);
}

#[test]
fn cri_start_reports_sangjas_error() {
    let c = Cri::start();
    let pod_config = c.pod_config("pod2");
    let pod = c.run_pod(&pod_config);
    let bad = c.create(&pod, &pod_config, "bad", &["/nonexistent"]);
    let err = c
        .try_call("StartContainer", &json!({"container_id": bad}))
        .expect_err("StartContainer of /nonexistent");
    let sangjas = r#"exec: "/nonexistent": stat /nonexistent: no such file or directory"#;
    assert!(
        err.contains("OCI runtime create failed: sangja create failed") && err.contains(sangjas),
        "{err}"
    );
    let st = c.status(&bad);
    assert_eq!(st["state"], "CONTAINER_EXITED", "{st}");
    assert_eq!(st["reason"], "StartError", "{st}");
    assert!(st["message"].as_str().unwrap().contains(sangjas), "{st}");
    // Nothing of the failed container in sangja's root; the pod goes on.
    assert_eq!(c.sangja_list(), vec![(pod.clone(), "running".to_string())]);
    c.call("RemoveContainer", json!({"container_id": bad}));
    c.call("StopPodSandbox", json!({"pod_sandbox_id": pod}));
    c.call("RemovePodSandbox", json!({"pod_sandbox_id": pod}));
    shut_down_and_check(c, &[pod, bad]);
}
