#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for the cluster tests (Debian's slurm-wlm and munge).
#   bash scripts/services/slurm.sh [up|down|status]      (default: up; needs root, as CI is)
# `up` installs the packages if they are missing, writes /etc/slurm/slurm.conf for this host, and starts
# munged, slurmctld and slurmd. It is idempotent. `.ci/run` calls it before the tests, and `down` after.
set -euo pipefail
# not root (a GitHub runner, a laptop): run the whole script through sudo when it is there
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then exec sudo -E bash "$0" "$@"; fi
action="${1:-up}"
conf=/etc/slurm/slurm.conf
state=/var/spool/slurmctld
host="$(hostname -s)"

install() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null && command -v munged >/dev/null && return
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
}

write_conf() {
  local cpus mem
  cpus="$(getconf _NPROCESSORS_ONLN)"  # not `nproc`: it obeys OMP_NUM_THREADS, which the test runner sets per worker
  mem="$(awk '/MemTotal/ {printf "%d", $2/1024*0.8}' /proc/meminfo)"
  mkdir -p /etc/slurm "$state" /var/spool/slurmd /var/log/slurm /run/munge
  local old; old="$(cat "$conf" 2>/dev/null || true)"
  cat > "$conf" <<CONF
# written by fsdl-dev scripts/services/slurm.sh: a one-node test cluster
ClusterName=fsdl-dev-local
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=${state}
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=10
Waittime=0
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
  echo "ConstrainCores=no" > /etc/slurm/cgroup.conf
  # daemons started with another configuration keep it: restart them
  if [ "$old" != "$(cat "$conf")" ] && pgrep -x slurmctld >/dev/null; then down >/dev/null; fi
}

start_munge() {
  pgrep -x munged >/dev/null && return
  [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  chmod 0400 /etc/munge/munge.key
  su -s /bin/sh munge -c "/usr/sbin/munged" 2>/dev/null || /usr/sbin/munged --force
}

up() {
  install
  write_conf
  start_munge
  pgrep -x slurmctld >/dev/null || slurmctld
  pgrep -x slurmd >/dev/null || slurmd
  local deadline=$((SECONDS + 90))  # each sinfo is bounded too: a dead slurmctld makes it retry for minutes
  while [ "$SECONDS" -lt "$deadline" ]; do
    if timeout 5 sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "slurm: one-node cluster up on ${host} ($(getconf _NPROCESSORS_ONLN) CPUs)"; return 0
    fi
    timeout 5 scontrol update NodeName="${host}" State=RESUME >/dev/null 2>&1 || true
    sleep 1
  done
  echo "slurm: cluster did not come up; see /var/log/slurm/" >&2
  tail -5 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
  return 1
}

down() {
  for d in slurmd slurmctld munged; do pkill -x "$d" 2>/dev/null || true; done
  # wait until they are gone, so that an `up` right after starts fresh daemons instead of seeing dying ones
  for _ in $(seq 50); do
    pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || pgrep -x munged >/dev/null || break
    sleep 0.2
  done
  for d in slurmd slurmctld munged; do pkill -9 -x "$d" 2>/dev/null || true; done
  echo "slurm: stopped"
}

case "$action" in
  up) up ;;
  down) down ;;
  status) sinfo; squeue ;;
  *) echo "usage: $0 [up|down|status]" >&2; exit 2 ;;
esac
