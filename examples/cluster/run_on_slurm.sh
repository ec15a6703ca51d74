#!/usr/bin/env bash
# The two-job plan on Slurm, without keeping a terminal open:
#   job 1: the sharded embedding array (embed.yaml, N tasks);
#   job 2: one task that starts when every task of job 1 succeeded (afterok), merges the shards
#          and runs the cross-shard step (similarity.yaml) over the merged embeddings.
#
#   SENTENCES=/data/sentences.txt MODEL=/models/all-MiniLM-L6-v2 OUT=/scratch/emb \
#     bash examples/cluster/run_on_slurm.sh 100
set -euo pipefail

shards="${1:-10}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${SENTENCES:?set SENTENCES}" "${MODEL:?set MODEL}" "${OUT:?set OUT}"
export SENTENCES MODEL OUT

job1="$(embedflow slurm "$here/embed.yaml" --shards "$shards" --cpus-per-task 2 --time 4:00:00 |
  sed -n 's/^submitted job \([0-9]*\).*/\1/p')"
[ -n "$job1" ] || { echo "submitting the embedding array failed" >&2; exit 1; }

# sbatch exports this environment (OUT, MODEL…) to job 2 as it does to job 1.
job2="$(sbatch --parsable --dependency="afterok:$job1" --job-name=embedflow-similarity \
  --cpus-per-task=2 --time=4:00:00 --output="$OUT/slurm/similarity-%j.log" \
  --wrap "embedflow merge '$OUT' && embedflow run '$here/similarity.yaml' --threads 2 --progress off")"
echo "job $job1: $shards embedding shards; job $job2: merge + similarity once they all succeed"
echo "  if a shard fails, job $job2 never starts: rerun the shard (sbatch --array=I $OUT/slurm/cluster_embed.sbatch),"
echo "  then run job 2's command by hand."
