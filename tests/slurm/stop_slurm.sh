#!/usr/bin/env bash
# Stops the daemons start_slurm.sh started, by their pid files under STATE_DIR (slurmd, then
# slurmctld, then munged if it was ours). Safe to call when some never started.
set -uo pipefail

state="${1:?usage: stop_slurm.sh STATE_DIR}"

stop_by_pid_file() {
  local name="$1" pid_file="$2"
  [ -f "$pid_file" ] || return 0
  local pid
  pid="$(cat "$pid_file" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { echo "stop_slurm: stopped $name ($pid)" >&2; return 0; }
    sleep 0.1
  done
  echo "stop_slurm: $name ($pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null
}

stop_by_pid_file slurmd "$state/slurmd.pid"
stop_by_pid_file slurmctld "$state/slurmctld.pid"
stop_by_pid_file munged "$state/munged.pid"
exit 0
