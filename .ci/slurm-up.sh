#!/usr/bin/env bash
# Start a single-node SLURM test cluster on this (Debian) machine.
#
#   sudo .ci/slurm-up.sh            # idempotent; exits 0 once `sinfo` shows the node idle
#
# Needs root and apt (installs slurm-wlm + munge if missing). Works without
# systemd: the daemons are started directly in the background. Stop with
# .ci/slurm-down.sh.
#
# Process tracking: like a GPU site, the cluster tracks job steps with cgroups
# (ProctrackType=proctrack/cgroup, TaskPlugin=task/cgroup,task/affinity,
# cgroup.conf with ConstrainCores/RAMSpace/Devices), so slurmstepd SIGKILLs every
# process of a step when the step ends. That needs the cgroup v1 controllers
# freezer, cpuset, memory and devices mounted under /sys/fs/cgroup (a hybrid
# layout, as in this project's CI machines), or a cgroup v2 mount on Slurm >=
# 23.02 (IgnoreSystemd=yes; Slurm 22.05's cgroup/v2 needs systemd, which we do
# not have). The script checks the result: a process a step leaves behind must be
# gone when the step ends. Where that cannot work it falls back to
# proctrack/linuxproc and says why (or fails, with SLURM_PROCTRACK=cgroup).
#
# Environment knobs (all optional):
#   SLURM_PARTITION   partition name                    (default: debug)
#   SLURM_FAKE_GPUS   fake "gpu" GRES on the node       (default: 1; 0 disables)
#   SLURM_MEM_MB      RealMemory of the node            (default: 90% of MemTotal)
#   SLURM_STATE_DIR   spool/state directory             (default: /var/spool/slmbench-slurm)
#   SLURM_LOG_DIR     daemon logs                       (default: /var/log/slurm)
#   SLURM_UP_TIMEOUT  seconds to wait for an idle node  (default: 60)
#   SLURM_SKIP_APT=1  never call apt-get (fail if slurm is not installed)
#   SLURM_PROCTRACK   auto (default: cgroup where it works, else linuxproc),
#                     cgroup (fail if it does not work) or linuxproc
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PARTITION="${SLURM_PARTITION:-debug}"
FAKE_GPUS="${SLURM_FAKE_GPUS:-1}"
STATE_DIR="${SLURM_STATE_DIR:-/var/spool/slmbench-slurm}"
LOG_DIR="${SLURM_LOG_DIR:-/var/log/slurm}"
RUN_DIR=/run/slurm
TIMEOUT="${SLURM_UP_TIMEOUT:-60}"
PROCTRACK="${SLURM_PROCTRACK:-auto}"
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

# --- cgroup support ------------------------------------------------------------
slurm_version="$(slurmctld -V | awk '{print $2}')"   # e.g. 22.05.8
version_at_least() {  # version_at_least 23.02
    [ "$(printf '%s\n%s\n' "$1" "$slurm_version" | sort -V | head -n1)" = "$1" ]
}
cgroup_plugin=""   # cgroup/v1 or cgroup/v2 when cgroup tracking can work here
cgroup_why=""      # else why not
cgroup_extra=""
case "$(stat -fc %T /sys/fs/cgroup 2>/dev/null || echo none)" in
    cgroup2fs)
        if version_at_least 23.02; then
            cgroup_plugin=cgroup/v2
            cgroup_extra="IgnoreSystemd=yes"   # no systemd here: slurmd creates its own cgroup tree
        else
            cgroup_why="/sys/fs/cgroup is cgroup v2 and Slurm $slurm_version's cgroup/v2 plugin needs systemd (IgnoreSystemd= exists from 23.02)"
        fi ;;
    tmpfs)
        missing=""
        for c in freezer cpuset memory devices; do
            awk -v m="/sys/fs/cgroup/$c" '$2 == m && $3 == "cgroup" {found=1} END {exit !found}' /proc/mounts \
                || missing="$missing $c"
        done
        if [ -z "$missing" ]; then cgroup_plugin=cgroup/v1
        else cgroup_why="cgroup v1 controllers not mounted under /sys/fs/cgroup:$missing"; fi ;;
    *) cgroup_why="/sys/fs/cgroup is not a cgroup mount" ;;
esac
case "$PROCTRACK" in
    auto|cgroup) if [ -n "$cgroup_plugin" ]; then mode=cgroup
                 elif [ "$PROCTRACK" = cgroup ]; then die "SLURM_PROCTRACK=cgroup, but $cgroup_why"
                 else log "no cgroup tracking: $cgroup_why; using proctrack/linuxproc"; mode=linuxproc; fi ;;
    linuxproc) mode=linuxproc ;;
    *) die "SLURM_PROCTRACK must be auto, cgroup or linuxproc (got '$PROCTRACK')" ;;
esac

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
new_cgroup="$(mktemp)"
trap 'rm -f "$new_conf" "$new_gres" "$new_cgroup"' EXIT

render() {  # render MODE (cgroup|linuxproc) into $new_conf and $new_cgroup
    local proctrack task_plugin
    if [ "$1" = cgroup ]; then
        proctrack=proctrack/cgroup
        task_plugin=task/cgroup,task/affinity
        {
            echo "# cgroup.conf for the slmbench test cluster (written by .ci/slurm-up.sh)."
            echo "# Like a GPU site: a step is confined to its CPUs, memory and GPUs, and"
            echo "# proctrack/cgroup kills every process of a step when the step ends."
            echo "CgroupPlugin=$cgroup_plugin"
            [ -n "$cgroup_extra" ] && echo "$cgroup_extra"
            echo "ConstrainCores=yes"
            echo "ConstrainRAMSpace=yes"
            echo "ConstrainDevices=yes"
        } > "$new_cgroup"
    else
        proctrack=proctrack/linuxproc
        task_plugin=task/none
        : > "$new_cgroup"
    fi
    sed -e "s|@HOST@|$HOST|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEM_MB@|$mem_mb|g" \
        -e "s|@PARTITION@|$PARTITION|g" -e "s|@STATE_DIR@|$STATE_DIR|g" \
        -e "s|@LOG_DIR@|$LOG_DIR|g" -e "s|@RUN_DIR@|$RUN_DIR|g" \
        -e "s|@GRES_TYPES@|$gres_types|g" -e "s|@NODE_GRES@|$node_gres|g" \
        -e "s|@PROCTRACK@|$proctrack|g" -e "s|@TASK_PLUGIN@|$task_plugin|g" \
        "$here/slurm/slurm.conf.in" > "$new_conf"
}
render "$mode"
if [ -f "$CONF" ] && ! cmp -s "$new_conf" "$CONF" && ! grep -q '^ClusterName=slmbench' "$CONF"; then
    cp "$CONF" "$CONF.bak.$(date +%s)"
    log "existing $CONF saved as $CONF.bak.*"
fi
if [ "$FAKE_GPUS" -gt 0 ] 2>/dev/null; then
    # Fake GPU GRES backed by char devices with the NVIDIA major number 195 and no
    # driver behind them: lets --gpus=1 / --gres=gpu:1 be scheduled on a CPU-only
    # machine (a count-only gpu GRES without File= is rejected by slurmd: "gres/gpu
    # count reported lower than configured"), and ConstrainDevices confines them
    # like real GPUs (a step without the GPU gets EPERM opening it, one with it
    # ENXIO). Not 1:3 (/dev/null's numbers): ConstrainDevices would then deny
    # /dev/null to every step without a GPU.
    for i in $(seq 0 $((FAKE_GPUS - 1))); do
        dev="/dev/slmbench_fakegpu$i"
        if [ "$(stat -c '%F %t:%T' "$dev" 2>/dev/null)" != "character special file c3:$(printf '%x' "$i")" ]; then
            rm -f "$dev"
            mknod -m 0666 "$dev" c 195 "$i"
        fi
    done
    if [ "$FAKE_GPUS" -eq 1 ]; then fake_files=/dev/slmbench_fakegpu0; else fake_files="/dev/slmbench_fakegpu[0-$((FAKE_GPUS - 1))]"; fi
    echo "NodeName=$HOST Name=gpu File=$fake_files" > "$new_gres"
else
    : > "$new_gres"
fi

same_file() {  # same_file NEW INSTALLED: an empty NEW means "INSTALLED absent"
    if [ -s "$1" ]; then cmp -s "$1" "$2"; else [ ! -e "$2" ]; fi
}
install_conf() {
    install -m 0644 "$new_conf" "$CONF"
    if [ -s "$new_gres" ]; then install -m 0644 "$new_gres" "$CONF_DIR/gres.conf"; else rm -f "$CONF_DIR/gres.conf"; fi
    if [ -s "$new_cgroup" ]; then install -m 0644 "$new_cgroup" "$CONF_DIR/cgroup.conf"; else rm -f "$CONF_DIR/cgroup.conf"; fi
    log "wrote $CONF (node $HOST, CPUs=$cpus, RealMemory=$mem_mb MB, partition $PARTITION, fake GPUs $FAKE_GPUS, $(grep '^ProctrackType' "$CONF"))"
}

start_daemons() {
    # restart whatever runs, so that a changed configuration is picked up
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
    slurmd || return 1
    log "waiting up to ${TIMEOUT}s for node $HOST to become idle"
    local end=$((SECONDS + TIMEOUT)) st
    while [ "$SECONDS" -lt "$end" ]; do
        node_idle && return 0
        pgrep -x slurmd >/dev/null || return 1
        st="$(sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null | head -n1 || true)"
        case "$st" in
            down*|drain*|fail*)
                # ReturnToService=2 should handle this, but be explicit
                scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;;
        esac
        sleep 1
    done
    return 1
}

# probe_tracking: succeeds when a process that a job step leaves behind (setsid,
# like a server started by a job) is killed when the step ends, i.e. when cgroup
# tracking really works.
probe_tracking() {
    local dir pid out
    dir="$(mktemp -d)"
    cat > "$dir/probe.sh" <<PROBE
#!/bin/bash
srun -n1 bash -c 'setsid sleep 300 </dev/null >/dev/null 2>&1 & echo \$! > $dir/pid'
for _ in \$(seq 1 20); do kill -0 "\$(cat $dir/pid)" 2>/dev/null || { echo killed; exit 0; }; sleep 0.5; done
kill "\$(cat $dir/pid)"; echo survived
PROBE
    timeout 90 sbatch --wait -Q -p "$PARTITION" -t 2 -o "$dir/out" "$dir/probe.sh" >/dev/null 2>"$dir/err" || true
    out="$(cat "$dir/out" 2>/dev/null)"
    [ -n "$out" ] || out="(no output: $(tr '\n' ' ' < "$dir/err" 2>/dev/null))"
    rm -rf "$dir"
    probe_result="$out"
    [ "$out" = killed ]
}

# --- already up with this very configuration? ---------------------------------
if cmp -s "$new_conf" "$CONF" && same_file "$new_gres" "$CONF_DIR/gres.conf" && same_file "$new_cgroup" "$CONF_DIR/cgroup.conf"; then
    if pgrep -x slurmctld >/dev/null && pgrep -x slurmd >/dev/null \
        && timeout 10 scontrol ping 2>/dev/null | grep -q ' is UP' && node_idle; then
        log "cluster already up with this configuration ($(grep '^ProctrackType' "$CONF")):"
        sinfo
        exit 0
    fi
fi

install_conf
if [ "$mode" = cgroup ]; then
    if start_daemons && probe_tracking; then
        log "cgroup tracking works: a process left behind by a job step is killed when the step ends"
    else
        why="${probe_result:-slurmd did not start or the node did not become idle}"
        if [ "$why" = survived ]; then why="a process left behind by a job step survived the step"; fi
        echo "----- last lines of $LOG_DIR/slurmd.log -----" >&2
        tail -n 15 "$LOG_DIR/slurmd.log" >&2 || true
        [ "$PROCTRACK" = cgroup ] && die "SLURM_PROCTRACK=cgroup, but cgroup tracking does not work: $why"
        log "cgroup tracking does not work here ($why); falling back to proctrack/linuxproc"
        mode=linuxproc
        render linuxproc
        install_conf
        start_daemons || { sinfo -N -l >&2 || true; die "node $HOST did not become idle within ${TIMEOUT}s"; }
    fi
else
    start_daemons || { sinfo -N -l >&2 || true; scontrol show node "$HOST" >&2 || true; die "node $HOST did not become idle within ${TIMEOUT}s"; }
fi
log "cluster up ($(grep '^ProctrackType' "$CONF")):"
sinfo
exit 0
