#!/usr/bin/env bash
# Stop the single-node SLURM test cluster started by .ci/slurm-up.sh.
#   .ci/slurm-down.sh            # stop slurmd + slurmctld (munged keeps running)
#   .ci/slurm-down.sh --all      # also stop munged
# Only the daemons recorded in the pid files are signalled.
set -uo pipefail
RUN_DIR=/run/slurm
log() { echo "[slurm-down] $*"; }

stop_pidfile() {
    local name="$1" pidfile="$2" pid
    pid="$(cat "$pidfile" 2>/dev/null)" || { log "$name: no pid file ($pidfile)"; return 0; }
    if ! kill -0 "$pid" 2>/dev/null; then
        log "$name: not running"
        rm -f "$pidfile"
        return 0
    fi
    log "stopping $name ($pid)"
    kill "$pid"
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name did not stop in 10 s, sending SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

if command -v scancel >/dev/null && timeout 5 scontrol ping 2>/dev/null | grep -q UP; then
    # cancel leftover test jobs so slurmd has no orphans
    # (the test cluster runs only test jobs; scancel takes one --state at a time)
    for st in PENDING RUNNING SUSPENDED; do
        scancel --state="$st" 2>/dev/null || true
    done
fi
stop_pidfile slurmd "$RUN_DIR/slurmd.pid"
stop_pidfile slurmctld "$RUN_DIR/slurmctld.pid"
if [ "${1:-}" = "--all" ]; then
    stop_pidfile munged /run/munge/munged.pid
fi
exit 0
