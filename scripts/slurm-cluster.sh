#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the fleet test (docs/fleet.md): munged with its own key
# and socket, slurmctld and slurmd as root, every state/spool/pid/log file under DIR, non-default ports.
#   scripts/slurm-cluster.sh install       apt-get install slurm-wlm and munge when missing
#   scripts/slurm-cluster.sh start DIR     start the daemons; prints SLURM_CONF=DIR/slurm.conf
#   scripts/slurm-cluster.sh stop DIR      stop them by their pid files
set -euo pipefail
# The daemons live in sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "slurm-cluster: slurm-wlm and munge are missing and this is not root: apt-get install slurm-wlm munge" >&2
        exit 1
    fi
    echo "slurm-cluster: installing slurm-wlm and munge (Debian packages)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq slurm-wlm munge >&2
}

start() {
    local d="$1"
    mkdir -p "$d/state" "$d/spool" "$d/logs"
    chmod 700 "$d"
    local host cpus mem port
    host="$(hostname -s)"
    cpus="$(nproc)"
    mem="$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)"
    # Ports away from SLURM's defaults (6817/6818) and from each other run's.
    port=$((20000 + RANDOM % 20000))
    dd if=/dev/urandom of="$d/munge.key" bs=1 count=1024 status=none
    chmod 400 "$d/munge.key"
    munged --force --socket="$d/munge.sock" --key-file="$d/munge.key" --pid-file="$d/munged.pid" \
        --log-file="$d/munged.log" --seed-file="$d/munged.seed"
    cat >"$d/slurm.conf" <<CONF
ClusterName=runner-test
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=runner Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$d/slurm.conf"
    slurmctld -c
    slurmd
    for _ in $(seq 1 60); do
        if sinfo -h -o '%T' 2>/dev/null | grep -q idle; then
            echo "SLURM_CONF=$SLURM_CONF"
            return 0
        fi
        sleep 0.5
    done
    echo "slurm-cluster: the node did not become idle in 30 s; see $d/slurmctld.log and $d/slurmd.log" >&2
    stop "$d"
    exit 1
}

stop() {
    local d="$1"
    for p in slurmd slurmctld munged; do
        if [ -f "$d/$p.pid" ]; then
            kill "$(cat "$d/$p.pid")" 2>/dev/null || true
        fi
    done
    for _ in $(seq 1 50); do
        local alive=0
        for p in slurmd slurmctld munged; do
            if [ -f "$d/$p.pid" ] && kill -0 "$(cat "$d/$p.pid")" 2>/dev/null; then alive=1; fi
        done
        [ "$alive" = 0 ] && return 0
        sleep 0.1
    done
    for p in slurmd slurmctld munged; do
        [ -f "$d/$p.pid" ] && kill -9 "$(cat "$d/$p.pid")" 2>/dev/null || true
    done
}

case "${1:-}" in
    install) install ;;
    start) start "${2:?DIR}" ;;
    stop) stop "${2:?DIR}" ;;
    *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
