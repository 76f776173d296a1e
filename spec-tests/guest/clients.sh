# Sourced by run.sh in the stock-distro guest: docker, podman and containerd's CRI with sangja as a runtime
# and each client's default cgroup settings on this systemd, cgroup v2 host (docker's and podman's systemd
# driver, containerd's SystemdCgroup = true). The configuration is the README's.

tar -C $T/rootfs -cf $T/rootfs.tar .
# An OOM kill inside the container: a child eats memory and is killed; the container lives on for a few
# seconds, so the client reads the kill from the cgroup before the scope goes away with the last process
# (when the killed process is the last one, whether the client sees the kill is a race, with runc as well).
CHEW='(x=a; while true; do x=$x$x$x$x; done); sleep 3'

# wait_for NAME SECONDS CMD...: retry CMD until it succeeds, for SECONDS of wall-clock time.
wait_for() {
    n=$1
    end=$(($(date +%s) + $2))
    shift 2
    while [ "$(date +%s)" -lt $end ]; do
        if "$@" >/tmp/wait.out 2>&1; then ok "$n"; return 0; fi
        sleep 0.5
    done
    fail "$n" "not ready in time: $(tail -3 /tmp/wait.out | tr '\n' ' ')"
    return 1
}

# scope_dir_of PID: the cgroup directory of a process.
scope_dir_of() { echo "$CG$(sed -n 's/^0:://p' /proc/$1/cgroup)"; }

# ---------------------------------------------------------------------------------------------------
# docker (Debian's docker.io; its default cgroup driver here is systemd)
mkdir -p /etc/docker
cat >/etc/docker/daemon.json <<'EOF'
{ "runtimes": { "sangja": { "path": "/usr/local/bin/sangja" } } }
EOF
systemctl start docker
if wait_for docker.up 180 docker info; then
    eq docker.driver "$(docker info -f '{{.CgroupDriver}} {{.CgroupVersion}}')" "systemd 2"
    docker import $T/rootfs.tar sangja-busybox:latest >/dev/null
    out=$(docker run --rm --runtime sangja sangja-busybox sh -c 'echo hello; exit 3' 2>&1)
    eq docker.run_rm "$out rc=$?" "hello rc=3"
    run docker.run_d docker run -d --name d1 --runtime sangja -m 64m --cpus 0.5 --pids-limit 32 sangja-busybox sleep 1000
    id=$(docker inspect -f '{{.Id}}' d1)
    pid=$(docker inspect -f '{{.State.Pid}}' d1)
    D=$(scope_dir_of $pid)
    eq docker.scope "$D $(systemctl show -P ActiveState docker-$id.scope)" "$CG/system.slice/docker-$id.scope active"
    eq docker.limits "$(cat $D/memory.max) $(cat $D/pids.max) $(cat $D/cpu.max)" "67108864 32 50000 100000"
    eq docker.exec "$(docker exec d1 echo hi 2>&1)" hi
    run docker.update docker update -m 128m --memory-swap 256m --pids-limit 64 --cpus 1 d1
    eq docker.updated "$(cat $D/memory.max) $(cat $D/memory.swap.max) $(cat $D/pids.max) $(cat $D/cpu.max)" \
        "134217728 134217728 64 100000 100000"
    mem=$(docker stats --no-stream --format '{{.MemUsage}}' d1 2>&1)
    case "$mem" in *" / 128MiB") ok docker.stats ;; *) fail docker.stats "MemUsage '$mem'" ;; esac
    run docker.pause docker pause d1
    eq docker.paused "$(docker inspect -f '{{.State.Status}}' d1) $(cat $D/cgroup.freeze)" "paused 1"
    run docker.unpause docker unpause d1
    eq docker.unpaused "$(docker inspect -f '{{.State.Status}}' d1)" running
    run docker.stop docker stop -t 2 d1
    eq docker.stopped "$(docker inspect -f '{{.State.Status}}' d1)" exited
    run docker.rm docker rm d1
    no_unit docker.no_scope "docker-$id.scope"
    docker run --name doom --runtime sangja -m 16m --memory-swap 16m sangja-busybox sh -c "$CHEW" >/dev/null 2>&1
    eq docker.oom "$(docker inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' doom)" "true 0"
    docker rm doom >/dev/null 2>&1
    docker run --name doom-runc -m 16m --memory-swap 16m sangja-busybox sh -c "$CHEW" >/dev/null 2>&1
    echo "INFO docker with runc: OOMKilled ExitCode $(docker inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' doom-runc 2>&1)"
    docker rm doom-runc >/dev/null 2>&1
    eq docker.no_state "$(ls /run/docker/runtime-sangja/moby 2>/dev/null)" ""
fi
systemctl stop docker docker.socket containerd
eq docker.no_scopes_left "$(systemctl list-units --all --plain --no-legend 'docker-*.scope')" ""

# ---------------------------------------------------------------------------------------------------
# podman (Debian's podman 4; cgroup_manager defaults to systemd)
mkdir -p /etc/containers
cat >/etc/containers/containers.conf <<'EOF'
[engine.runtimes]
sangja = ["/usr/local/bin/sangja"]
EOF
eq podman.driver "$(podman info -f '{{.Host.CgroupManager}} {{.Host.CgroupsVersion}}' 2>&1)" "systemd v2"
podman import -q $T/rootfs.tar localhost/sangja-busybox:latest >/dev/null 2>&1
out=$(podman run --rm --runtime sangja localhost/sangja-busybox sh -c 'echo hello; exit 3' 2>&1)
eq podman.run_rm "$out rc=$?" "hello rc=3"
run podman.run_d podman run -d --name p1 --runtime sangja -m 64m --cpus 0.5 --pids-limit 32 localhost/sangja-busybox sleep 1000
id=$(podman inspect -f '{{.Id}}' p1)
pid=$(podman inspect -f '{{.State.Pid}}' p1)
D=$(scope_dir_of $pid)
eq podman.scope "$(basename $D) $(systemctl show -P ActiveState libpod-$id.scope)" "libpod-$id.scope active"
eq podman.limits "$(cat $D/memory.max) $(cat $D/pids.max) $(cat $D/cpu.max)" "67108864 32 50000 100000"
eq podman.exec "$(podman exec p1 echo hi 2>&1)" hi
# podman 4.3's update has no --pids-limit.
run podman.update podman update -m 128m --cpus 1 p1
eq podman.updated "$(cat $D/memory.max) $(cat $D/pids.max) $(cat $D/cpu.max)" "134217728 32 100000 100000"
mem=$(podman stats --no-stream --format '{{.MemUsage}}' p1 2>&1)
# podman 4.3 shows the limit the container was created with (with runc too), not the updated one.
case "$mem" in 0B*) fail podman.stats "MemUsage '$mem'" ;; *" / 134.2MB" | *" / 67.11MB") ok podman.stats ;; *) fail podman.stats "MemUsage '$mem'" ;; esac
run podman.pause podman pause p1
eq podman.paused "$(podman inspect -f '{{.State.Status}}' p1) $(cat $D/cgroup.freeze)" "paused 1"
run podman.unpause podman unpause p1
eq podman.unpaused "$(podman inspect -f '{{.State.Status}}' p1)" running
run podman.stop podman stop -t 2 p1
eq podman.stopped "$(podman inspect -f '{{.State.Status}}' p1)" exited
run podman.rm podman rm p1
no_unit podman.no_scope "libpod-$id.scope"
# An OOM kill: podman 4.3 with conmon 2.1 may report OOMKilled false on this system with runc too, so what
# sangja must give is what runc gives.
for rt in sangja runc; do
    podman run --name poom-$rt --runtime $rt -m 16m --memory-swap 16m localhost/sangja-busybox sh -c "$CHEW" >/dev/null 2>&1
done
with_runc=$(podman inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' poom-runc 2>&1)
echo "INFO podman OOM with runc: OOMKilled ExitCode $with_runc"
eq podman.oom "$(podman inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' poom-sangja 2>&1)" "$with_runc"
podman rm poom-sangja poom-runc >/dev/null 2>&1
eq podman.no_scopes_left "$(systemctl list-units --all --plain --no-legend 'libpod-*.scope')" ""

# ---------------------------------------------------------------------------------------------------
# containerd's CRI, SystemdCgroup = true, sangja as the runtime handler: a pod of two containers.
mkdir -p /etc/containerd
cat >/etc/containerd/config.toml <<'EOF'
version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/sangja-pause:latest"
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.sangja]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.sangja.options]
  BinaryName = "/usr/local/bin/sangja"
  SystemdCgroup = true
EOF
systemctl start containerd
echo "INFO containerd: $(systemctl is-active containerd)"
SOCK=/run/containerd/containerd.sock
cri() { python3 $P/cri/cri_client.py $SOCK "$@"; }
# jget KEY: the first "KEY": "value" of stdin.
jget() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -1; }
wait_for cri.up 120 cri Version || journalctl -b -u containerd --no-pager | grep -iE 'cri|level=(error|warn)' | tail -8 | sed 's/^/INFO containerd log: /'
if cri Version >/dev/null 2>&1; then
    ctr -n k8s.io images import $P/pause.tar >/dev/null 2>&1
    POD='{"metadata": {"name": "p", "uid": "pod-uid-1", "namespace": "sangja-test"}, "log_directory": "/var/log/sangja-pod",
          "linux": {"cgroup_parent": "kubepods-besteffort-podpoduid1.slice", "security_context": {"namespace_options": {"network": "NODE"}}}}'
    pod=$(cri RunPodSandbox "{\"config\": $POD, \"runtime_handler\": \"sangja\"}" | jget pod_sandbox_id)
    if [ -n "$pod" ]; then ok cri.pod; else fail cri.pod "no pod id"; fi
    mk() {
        cri CreateContainer "{\"pod_sandbox_id\": \"$pod\", \"sandbox_config\": $POD, \"config\": {\"metadata\": {\"name\": \"$1\"},
            \"image\": {\"image\": \"localhost/sangja-pause:latest\"}, \"command\": [\"sh\", \"-c\", \"$2\"], \"log_path\": \"$1.log\"}}" |
            jget container_id
    }
    c1=$(mk one 'echo one-says-hi; sleep 1000')
    c2=$(mk two 'echo two-says-hi; sleep 1000')
    run cri.start_one cri StartContainer "{\"container_id\": \"$c1\"}"
    run cri.start_two cri StartContainer "{\"container_id\": \"$c2\"}"
    for c in $c1 $c2; do
        pid=$(sangja --root /run/containerd/runc/k8s.io state $c | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
        echo "INFO cri container $c cgroup $(cat /proc/$pid/cgroup)"
    done
    pid=$(sangja --root /run/containerd/runc/k8s.io state $c1 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    eq cri.scope "$(sed -n 's/^0:://p' /proc/$pid/cgroup)" \
        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podpoduid1.slice/cri-containerd-$c1.scope"
    out=$(cri ExecSync "{\"container_id\": \"$c1\", \"cmd\": [\"echo\", \"exec-ok\"], \"timeout\": 60}")
    case "$out" in *exec-ok*) ok cri.exec ;; *) fail cri.exec "$out" ;; esac
    sleep 1
    case "$(cat /var/log/sangja-pod/two.log 2>&1)" in *two-says-hi*) ok cri.logs ;; *) fail cri.logs "$(cat /var/log/sangja-pod/two.log 2>&1)" ;; esac
    run cri.stop_one cri StopContainer "{\"container_id\": \"$c1\", \"timeout\": 2}"
    run cri.stop_two cri StopContainer "{\"container_id\": \"$c2\", \"timeout\": 2}"
    run cri.rm_one cri RemoveContainer "{\"container_id\": \"$c1\"}"
    run cri.rm_two cri RemoveContainer "{\"container_id\": \"$c2\"}"
    run cri.stop_pod cri StopPodSandbox "{\"pod_sandbox_id\": \"$pod\"}"
    run cri.rm_pod cri RemovePodSandbox "{\"pod_sandbox_id\": \"$pod\"}"
    eq cri.no_scopes_left "$(systemctl list-units --all --plain --no-legend 'cri-containerd-*.scope')" ""
    eq cri.no_state "$(ls /run/containerd/runc/k8s.io 2>/dev/null)" ""
fi
systemctl stop containerd
