//! cgroup v2, for real: this host is hybrid, so a VM boots Debian's kernel with only cgroup2 mounted
//! at `/sys/fs/cgroup` and runs the v2 checks inside, once: resources in the unified files (with the
//! controllers enabled down the tree), `unified` keys, `pause`/`resume` through `cgroup.freeze`, stats,
//! `update`, `ps`, `kill --all`, an OOM kill seen by `events`, a refused value leaving nothing, and
//! `delete`. Each check prints `CHECK <name> ok|FAIL: <why>` on the serial console; this test fails on
//! any FAIL, on a missing check, or when the guest does not finish.
//!
//! Devices: the eBPF device program `create` attaches denies a node the config made but did not
//! allow (EPERM), and allows `/dev/null` and an allowed node.
//!
//! Block I/O weight: first without BFQ (iocost's `io.weight`), then with Debian's `bfq.ko` loaded
//! (`io.bfq.weight`, at create and update): the host of these tests may have no BFQ at all.

use std::path::Path;

use serde_json::{json, Value};
use spec_tests::config::set_pointer;
use spec_tests::vm::{self, Initramfs};

/// The checks (busybox sh).
const V2TEST: &str = r#"
CG=/sys/fs/cgroup
echo "controllers: $(cat $CG/cgroup.controllers)"

# 1. Every v2 resource in its file (controllers enabled down to the container's parent).
if $S create -b /bundles/res c1 >/tmp/c1.out 2>/tmp/c1.err; then ok create; else fail create "$(cat /tmp/c1.err)"; fi
D=$CG/sangja/c1
eq memory.max $D/memory.max 67108864
eq memory.swap.max $D/memory.swap.max 67108864
eq memory.low $D/memory.low 33554432
eq unified.memory.high $D/memory.high 50331648
eq cpu.weight $D/cpu.weight 39
eq cpu.max $D/cpu.max "50000 100000"
eq cpu.max.burst $D/cpu.max.burst 1000
eq cpu.idle $D/cpu.idle 0
eq cpuset.cpus $D/cpuset.cpus 0
eq pids.max $D/pids.max 32
eq hugetlb.2MB.max $D/hugetlb.2MB.max 4194304
# BFQ is not loaded yet: the weight goes to iocost's io.weight (10..1000 onto 1..10000). With BFQ: 11.
has io.weight $D/io.weight "default 2930"
has subtree_control $CG/sangja/cgroup.subtree_control memory
pid=$($S state c1 | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
has init-in-cgroup $D/cgroup.procs "^$pid\$"

# 2. pause / resume through cgroup.freeze.
$S start c1
sleep 1
if $S pause c1; then ok pause; else fail pause "exit $?"; fi
[ "$(status c1)" = paused ] && ok state-paused || fail state-paused "$(status c1)"
eq cgroup.freeze $D/cgroup.freeze 1
has cgroup.events $D/cgroup.events "frozen 1"
n1=$(wc -l < /tmp/c1.out); sleep 1; n2=$(wc -l < /tmp/c1.out)
[ "$n1" = "$n2" ] && ok paused-no-progress || fail paused-no-progress "$n1 -> $n2 lines"
if $S resume c1; then ok resume; else fail resume "exit $?"; fi
[ "$(status c1)" = running ] && ok state-running || fail state-running "$(status c1)"
sleep 1; n3=$(wc -l < /tmp/c1.out)
[ "$n3" -gt "$n2" ] && ok resumed-progress || fail resumed-progress "$n2 -> $n3 lines"

# 3. Stats, runc-shaped.
$S events --stats c1 > /tmp/ev 2>&1
has stats-type /tmp/ev '"type":"stats"'
u=$(sed -n 's/.*"usage":{"limit":[0-9]*,"usage":\([0-9]*\).*/\1/p' /tmp/ev)
[ "${u:-0}" -gt 0 ] && ok stats-memory-usage || fail stats-memory-usage "$(head -c 400 /tmp/ev)"
has stats-pids /tmp/ev '"pids":{"current":'

# 4. update.
$S update --memory 100M --pids-limit 50 c1
eq update.memory.max $D/memory.max 104857600
eq update.pids.max $D/pids.max 50
$S update --cpu-period 200000 c1
eq update.cpu.max-keeps-quota $D/cpu.max "50000 200000"
echo '{"memory":{"limit":83886080}}' | $S update -r - c1
eq update-r $D/memory.max 83886080

# 5. ps.
$S ps -f json c1 > /tmp/ps
has ps-json /tmp/ps "$pid"

# 6. kill --all of a paused container, delete.
$S pause c1
$S kill --all c1 KILL
sleep 1
[ "$(status c1)" = stopped ] && ok kill-all-paused || fail kill-all-paused "$(status c1)"
if $S delete c1 && [ ! -e $D ]; then ok delete-removes-cgroup; else fail delete-removes-cgroup "$(ls $D 2>&1 | head -3)"; fi

# 7. A value the kernel refuses: named, nothing left.
if $S create -b /bundles/bad c2 >/tmp/c2.out 2>/tmp/c2.err; then
  fail refused "create succeeded"
else
  has refused-names-field /tmp/c2.err linux.resources.cpu.cpus
  has refused-names-file /tmp/c2.err cpuset.cpus
fi
[ ! -e $CG/sangja/c2 ] && [ ! -e /run/sangja/c2 ] && ok refused-leaves-nothing || fail refused-leaves-nothing "$(ls $CG/sangja /run/sangja)"

# 8. A memory hog is OOM-killed; events reports it.
$S create -b /bundles/oom c3 >/tmp/c3.out 2>&1 && $S start c3
$S events --interval 200ms c3 > /tmp/ev3 2>&1
has oom-event /tmp/ev3 '"type":"oom"'
has oom-killed /tmp/c3.out 'dd=137'
$S delete -f c3

# 9. A fork loop stops at the pids limit.
$S create -b /bundles/pids c4 >/tmp/c4.out 2>&1 && $S start c4
sleep 2
has pids-limit-hit $CG/sangja/c4/pids.events "max [1-9]"
$S delete -f c4

# 10. Devices: the eBPF program denies a node made through linux.devices but not allowed in
# resources.devices (EPERM before the driver is reached), allows /dev/null and an allowed node
# (8:16 has no disk here: the driver's ENXIO, not EPERM).
if $S create -b /bundles/dev c5 >/tmp/c5.out 2>&1 && $S start c5; then ok device-create; else fail device-create "$(cat /tmp/c5.out)"; fi
i=0; while [ "$(status c5)" != stopped ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
has device-null-ok /tmp/c5.out 'null=0'
has device-denied-eperm /tmp/c5.out 'sda=1 .*Operation not permitted'
if grep -q 'sdb=1 .*No such device' /tmp/c5.out && ! grep -q 'sdb=.*Operation not permitted' /tmp/c5.out; then ok device-allowed; else fail device-allowed "$(cat /tmp/c5.out)"; fi
has device-mknod-allowed /tmp/c5.out 'mknod=0'
$S delete -f c5

# 11. With the BFQ I/O scheduler loaded (a module of Debian's kernel; the hosts of these tests may have
# none), a blkio weight lands in io.bfq.weight, at create and at update.
if insmod /bfq.ko; then ok bfq-loaded; else fail bfq-loaded "insmod exit $?"; fi
if $S create -b /bundles/weight c6 >/tmp/c6.out 2>&1; then ok bfq-create; else fail bfq-create "$(cat /tmp/c6.out)"; fi
has io.bfq.weight $CG/sangja/c6/io.bfq.weight "default 300"
$S update --blkio-weight 500 c6
has update.io.bfq.weight $CG/sangja/c6/io.bfq.weight "default 500"
$S delete -f c6
left=$(find $CG/sangja -mindepth 1 -type d; ls /run/sangja)
[ -z "$left" ] && ok nothing-left || fail nothing-left "$left"
"#;

/// The checks `V2TEST` must report.
const CHECKS: &[&str] = &[
    "create",
    "memory.max",
    "memory.swap.max",
    "memory.low",
    "unified.memory.high",
    "cpu.weight",
    "cpu.max",
    "cpu.max.burst",
    "cpu.idle",
    "cpuset.cpus",
    "pids.max",
    "hugetlb.2MB.max",
    "io.weight",
    "subtree_control",
    "init-in-cgroup",
    "pause",
    "state-paused",
    "cgroup.freeze",
    "cgroup.events",
    "paused-no-progress",
    "resume",
    "state-running",
    "resumed-progress",
    "stats-type",
    "stats-memory-usage",
    "stats-pids",
    "update.memory.max",
    "update.pids.max",
    "update.cpu.max-keeps-quota",
    "update-r",
    "ps-json",
    "kill-all-paused",
    "delete-removes-cgroup",
    "refused-names-field",
    "refused-names-file",
    "refused-leaves-nothing",
    "oom-event",
    "oom-killed",
    "pids-limit-hit",
    "device-create",
    "device-null-ok",
    "device-denied-eperm",
    "device-allowed",
    "device-mknod-allowed",
    "bfq-loaded",
    "bfq-create",
    "io.bfq.weight",
    "update.io.bfq.weight",
    "nothing-left",
];

fn config(args: &[&str], resources: Value) -> Vec<u8> {
    let mut c = vm::guest_config(args);
    set_pointer(&mut c, "/linux/resources", resources);
    serde_json::to_vec_pretty(&c).expect("config")
}

fn initramfs(sangja: &Path) -> Initramfs {
    let mut i = vm::guest(sangja, "V2", "", V2TEST);
    let counter = [
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done",
    ];
    let deny = json!([{"allow": false, "access": "rwm"}]);
    let res = json!({
        "devices": deny,
        "memory": {"limit": 64u64 << 20, "swap": 128u64 << 20, "reservation": 32u64 << 20},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000, "idle": 0,
                "cpus": "0", "mems": "0"},
        "pids": {"limit": 32},
        "blockIO": {"weight": 300},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4u64 << 20}],
        "unified": {"memory.high": "50331648"}
    });
    i.file(
        "/payload/bundles/res/config.json",
        &config(&counter, res),
        0o644,
    );
    let weight = json!({"devices": deny, "blockIO": {"weight": 300}});
    i.file(
        "/payload/bundles/weight/config.json",
        &config(&["sleep", "100"], weight),
        0o644,
    );
    i.copy("/payload/bfq.ko", &vm::kernel_module("bfq"));
    let bad = json!({"devices": deny, "cpu": {"cpus": "99"}});
    i.file(
        "/payload/bundles/bad/config.json",
        &config(&["sleep", "100"], bad),
        0o644,
    );
    let oom = json!({"devices": deny, "memory": {"limit": 16u64 << 20, "swap": 16u64 << 20}});
    let hog = [
        "sh",
        "-c",
        "sleep 0.5; dd if=/dev/zero of=/dev/null bs=64M count=1; echo dd=$?; sleep 0.5",
    ];
    i.file(
        "/payload/bundles/oom/config.json",
        &config(&hog, oom),
        0o644,
    );
    let pids = json!({"devices": deny, "pids": {"limit": 8}});
    let forks = [
        "sh",
        "-c",
        "(for i in $(seq 30); do sleep 100 & done) 2>/dev/null; exec sleep 100",
    ];
    i.file(
        "/payload/bundles/pids/config.json",
        &config(&forks, pids),
        0o644,
    );
    let dev_res = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "b", "major": 8, "minor": 16, "access": "rw"}
    ]});
    let probe = [
        "sh",
        "-c",
        "echo x >/dev/null; echo null=$?; \
         e=$(head -c 1 /dev/sda 2>&1 >/dev/null); echo \"sda=$? $e\"; \
         e=$(head -c 1 /dev/sdb 2>&1 >/dev/null); echo \"sdb=$? $e\"; \
         mknod /tmp/sdc b 8 32; echo mknod=$?",
    ];
    let mut dev = serde_json::from_slice::<Value>(&config(&probe, dev_res)).expect("config");
    set_pointer(
        &mut dev,
        "/linux/devices",
        json!([
            {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "fileMode": 438, "uid": 0, "gid": 0},
            {"path": "/dev/sdb", "type": "b", "major": 8, "minor": 16, "fileMode": 438, "uid": 0, "gid": 0}
        ]),
    );
    // mknod needs CAP_MKNOD (not in runc's default set) and a writable place.
    for set in ["bounding", "effective", "permitted"] {
        set_pointer(
            &mut dev,
            &format!("/process/capabilities/{set}"),
            json!([
                "CAP_AUDIT_WRITE",
                "CAP_KILL",
                "CAP_NET_BIND_SERVICE",
                "CAP_MKNOD"
            ]),
        );
    }
    let mut mounts = dev["mounts"].as_array().cloned().unwrap_or_default();
    mounts.push(
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}),
    );
    set_pointer(&mut dev, "/mounts", Value::Array(mounts));
    i.file(
        "/payload/bundles/dev/config.json",
        &serde_json::to_vec_pretty(&dev).expect("config"),
        0o644,
    );
    i
}

#[test]
fn cgroup_v2_in_a_vm() {
    let sangja = spec_tests::sangja_bin(env!("CARGO_BIN_EXE_sangja"));
    let report = vm::run_checks(initramfs(&sangja), "V2", "", CHECKS);
    println!("{report}");
}
