#!/bin/bash
# A one-node Slurm trial of `sweep --emit` (issue 26), run by hand — not part of CI or the tests.
#
# Starts munged, slurmctld and slurmd on this host (a cluster of one node with every CPU), submits
# an emitted 2×2 sweep's slurm.sh as a job array, waits for it, collects it, and compares the
# collected sweep.csv with an in-process sweep of the same grid (every column but the wall time).
# Then a longer 2-task array: task 1 is requeued mid-run (scontrol requeue), task 2 killed mid-run
# (scancel --signal=KILL), the array submitted again, collected and compared the same way.
# Then it stops the three daemons it started (by their process ids) and leaves the files in WORK.
#
#   scripts/slurm_local.sh [WORK]      (default WORK: a new folder under /tmp)
#
# Needs root and Debian's slurm-wlm and munge packages (apt-get install slurm-wlm munge); the
# CLI built in Release (dotnet build Curvature.sln -c Release). Outcome: docs/reliability.md, "Slurm".
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dll="$here/Cli/bin/Release/net10.0/curvature.dll"
work=${1:-$(mktemp -d /tmp/curvature-slurm-XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
for tool in munged slurmctld slurmd sbatch sinfo; do
  command -v "$tool" >/dev/null || { echo "error: '$tool' is not installed; expected Debian's slurm-wlm and munge packages (apt-get install slurm-wlm munge)." >&2; exit 2; }
done
[ -f "$dll" ] || { echo "error: the CLI is not built at '$dll'; expected dotnet build Curvature.sln -c Release first." >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "error: slurm_local.sh starts slurmd and munged; expected to run as root." >&2; exit 2; }

host=$(hostname -s)
export SLURM_CONF="$work/slurm.conf"
mkdir -p "$work/state" "$work/spool" "$work/log" "$work/munge" /run/munge
chown munge:munge /run/munge "$work/munge"
cat > "$SLURM_CONF" <<EOF
ClusterName=curvature-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
MaxArraySize=1001
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

pids=()
stop() {
  # Only the daemons this script started, by their ids; slurmctld saves its state before it exits.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 60); do
      state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
      [ -z "$state" ] || [ "$state" = Z ] && break
      sleep 0.5
    done
  done
}
trap stop EXIT

runuser -u munge -- munged --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --socket=/run/munge/munge.socket.2
sleep 1
pids+=("$(cat "$work/munge/munged.pid")")
slurmctld -c -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 30); do
  [ -f "$work/slurmctld.pid" ] && [ -f "$work/slurmd.pid" ] && break
  sleep 1
done
pids+=("$(cat "$work/slurmctld.pid")" "$(cat "$work/slurmd.pid")")
for _ in $(seq 1 60); do
  state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 1
done
echo "node $host: ${state:-unknown}"
[ "$state" = idle ] || { echo "error: the node did not become idle (sinfo says '${state:-nothing}'); see $work/log." >&2; exit 1; }

export CURVATURE="dotnet $dll"
# sweep.csv without its last column (seconds): the collected and the in-process tables must agree bit for bit.
same_table() {
  if diff <(cut -d, -f1-18 "$1/sweep.csv") <(cut -d, -f1-18 "$2/sweep.csv"); then
    echo "$1: the Slurm-collected sweep.csv equals the in-process sweep's in every column but seconds"
  else
    echo "error: $1/sweep.csv differs from the in-process sweep's" >&2
    exit 1
  fi
}

grid=(--arch 196-8-10 --data mnist14:200 --steps 300 --batch 20 --hessian-batch 50 --eval-every 5 --lr 0.05,0.1 -k 2,3)
dotnet "$dll" sweep "${grid[@]}" --emit "$work/emit"
sbatch --wait "$work/emit/slurm.sh"
dotnet "$dll" sweep --collect "$work/emit"
dotnet "$dll" sweep "${grid[@]}" --out "$work/inproc" | tail -1
same_table "$work/emit" "$work/inproc"

# A requeued task and a task killed with SIGKILL, both mid-run (after their first checkpoint).
long=(--arch 196-8-10 --data mnist14:200 --steps 6000 --batch 20 --hessian-batch 50 --eval-every 5 --lr 0.05,0.1 -k 2)
dotnet "$dll" sweep "${long[@]}" --emit "$work/faults"
job=$(sbatch --parsable "$work/faults/slurm.sh")
cells=("$work"/faults/0*/)
for _ in $(seq 1 300); do
  [ -f "${cells[0]}checkpoint.bin" ] && [ -f "${cells[1]}checkpoint.bin" ] && break
  sleep 0.5
done
squeue -h -j "$job" -o "%i %T"
scontrol requeue "${job}_1"
scancel --full --signal=KILL "${job}_2"
echo "requeued ${job}_1 and killed ${job}_2 after their first checkpoints"
for _ in $(seq 1 600); do
  [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
  sleep 1
done
dotnet "$dll" sweep --collect "$work/faults"
# The killed task's run is missing until the array runs again; its line resumes it from the checkpoint.
sbatch --wait "$work/faults/slurm.sh"
dotnet "$dll" sweep --collect "$work/faults"
dotnet "$dll" sweep "${long[@]}" --out "$work/faults-inproc" | tail -1
same_table "$work/faults" "$work/faults-inproc"
grep -h -E "^(completed|interrupted|error)" "$work"/faults/slurm-*.out
