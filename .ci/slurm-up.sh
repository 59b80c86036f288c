#!/usr/bin/env bash
# Start a single-node SLURM test cluster on this (Debian) machine.
#
#   sudo .ci/slurm-up.sh            # idempotent; exits 0 once `sinfo` shows the node idle
#
# Needs root and apt (installs slurm-wlm + munge if missing). Works without
# systemd and without cgroups: the daemons are started directly in the
# background. Stop with .ci/slurm-down.sh.
#
# Environment knobs (all optional):
#   SLURM_PARTITION   partition name                    (default: debug)
#   SLURM_FAKE_GPUS   fake "gpu" GRES on the node       (default: 1; 0 disables)
#   SLURM_MEM_MB      RealMemory of the node            (default: 90% of MemTotal)
#   SLURM_STATE_DIR   spool/state directory             (default: /var/spool/slmbench-slurm)
#   SLURM_LOG_DIR     daemon logs                       (default: /var/log/slurm)
#   SLURM_UP_TIMEOUT  seconds to wait for an idle node  (default: 60)
#   SLURM_SKIP_APT=1  never call apt-get (fail if slurm is not installed)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PARTITION="${SLURM_PARTITION:-debug}"
FAKE_GPUS="${SLURM_FAKE_GPUS:-1}"
STATE_DIR="${SLURM_STATE_DIR:-/var/spool/slmbench-slurm}"
LOG_DIR="${SLURM_LOG_DIR:-/var/log/slurm}"
RUN_DIR=/run/slurm
TIMEOUT="${SLURM_UP_TIMEOUT:-60}"
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
HOST="$(hostname -s)"

log() { echo "[slurm-up] $*"; }
die() {
    echo "[slurm-up] ERROR: $*" >&2
    for f in "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" /var/log/munge/munged.log; do
        if [ -s "$f" ]; then
            echo "----- last lines of $f -----" >&2
            tail -n 20 "$f" >&2
        fi
    done
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts daemons)"

node_idle() {
    # succeeds when our node takes jobs (idle/mixed/allocated; "idle*" = not responding)
    local st
    st="$(sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null | head -n1)" || return 1
    case "$st" in
        idle|mixed|allocated|completing) return 0 ;;
        *) return 1 ;;
    esac
}
# --- packages --------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    [ "${SLURM_SKIP_APT:-0}" = 1 ] && die "slurm/munge not installed and SLURM_SKIP_APT=1"
    command -v apt-get >/dev/null || die "apt-get not found: install slurm-wlm and munge by hand"
    log "installing slurm-wlm and munge via apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # do not let the package scripts try to start services (no systemd here)
    policy_created=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_created=1
    fi
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends slurm-wlm slurm-client munge >/dev/null \
        || die "apt-get install slurm-wlm munge failed"
    [ "$policy_created" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
log "$(slurmctld -V)"

# --- munge -----------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    log "creating munge key"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
fi
chown munge:munge /etc/munge /etc/munge/munge.key
chmod 0700 /etc/munge
chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    pkill_pid="$(cat /run/munge/munged.pid 2>/dev/null || true)"
    [ -n "$pkill_pid" ] && kill "$pkill_pid" 2>/dev/null || true
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged --force \
        || die "munged did not start"
    for _ in $(seq 1 20); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.5
    done
    munge -n | unmunge >/dev/null || die "munge round-trip (munge -n | unmunge) fails"
fi

# --- slurm.conf ------------------------------------------------------------
cpus="$(nproc)"
if [ -n "${SLURM_MEM_MB:-}" ]; then
    mem_mb="$SLURM_MEM_MB"
else
    mem_mb="$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)"
fi
if [ "$FAKE_GPUS" -gt 0 ] 2>/dev/null; then
    gres_types="GresTypes=gpu"
    node_gres="Gres=gpu:$FAKE_GPUS"
else
    gres_types="# (no GRES: SLURM_FAKE_GPUS=0)"
    node_gres=""
fi
mkdir -p "$CONF_DIR" "$STATE_DIR/ctld" "$STATE_DIR/d" "$LOG_DIR" "$RUN_DIR"
new_conf="$(mktemp)"
new_gres="$(mktemp)"
sed -e "s|@HOST@|$HOST|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEM_MB@|$mem_mb|g" \
    -e "s|@PARTITION@|$PARTITION|g" -e "s|@STATE_DIR@|$STATE_DIR|g" \
    -e "s|@LOG_DIR@|$LOG_DIR|g" -e "s|@RUN_DIR@|$RUN_DIR|g" \
    -e "s|@GRES_TYPES@|$gres_types|g" -e "s|@NODE_GRES@|$node_gres|g" \
    "$here/slurm/slurm.conf.in" > "$new_conf"
if [ -f "$CONF" ] && ! cmp -s "$new_conf" "$CONF" && ! grep -q '^ClusterName=slmbench' "$CONF"; then
    cp "$CONF" "$CONF.bak.$(date +%s)"
    log "existing $CONF saved as $CONF.bak.*"
fi
if [ "$FAKE_GPUS" -gt 0 ] 2>/dev/null; then
    # Fake GPU GRES backed by /dev/null-like char devices: lets --gpus=1 /
    # --gres=gpu:1 be scheduled on a CPU-only machine (a count-only gpu GRES
    # without File= is rejected by slurmd: "gres/gpu count reported lower than
    # configured"). Jobs get CUDA_VISIBLE_DEVICES but no real device, of course.
    for i in $(seq 0 $((FAKE_GPUS - 1))); do
        [ -e "/dev/slmbench_fakegpu$i" ] || mknod -m 0666 "/dev/slmbench_fakegpu$i" c 1 3
    done
    if [ "$FAKE_GPUS" -eq 1 ]; then fake_files=/dev/slmbench_fakegpu0; else fake_files="/dev/slmbench_fakegpu[0-$((FAKE_GPUS - 1))]"; fi
    echo "NodeName=$HOST Name=gpu File=$fake_files" > "$new_gres"
else
    : > "$new_gres"
fi

# --- already up with this very configuration? ---------------------------------
if cmp -s "$new_conf" "$CONF" && cmp -s "$new_gres" "$CONF_DIR/gres.conf" 2>/dev/null \
    || { cmp -s "$new_conf" "$CONF" && [ ! -s "$new_gres" ] && [ ! -e "$CONF_DIR/gres.conf" ]; }; then
    if pgrep -x slurmctld >/dev/null && pgrep -x slurmd >/dev/null \
        && timeout 10 scontrol ping 2>/dev/null | grep -q ' is UP' && node_idle; then
        rm -f "$new_conf" "$new_gres"
        log "cluster already up with this configuration:"
        sinfo
        exit 0
    fi
fi

install -m 0644 "$new_conf" "$CONF"
if [ -s "$new_gres" ]; then install -m 0644 "$new_gres" "$CONF_DIR/gres.conf"; else rm -f "$CONF_DIR/gres.conf"; fi
rm -f "$new_conf" "$new_gres"
log "wrote $CONF (node $HOST, CPUs=$cpus, RealMemory=$mem_mb MB, partition $PARTITION, fake GPUs $FAKE_GPUS)"

# --- daemons ---------------------------------------------------------------
# restart whatever runs, so that a changed slurm.conf is picked up
for d in slurmd slurmctld; do
    if pid="$(cat "$RUN_DIR/$d.pid" 2>/dev/null)" && kill -0 "$pid" 2>/dev/null; then
        log "stopping running $d ($pid)"
        kill "$pid" || true
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
done
log "starting slurmctld"
# -c: clear old job state (a test cluster starts empty); -i: ignore stale state errors
slurmctld -c -i || die "slurmctld failed to start"
for _ in $(seq 1 30); do timeout 5 scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.5; done
timeout 5 scontrol ping | grep -q UP || die "slurmctld does not answer 'scontrol ping'"
log "starting slurmd"
slurmd || die "slurmd failed to start"

log "waiting up to ${TIMEOUT}s for node $HOST to become idle"
end=$((SECONDS + TIMEOUT))
while [ "$SECONDS" -lt "$end" ]; do
    if node_idle; then
        log "cluster up:"
        sinfo
        exit 0
    fi
    st="$(sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null | head -n1 || true)"
    case "$st" in
        down*|drain*|fail*)
            # ReturnToService=2 should handle this, but be explicit
            scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
done
sinfo -N -l >&2 || true
scontrol show node "$HOST" >&2 || true
die "node $HOST did not become idle within ${TIMEOUT}s"
