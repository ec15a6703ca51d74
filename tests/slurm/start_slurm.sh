#!/usr/bin/env bash
# Starts a single-node Slurm on localhost: munged (as user munge, unless one already answers),
# slurmctld and slurmd, with every state, log and pid file under STATE_DIR.
#   bash tests/slurm/start_slurm.sh STATE_DIR      → prints `export SLURM_CONF=…` when ready
# Stop it with stop_slurm.sh STATE_DIR (it only stops what this script started).
# Needs root and Debian's slurm-wlm + munge. Exits non-zero, with the daemons' logs, if the node
# does not come up within 60 s.
set -euo pipefail

state="${1:?usage: start_slurm.sh STATE_DIR}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ctld_port="${EMBEDFLOW_SLURMCTLD_PORT:-6817}"
slurmd_port="${EMBEDFLOW_SLURMD_PORT:-6818}"

fail() {
  echo "start_slurm: $*" >&2
  for log in "$state"/munged.log "$state"/slurmctld.log "$state"/slurmd.log; do
    [ -f "$log" ] && { echo "---- $log (last 20 lines)" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

[ "$(id -u)" -eq 0 ] || fail "must run as root (SlurmUser=root, munged is started as user munge)"
for tool in munged munge unmunge slurmctld slurmd sbatch scontrol sinfo; do
  command -v "$tool" >/dev/null || fail "'$tool' not found: apt-get install slurm-wlm munge"
done
id munge >/dev/null 2>&1 || fail "no user 'munge': apt-get install munge"

mkdir -p "$state"
state="$(cd "$state" && pwd)"
# munged (user munge) must be able to reach its files under the state folder.
chmod 0711 "$state"
runuser -u munge -- test -x "$state" ||
  fail "user munge cannot enter $state: make its parent folders traversable (chmod o+x)"
mkdir -p "$state/ctld" "$state/slurmd"

# munge: reuse a running daemon (the machine's own), else start one with a fresh key.
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  echo "start_slurm: using the munged already running" >&2
else
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 "$state/munge"
  dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none
  chown munge:munge "$state/munge/munge.key"
  chmod 0400 "$state/munge/munge.key"
  runuser -u munge -- munged --key-file="$state/munge/munge.key" \
    --log-file="$state/munge/munged.log" --seed-file="$state/munge/munged.seed" \
    --pid-file="$state/munge/munged.pid" || fail "munged did not start"
  # stop_slurm.sh stops munged only if this file exists: we started it.
  ln -sf "$state/munge/munged.pid" "$state/munged.pid"
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
  munge -n | unmunge >/dev/null || fail "munged started but does not answer"
fi

# The node line as slurmd sees this machine (CPUs, sockets, cores, RealMemory): a mismatch
# would drain the node.
node_line="$(slurmd -C | head -n 1)"
host="$(hostname -s)"
case "$node_line" in NodeName=*) ;; *) fail "unexpected 'slurmd -C' output: $node_line" ;; esac
sed -e "s|@STATE@|$state|g" -e "s|@HOST@|$host|g" -e "s|@CTLD_PORT@|$ctld_port|g" \
  -e "s|@SLURMD_PORT@|$slurmd_port|g" -e "s|@NODE_LINE@|$node_line|g" \
  "$here/slurm.conf" >"$state/slurm.conf"
export SLURM_CONF="$state/slurm.conf"

# -i: ignore state left by an earlier run.
slurmctld -i -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"

for _ in $(seq 120); do
  node_state="$(sinfo -h -n "$host" -o '%T' 2>/dev/null || true)"
  case "$node_state" in idle* | mixed* | allocated*) break ;; esac
  sleep 0.5
done
case "$node_state" in idle* | mixed* | allocated*) ;; *)
  fail "node $host did not become idle within 60 s (state: '${node_state:-unknown}')" ;;
esac
echo "start_slurm: node $host is $node_state" >&2
echo "export SLURM_CONF=$SLURM_CONF"
