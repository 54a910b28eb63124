#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine (as root), for trying `nnlab study --slurm`
# and for CI's Slurm test. Debian 12: apt-get install slurmctld slurmd slurm-client munge.
# Everything Slurm keeps lives under $SLURM_HOME (default: nnlab-slurm in the system's temporary
# folder, $TMPDIR or its default); the config is
# written to /etc/slurm/slurm.conf, where sbatch looks for it. Stop it with:
#   pkill slurmctld; pkill slurmd; pkill munged
set -euo pipefail
home="${SLURM_HOME:-$(dirname "$(mktemp -u)")/nnlab-slurm}"
cpus="$(nproc)"
host="$(hostname -s)"
mkdir -p "$home"/{state,spool,log} /run/munge /etc/slurm
chown munge:munge /run/munge
if [ ! -f /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=128 count=1 status=none
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
fi
pgrep -x munged > /dev/null || runuser -u munge -- munged
# Linux process tracking and no task plugin: no cgroups needed inside containers.
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=nnlab
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
StateSaveLocation=$home/state
SlurmdSpoolDir=$home/spool
SlurmctldLogFile=$home/log/slurmctld.log
SlurmdLogFile=$home/log/slurmd.log
SlurmctldPidFile=$home/slurmctld.pid
SlurmdPidFile=$home/slurmd.pid
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
pgrep -x slurmctld > /dev/null || slurmctld
pgrep -x slurmd > /dev/null || slurmd
for _ in $(seq 1 50); do
  if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    sinfo
    exit 0
  fi
  sleep 0.2
done
echo "slurm did not come up; logs in $home/log" >&2
exit 1
