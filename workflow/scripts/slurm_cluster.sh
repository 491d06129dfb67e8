#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for tests (DESIGN.md: "A real SLURM cluster on one
# machine"). Not for production: everything runs as root, without systemd, accounting or cgroups.
#
#   workflow/scripts/slurm_cluster.sh start STATEDIR   install (if missing), configure, start, wait for idle
#   workflow/scripts/slurm_cluster.sh stop  STATEDIR   stop the daemons this script started (by PID)
#
# The node: 127.0.0.1, the machine's CPUs and memory (as `slurmd -C` reports them), and four fake
# A100s (gres `gpu:a100:4`, device files are symlinks to /dev/null: SLURM only needs files to hand
# out, and sets CUDA_VISIBLE_DEVICES for the job steps that get them). Partitions: `cpu` (default)
# and `gpu`, both on that node.
#
# All state (munge key and socket, slurmctld state, spool, logs, PIDs) lives under STATEDIR, except
# /etc/slurm/slurm.conf and gres.conf: the jobstep plugin strips SLURM_* variables, so job steps
# must find the configuration at its default path. An existing configuration there is moved aside
# on start and put back on stop.
#
# Environment knobs: SLURM_TEST_PORT (slurmctld port, default 6817; slurmd uses +1),
# SLURM_TEST_TIMEOUT (seconds to wait for the node to be idle, default 60).
set -euo pipefail

usage() { echo "usage: $0 start|stop STATEDIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1
mkdir -p "$2"
state=$(cd "$2" && pwd)
conf_dir=/etc/slurm
port=${SLURM_TEST_PORT:-6817}
timeout=${SLURM_TEST_TIMEOUT:-60}

log() { echo "slurm_cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    command -v munged >/dev/null || missing+=(munge)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
    log "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$state/apt.log" 2>&1 || { tail -20 "$state/apt.log" >&2; die "apt-get update failed"; }
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$state/apt.log" 2>&1 \
        || { tail -20 "$state/apt.log" >&2; die "apt-get install failed"; }
}

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pid() {  # stop_pid NAME PIDFILE: TERM, then KILL after 10 s
    local name=$1 file=$2 pid
    [[ -f "$file" ]] || return 0
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name ($pid) ignored TERM; killing"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$file"
}

write_config() {
    local node mem
    node=$(hostname -s)
    # RealMemory must not exceed what slurmd detects, or the node drains.
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)
    local cpus
    cpus=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' | head -1)
    mkdir -p "$state/gpus" "$state/ctld" "$state/spool" "$state/log" "$conf_dir"
    for i in 0 1 2 3; do ln -sfn /dev/null "$state/gpus/nvidia$i"; done
    for f in slurm.conf gres.conf; do
        if [[ -e "$conf_dir/$f" && ! -e "$conf_dir/$f.radis-test-backup" ]] && ! grep -q "radis-test" "$conf_dir/$f"; then
            mv "$conf_dir/$f" "$conf_dir/$f.radis-test-backup"
        fi
    done
    cat >"$conf_dir/slurm.conf" <<EOF
# radis-test: written by workflow/scripts/slurm_cluster.sh for $state; removed by its stop.
ClusterName=radis-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$state/munge/munge.socket.2
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.conf.pid
SlurmdPidFile=$state/slurmd.conf.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
# Finished jobs stay visible to squeue/scontrol for an hour: the executor plugin's squeue status
# checks must see them end (without accounting, sacct sees nothing), and tests read them after.
MinJobAge=3600
ReturnToService=2
SlurmctldTimeout=30
KillWait=5
SlurmdTimeout=30
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:a100:4 State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$node MaxTime=INFINITE State=UP
EOF
    cat >"$conf_dir/gres.conf" <<EOF
# radis-test: fake A100s (symlinks to /dev/null), written by workflow/scripts/slurm_cluster.sh.
Name=gpu Type=a100 File=$state/gpus/nvidia[0-3]
EOF
}

start_munge() {
    mkdir -p "$state/munge"
    chmod 755 "$state/munge"   # munged refuses a socket directory others can write to
    if [[ ! -f "$state/munge/munge.key" ]]; then
        dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none
        chmod 400 "$state/munge/munge.key"
    fi
    alive "$state/munged.pid" && return 0
    munged --force --key-file="$state/munge/munge.key" --socket="$state/munge/munge.socket.2" \
        --pid-file="$state/munged.pid" --log-file="$state/log/munged.log" --seed-file="$state/munge/seed" \
        || die "munged did not start (see $state/log/munged.log)"
    for _ in $(seq 50); do [[ -S "$state/munge/munge.socket.2" ]] && return 0; sleep 0.1; done
    die "munged socket did not appear"
}

start() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (slurmd and munged)"
    install_packages
    write_config
    start_munge
    if ! alive "$state/slurmctld.pid"; then
        # -i: ignore state left by an earlier run in this STATEDIR
        slurmctld -D -i >"$state/log/slurmctld.out" 2>&1 &
        echo $! >"$state/slurmctld.pid"
    fi
    if ! alive "$state/slurmd.pid"; then
        slurmd -D -N "$(hostname -s)" >"$state/log/slurmd.out" 2>&1 &
        echo $! >"$state/slurmd.pid"
    fi
    local deadline=$((SECONDS + timeout)) node_state=""
    while ((SECONDS < deadline)); do
        node_state=$(sinfo -h -N -o %T 2>/dev/null | head -1 || true)
        [[ $node_state == idle ]] && break
        for d in slurmctld slurmd; do
            alive "$state/$d.pid" || { tail -20 "$state/log/$d.log" "$state/log/$d.out" >&2 2>/dev/null; die "$d exited"; }
        done
        sleep 0.5
    done
    if [[ $node_state != idle ]]; then
        scontrol show node >&2 2>/dev/null || true
        tail -20 "$state/log/slurmctld.log" "$state/log/slurmd.log" >&2 2>/dev/null || true
        die "node not idle after ${timeout}s (state: '${node_state:-none}')"
    fi
    log "up: $(sinfo -h -o '%P %a %D %T %G' | tr '\n' ';') state in $state"
}

stop() {
    # Jobs first (a job's processes outlive slurmd), through the controller while it is up; then
    # only the daemons this script started, by the PIDs it recorded, slurmd first.
    if alive "$state/slurmctld.pid" && alive "$state/slurmd.pid"; then
        local jobs
        jobs=$(squeue -h -t PD,R,CG,S -o %i 2>/dev/null || true)
        if [[ -n "$jobs" ]]; then
            log "cancelling jobs: $(echo $jobs)"
            scancel $jobs 2>/dev/null || true
            for _ in $(seq 60); do
                [[ -z "$(squeue -h -t PD,R,CG,S -o %i 2>/dev/null || true)" ]] && break
                sleep 0.5
            done
        fi
    fi
    stop_pid slurmd "$state/slurmd.pid"
    stop_pid slurmctld "$state/slurmctld.pid"
    stop_pid munged "$state/munged.pid"
    for f in slurm.conf gres.conf; do
        if [[ -f "$conf_dir/$f" ]] && grep -q "radis-test" "$conf_dir/$f" && grep -q "$state" "$conf_dir/$f"; then
            rm -f "$conf_dir/$f"
            [[ -e "$conf_dir/$f.radis-test-backup" ]] && mv "$conf_dir/$f.radis-test-backup" "$conf_dir/$f"
        fi
    done
    log "stopped (state kept in $state)"
}

case $action in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
