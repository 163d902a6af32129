#!/usr/bin/env bash
# Run the evsynth workflow on a throwaway single-node SLURM cluster on this machine and
# check that it produces byte-identical results to a plain local run.
#
#   tests/cluster/run_local_slurm.sh            # from the repository root, as root
#
# Steps: (1) install slurm-wlm + munge if missing (Debian/Ubuntu, apt-get),
# (2) create a munge key if missing and start munged if it is not running,
# (3) write a single-node slurm.conf (node "localhost", partition "debug", no accounting)
# into a temp dir, (4) start slurmctld + slurmd there and wait for the node to be idle,
# (5) run the workflow (this checkout's Snakefile, `--directory`) through
# snakemake-executor-plugin-slurm on one temp copy of the review folder, with the profile's
# grouped jobs, (6) run it locally (--cores 2) on another, (7) compare results/ and
# data/processed/ (ignoring logs and the cache) and print each run's job count and wall time,
# (8) stop every daemon it started and remove its temp dirs (trap on EXIT).
#
# Environment: PYTHON (default: <repo>/.venv/bin/python), KEEP_TMP=1 keeps the temp dirs,
# EVSYNTH_REVIEW (default: the repository, i.e. the shipped review) is the review folder whose
# inputs (config/, schemas/ or workflow/schemas/, data/raw/) are copied and run,
# EVSYNTH_TARGETS (default: none = whole workflow) are space-separated targets for both runs.
# Exit status: 0 on PASS, non-zero on FAIL or setup error.
set -euo pipefail

START=$(date +%s)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
# The review folder to copy and run (default: this repository, the shipped review).
REVIEW=${EVSYNTH_REVIEW:-${EVSYNTH_PROJECT:-$REPO}}
# Targets for both runs (default: the workflow's default target, i.e. the whole workflow).
read -r -a TARGETS <<<"${EVSYNTH_TARGETS:-}"
SNAKEMAKE=("$PYTHON" -m snakemake)

log() { printf '[run_local_slurm %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts slurm daemons)"
[[ -x $PYTHON ]] || die "no python at $PYTHON (run 'make' to create the venv, or set PYTHON)"
"$PYTHON" -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
    || die "snakemake-executor-plugin-slurm is not installed: $PYTHON -m pip install -e '$REPO[cluster]'"

TMP=$(mktemp -d /tmp/evsynth-slurm.XXXXXX)
chmod 755 "$TMP"
SLURM_DIR=$TMP/slurm
STARTED_MUNGED=0
SLURMCTLD_PID=""
SLURMD_PID=""

cleanup() {
    local rc=$?
    set +e
    if [[ -n ${SLURM_CONF:-} && -f ${SLURM_CONF:-} ]]; then
        scancel --quiet --user=root >/dev/null 2>&1
    fi
    for pidfile in "$SLURM_DIR/slurmd.pid" "$SLURM_DIR/slurmctld.pid"; do
        if [[ -s $pidfile ]]; then
            local pid
            pid=$(cat "$pidfile")
            if kill -0 "$pid" 2>/dev/null; then
                kill "$pid" 2>/dev/null
                for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                kill -9 "$pid" 2>/dev/null
            fi
        fi
    done
    if [[ $STARTED_MUNGED -eq 1 && -s /run/munge/munged.pid ]]; then
        kill "$(cat /run/munge/munged.pid)" 2>/dev/null
    fi
    if [[ ${KEEP_TMP:-0} == 1 ]]; then
        log "kept temp dir $TMP"
    else
        rm -rf "$TMP"
    fi
    log "wall time: $(( $(date +%s) - START )) s"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# (1) packages ---------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    log "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# (2) munge ------------------------------------------------------------------------------
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key
    else
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "starting munged"
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    chmod 755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    STARTED_MUNGED=1
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null || die "munged does not answer"
fi

# (3) slurm.conf -------------------------------------------------------------------------
mkdir -p "$SLURM_DIR/state" "$SLURM_DIR/spool" "$SLURM_DIR/log"
# The node's real CPUs and memory, as slurmd itself detects them.
HW=$(slurmd -C | head -1)
CPUS=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$HW")
MEM=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$HW")
BOARDS=$(sed -n 's/.*Boards=\([0-9]*\).*/\1/p' <<<"$HW")
SOCKETS=$(sed -n 's/.*SocketsPerBoard=\([0-9]*\).*/\1/p' <<<"$HW")
CORES=$(sed -n 's/.*CoresPerSocket=\([0-9]*\).*/\1/p' <<<"$HW")
THREADS=$(sed -n 's/.*ThreadsPerCore=\([0-9]*\).*/\1/p' <<<"$HW")
export SLURM_CONF=$SLURM_DIR/slurm.conf
cat >"$SLURM_CONF" <<EOF
# Throwaway single-node cluster written by tests/cluster/run_local_slurm.sh
ClusterName=evsynth-local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# No accounting database: job status comes from squeue, so finished jobs must stay
# visible in squeue long enough (MinJobAge) for Snakemake's status poll to see them.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
SwitchType=switch/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS Boards=$BOARDS SocketsPerBoard=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
log "slurm.conf: localhost CPUs=$CPUS RealMemory=$MEM (in $SLURM_DIR)"

# (4) daemons ----------------------------------------------------------------------------
# -i: ignore state left by an earlier run; both daemonise and write their PID files.
slurmctld -f "$SLURM_CONF" -i
slurmd -f "$SLURM_CONF" -N localhost
for _ in $(seq 120); do
    state=$(sinfo -h -n localhost -o %t 2>/dev/null || true)
    [[ $state == idle ]] && break
    if [[ $state == down* || $state == drain* ]]; then
        scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true
    fi
    sleep 0.5
done
[[ $(sinfo -h -n localhost -o %t) == idle ]] || {
    tail -20 "$SLURM_DIR"/log/*.log
    die "node localhost is not idle: $(sinfo -h -n localhost -o '%t %E')"
}
log "cluster up: $(sinfo -h -o '%P %a %D %t %N')"

# (5)/(6) the two runs -------------------------------------------------------------------
copy_review() {
    local dest=$1 part
    mkdir -p "$dest"
    for part in config schemas workflow/schemas data/raw; do
        if [[ -d $REVIEW/$part ]]; then
            mkdir -p "$dest/$(dirname "$part")"
            cp -a "$REVIEW/$part" "$dest/$part"
        fi
    done
    chmod -R a+rX "$dest"
}

SLURM_RUN=$TMP/run-slurm
LOCAL_RUN=$TMP/run-local
copy_review "$SLURM_RUN"
copy_review "$LOCAL_RUN"

# snakemake-executor-plugin-slurm-jobstep removes every SLURM_* variable except the job
# ids from the environment of the `srun` it runs inside each job, SLURM_CONF included, so
# srun would look for /etc/slurm/slurm.conf. A wrapper earlier on PATH (PATH is exported
# into the job) puts SLURM_CONF back; a cluster with a system-wide slurm.conf needs none.
mkdir -p "$TMP/bin"
cat >"$TMP/bin/srun" <<EOF
#!/bin/sh
SLURM_CONF=$SLURM_CONF exec $(command -v srun) "\$@"
EOF
chmod 755 "$TMP/bin/srun"

log "workflow on SLURM (executor plugin, grouped jobs)"
T0=$(date +%s.%N)
(
    export PATH=$TMP/bin:$PATH
    "${SNAKEMAKE[@]}" -s "$REPO/Snakefile" --directory "$SLURM_RUN" \
        --executor slurm --profile "$REPO/workflow/profiles/slurm" --jobs 4 \
        --slurm-no-account --slurm-status-command squeue \
        --slurm-init-seconds-before-status-checks 2 "${TARGETS[@]}"
) || die "FAIL: SLURM run failed (see $SLURM_RUN/.snakemake/slurm_logs, $SLURM_DIR/log)"
SLURM_SECONDS=$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { print a - b }')
SLURM_JOBS=$(squeue -h --states=all -o '%i' | sort -u | wc -l)
log "SLURM run done: $SLURM_JOBS SLURM jobs, ${SLURM_SECONDS} s"

log "workflow locally (--cores 2)"
T0=$(date +%s.%N)
"${SNAKEMAKE[@]}" -s "$REPO/Snakefile" --directory "$LOCAL_RUN" \
    --profile "$REPO/workflow/profiles/default" --cores 2 "${TARGETS[@]}" \
    || die "FAIL: local run failed"
LOCAL_SECONDS=$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { print a - b }')
LOCAL_JOBS=$(find "$LOCAL_RUN/results/logs" -name '*.log' | wc -l)
log "local run done: $LOCAL_JOBS jobs, ${LOCAL_SECONDS} s"
printf 'TIMES: slurm_jobs=%s slurm_seconds=%.1f local_jobs=%s local_seconds=%.1f\n' \
    "$SLURM_JOBS" "$SLURM_SECONDS" "$LOCAL_JOBS" "$LOCAL_SECONDS"

# (7) compare ----------------------------------------------------------------------------
list_results() {
    (cd "$1" && find results data/processed \( -path results/logs -o -path results/cache \) \
        -prune -o -type f -print | sort)
}
diff <(list_results "$SLURM_RUN") <(list_results "$LOCAL_RUN") \
    || die "FAIL: the SLURM and local runs wrote different files"
nfiles=0
nbad=0
while IFS= read -r f; do
    nfiles=$((nfiles + 1))
    if ! cmp -s "$SLURM_RUN/$f" "$LOCAL_RUN/$f"; then
        log "differs: $f"
        nbad=$((nbad + 1))
    fi
done < <(list_results "$SLURM_RUN")
[[ $nfiles -gt 0 ]] || die "FAIL: no result files"
if [[ ${#TARGETS[@]} -eq 0 ]]; then
    [[ -f $SLURM_RUN/results/report.html ]] || die "FAIL: no results/report.html"
fi
if [[ $nbad -gt 0 ]]; then
    echo "FAIL: $nbad of $nfiles result files differ between the SLURM and local runs"
    exit 1
fi
echo "PASS: $nfiles result files (processed tables, analyses, figures, report; logs and cache ignored) byte-identical between SLURM and local runs"
