#!/bin/sh
# The stock-distro guest's checks (run by sangja-payload.service from the payload disk, as root, once the
# system is up; its output is the report on /dev/ttyS1). Each check prints `CHECK <name> ok` or
# `CHECK <name> FAIL: <why>`, each measurement `METRIC <name> <value>`; tests/stock_distro.rs asserts them.
# Sections: sangja's systemd driver; cgroupfs on this pure v2 host; the create→delete timing against runc;
# docker, podman and containerd (CRI) with their default (systemd) cgroup settings; what is left at the end.
P=/payload
T=/var/lib/sangja-test
B=$T/bundles
CG=/sys/fs/cgroup

ok() { echo "CHECK $1 ok"; }
fail() { echo "CHECK $1 FAIL: $2"; }
# eq NAME GOT WANT
eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "got '$2', want '$3'"; fi; }
# run NAME CMD...: ok when CMD succeeds, else its last lines. Output goes to a file, not a pipe: a
# detached container keeps its stdio, and a command substitution would wait for it to exit.
run() {
    n=$1
    shift
    if "$@" </dev/null >/tmp/run.out 2>&1; then ok "$n"; else fail "$n" "$(tail -4 /tmp/run.out | tr '\n' ' ')"; fi
}
# absent NAME PATH
absent() { if [ -e "$2" ]; then fail "$1" "$2 exists"; else ok "$1"; fi; }
# no_unit NAME UNIT: systemd knows no such unit (loaded or failed)
no_unit() {
    u=$(systemctl list-units --all --plain --no-legend "$2" 2>&1)
    if [ -z "$u" ]; then ok "$1"; else fail "$1" "systemctl lists: $u"; fi
}
pid_of() { sangja state "$1" 2>/dev/null | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p'; }
status_of() { sangja state "$1" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

echo "INFO $(systemctl --version | head -1); cgroup: $(stat -fc %T $CG); kernel $(uname -r)"
echo "INFO system state: $(systemctl is-system-running)"
install -m 755 $P/sangja /usr/local/bin/sangja
install -m 755 $P/sangja-dist /usr/local/bin/sangja-dist
mkdir -p $T/rootfs/bin $T/rootfs/proc $T/rootfs/dev $T/rootfs/sys $T/rootfs/tmp $T/rootfs/etc $T/rootfs/mnt
cp $P/busybox $T/rootfs/bin/busybox
for a in $($T/rootfs/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$T/rootfs/bin/$a"; done
cp -r $P/bundles $T/
S="sangja --systemd-cgroup"

# ---------------------------------------------------------------------------------------------------
# 1. The systemd driver: a delegated transient scope with the init in it, resources in unit and files.
run sd.run $S run -d --bundle $B/sd sd1
U=sangja-sd1.scope
D=$CG/system.slice/$U
pid=$(pid_of sd1)
eq sd.active "$(systemctl show -P ActiveState $U)" active
eq sd.delegate "$(systemctl show -P Delegate $U)" yes
eq sd.init_in_scope "$(cat /proc/$pid/cgroup)" "0::/system.slice/$U"
eq sd.memory_unit "$(systemctl show -P MemoryMax $U)" 67108864
eq sd.memory_file "$(cat $D/memory.max)" 67108864
eq sd.tasks_unit "$(systemctl show -P TasksMax $U)" 32
eq sd.pids_file "$(cat $D/pids.max)" 32
eq sd.cpu_weight_file "$(cat $D/cpu.weight)" 20
eq sd.cpu_weight_unit "$(systemctl show -P CPUWeight $U)" 20
eq sd.cpu_quota_unit "$(systemctl show -P CPUQuotaPerSecUSec $U)" 500ms
eq sd.cpu_max_file "$(cat $D/cpu.max)" "50000 100000"
eq sd.device_policy "$(systemctl show -P DevicePolicy $U)" strict
eq sd.annotation "$(systemctl show -P TimeoutStopUSec $U)" 7s
# A reload re-applies the unit's properties over its files: they say the same.
systemctl daemon-reload
eq sd.after_reload "$(cat $D/memory.max) $(cat $D/pids.max)" "67108864 32"
# The devices the config does not allow stay closed (eBPF), /dev/null open.
run sd.dev_null sangja exec sd1 sh -c 'echo x >/dev/null'
if sangja exec sd1 sh -c 'head -c1 /dev/kmsg' >/dev/null 2>&1; then fail sd.dev_denied "/dev/kmsg readable"; else ok sd.dev_denied; fi
run sd.update $S update --memory 134217728 --pids-limit 64 sd1
eq sd.update_unit "$(systemctl show -P MemoryMax $U) $(systemctl show -P TasksMax $U)" "134217728 64"
eq sd.update_file "$(cat $D/memory.max) $(cat $D/pids.max)" "134217728 64"
systemctl daemon-reload
eq sd.update_after_reload "$(cat $D/memory.max)" 134217728
run sd.exec_d sangja exec -d sd1 sleep 300
eq sd.exec_in_scope "$(wc -l <$D/cgroup.procs | tr -d ' ')" 2
run sd.pause sangja pause sd1
eq sd.paused "$(status_of sd1) $(cat $D/cgroup.freeze)" "paused 1"
run sd.resume sangja resume sd1
eq sd.resumed "$(status_of sd1)" running
if sangja ps --format json sd1 | grep -q "$pid"; then ok sd.ps; else fail sd.ps "$(sangja ps --format json sd1 2>&1)"; fi
if sangja events --stats sd1 | grep -q '"memory"'; then ok sd.stats; else fail sd.stats "$(sangja events --stats sd1 2>&1 | head -c 300)"; fi
run sd.kill_all sangja kill --all sd1 KILL
for _ in 1 2 3 4 5 6 7 8 9 10; do [ "$(status_of sd1)" = stopped ] && break; sleep 0.2; done
eq sd.stopped "$(status_of sd1)" stopped
run sd.delete sangja delete sd1
no_unit sd.no_unit_left $U
absent sd.no_cgroup_left $D

# A failed create (args[0] missing) leaves no unit, cgroup or state.
if $S run --bundle $B/sd-bad sdbad >/tmp/sdbad.out 2>&1; then fail sd.bad_fails "run succeeded"; else ok sd.bad_fails; fi
no_unit sd.bad_no_unit sangja-sdbad.scope
absent sd.bad_no_cgroup $CG/system.slice/sangja-sdbad.scope
absent sd.bad_no_state /run/sangja/sdbad
# The defaults (empty cgroupsPath: :sangja:<id>) and nested slices.
run sd.default_run $S run -d --bundle $B/sd-default sdd
eq sd.default_unit "$(systemctl show -P ActiveState sangja-sdd.scope) $(cat /proc/$(pid_of sdd)/cgroup)" "active 0::/system.slice/sangja-sdd.scope"
run sd.default_delete sangja delete -f sdd
no_unit sd.default_gone sangja-sdd.scope
run sd.nested_run $S run -d --bundle $B/sd-nested sdn
eq sd.nested_cgroup "$(cat /proc/$(pid_of sdn)/cgroup)" "0::/machine.slice/machine-sangja.slice/sangja-sdn.scope"
run sd.nested_delete sangja delete -f sdn
no_unit sd.nested_gone sangja-sdn.scope
# A runtime killed right after the unit started: delete --force stops the unit.
$S create --bundle $B/sd-kill sdk >/dev/null 2>&1 &
cpid=$!
for _ in $(seq 1 100); do [ -d $CG/system.slice/sangja-sdk.scope ] && break; sleep 0.05; done
kill -9 $cpid 2>/dev/null
wait $cpid 2>/dev/null
sangja delete --force sdk >/tmp/sdk.out 2>&1
no_unit sd.killed_create_no_unit sangja-sdk.scope
absent sd.killed_create_no_cgroup $CG/system.slice/sangja-sdk.scope
absent sd.killed_create_no_state /run/sangja/sdk
# The system bus is the way to systemd; without a bus daemon, root talks on systemd's private socket.
systemctl stop dbus.socket dbus.service
run sd.private_socket $S run -d --bundle $B/sd-default sdp
eq sd.private_socket_unit "$(systemctl show -P ActiveState sangja-sdp.scope)" active
run sd.private_socket_delete sangja delete -f sdp
no_unit sd.private_socket_gone sangja-sdp.scope
systemctl start dbus.socket dbus.service

# ---------------------------------------------------------------------------------------------------
# 2. cgroupfs on this pure v2 host keeps working.
run fs.run sangja run -d --bundle $B/fs fs1
eq fs.cgroup "$(cat /proc/$(pid_of fs1)/cgroup) $(cat $CG/sangja-fs/fs1/memory.max)" "0::/sangja-fs/fs1 67108864"
run fs.update sangja update --memory 134217728 fs1
eq fs.updated "$(cat $CG/sangja-fs/fs1/memory.max)" 134217728
run fs.delete sangja delete -f fs1
absent fs.gone $CG/sangja-fs/fs1
rmdir $CG/sangja-fs 2>/dev/null

# ---------------------------------------------------------------------------------------------------
# 2b. User namespaces (container 0-65535 on host 100000-165535) under both drivers, exec into them, and an
# idmapped bind of root's files on this kernel's ext4: they are the container root's.
mkdir -p $T/idsrc && echo host >$T/idsrc/f
for b in un un-fs; do
    case $b in
    un) id=un1 rt="$S" ;;
    *) id=un2 rt=sangja ;;
    esac
    run un.run_$id $rt run -d --bundle $B/$b $id
    eq un.map_$id "$(sangja exec $id cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //')" "0 100000 65536"
    eq un.root_$id "$(stat -c %u /proc/$(pid_of $id))" 100000
    eq un.idmap_$id "$(sangja exec $id stat -c %u:%g /mnt/f)" "0:0"
    run un.idmap_write_$id sangja exec $id sh -c 'echo more >>/mnt/f'
    run un.delete_$id sangja delete -f $id
done
eq un.idmap_lands_as_root "$(stat -c %u:%g $T/idsrc/f) $(cat $T/idsrc/f | tr '\n' ' ')" "0:0 host more more "
no_unit un.no_unit_left sangja-un1.scope
absent un.no_cgroup_left $CG/sangja-un/un2
rmdir $CG/sangja-un 2>/dev/null
rm -rf $T/idsrc

# ---------------------------------------------------------------------------------------------------
# 3. create→start→delete with --systemd-cgroup, sangja (the shipped build) and runc interleaved; the
# systemd step's cost (--trace).
# The created init still runs the runtime: from the read-only overlay view of the binary, not a
# memfd copy (6.1 takes no detached layer: the view's layer below is /run there).
sangja-dist create --bundle $B/time exe1 >/dev/null 2>&1
exe=$(readlink /proc/$(pid_of exe1)/exe)
case "$exe" in
/memfd:* | "") fail time.exe_overlay_view "init runs '$exe'" ;;
*) ok time.exe_overlay_view ;;
esac
sangja-dist delete --force exe1
rounds=${SANGJA_GUEST_ROUNDS:-15}
i=0
while [ $i -lt $rounds ]; do
    for rt in sangja_systemd runc_systemd sangja_cgroupfs; do
        t0=$(now_ms)
        if [ $rt = sangja_systemd ]; then
            sangja-dist --systemd-cgroup --trace /tmp/trace.jsonl create --bundle $B/time t$i >/dev/null 2>&1 &&
                sangja-dist start t$i && sangja-dist delete --force t$i
        elif [ $rt = sangja_cgroupfs ]; then
            sangja-dist create --bundle $B/time f$i >/dev/null 2>&1 &&
                sangja-dist start f$i && sangja-dist delete --force f$i
        else
            runc --systemd-cgroup create --bundle $B/time r$i >/dev/null 2>&1 &&
                runc start r$i && runc delete --force r$i
        fi
        rc=$?
        t1=$(now_ms)
        [ $rc = 0 ] && echo "METRIC ${rt}_create_delete_ms $((t1 - t0))" || echo "INFO $rt round $i failed"
    done
    i=$((i + 1))
done
sed -n 's/.*"span":"parent:systemd-unit","us":\([0-9.]*\).*/METRIC sangja_systemd_step_us \1/p' /tmp/trace.jsonl
tail -1 /tmp/trace.jsonl | sed 's/^/INFO trace of the last create: /'
rmdir $CG/sangja 2>/dev/null
no_unit time.no_unit_left "sangja-t*.scope"

# ---------------------------------------------------------------------------------------------------
# 4. The clients, with their default cgroup settings on a systemd host.
[ -f $P/clients.sh ] && . $P/clients.sh

# ---------------------------------------------------------------------------------------------------
# 5. Nothing of sangja's is left.
no_unit end.no_sangja_units "sangja-*.scope"
left=$(find $CG \( -name 'sangja-*.scope' -o -path "$CG/sangja*" \) 2>/dev/null | head -5)
eq end.no_sangja_cgroups "$left" ""
left=$(ls /run/sangja 2>/dev/null)
eq end.no_state "$left" ""
