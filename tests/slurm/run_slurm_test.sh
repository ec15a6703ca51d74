#!/usr/bin/env bash
# End-to-end: a real single-node Slurm on localhost runs embedflow pipelines as 4-task job arrays
# (`embedflow slurm … --wait`, which also merges), and the merged outputs must be byte-identical
# (cmp) to a single-process run of the same pipeline. Also checks that a failing shard is named
# and fails the command, and that --dry-run / k8s print what they should.
#   bash tests/slurm/run_slurm_test.sh path/to/embedflow
# Needs root, slurm-wlm and munge. Fails (never skips) when Slurm cannot start. The daemons are
# stopped by their pid files on exit, pass or fail. EMBEDFLOW_KEEP_TMP=1 keeps the temp folder.
set -euo pipefail

embedflow="$(realpath "${1:?usage: run_slurm_test.sh EMBEDFLOW_BINARY}")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d /tmp/embedflow-slurm-test.XXXXXX)"

cleanup() {
  local rc=$?
  bash "$here/stop_slurm.sh" "$tmp/slurm"
  if [ "${EMBEDFLOW_KEEP_TMP:-0}" = 1 ] || [ $rc -ne 0 ]; then
    echo "kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit $rc
}
trap cleanup EXIT

failures=0
check() { # check DESCRIPTION COMMAND...
  local what="$1"
  shift
  if "$@"; then
    echo "ok: $what"
  else
    echo "FAIL: $what" >&2
    failures=$((failures + 1))
  fi
}

# Every file a single-process run wrote must be in the merged folder, byte for byte, and the
# merged folder must hold nothing else outside the shard folders and slurm/.
same_outputs() { # same_outputs SINGLE_DIR MERGED_DIR
  local single="$1" merged="$2" ok=0 f
  while IFS= read -r f; do
    if [ ! -f "$merged/$f" ]; then
      echo "  missing in the merged outputs: $f" >&2
      ok=1
    elif ! cmp "$single/$f" "$merged/$f"; then
      ok=1
    fi
  done < <(cd "$single" && find . -type f -not -path './.embedflow/*' | sort)
  while IFS= read -r f; do
    if [ ! -f "$single/$f" ]; then
      echo "  only in the merged outputs: $f" >&2
      ok=1
    fi
  done < <(cd "$merged" && find . -type f -not -path './shard-*' -not -path './slurm/*' \
    -not -path './.embedflow/*' | sort)
  [ "$(cd "$single" && find . -type f | wc -l)" -gt 0 ] || { echo "  no outputs at all" >&2; ok=1; }
  return $ok
}

# munged runs as user munge and keeps its key and log under $tmp/slurm: let it through.
chmod 0711 "$tmp"
if ! slurm_env="$(bash "$here/start_slurm.sh" "$tmp/slurm")"; then
  echo "FAIL: Slurm did not start (see above)" >&2
  exit 1
fi
eval "$slurm_env"
export SLURM_CONF
sinfo

# A corpus of a few hundred lines: words, empty lines, non-ASCII, one invalid UTF-8 line.
corpus="$tmp/corpus.txt"
for i in $(seq 1 300); do
  case $((i % 50)) in
    7) echo "" ;;
    13) echo "Ünïcödé line $i — naïve café, 東京, Ελληνικά" ;;
    *) echo "line $i: the quick brown fox $((i * 7919 % 1000)) jumps over $((i % 17)) lazy dogs" ;;
  esac
done >"$corpus"
printf 'bad \xff\xfe utf-8 line\n' >>"$corpus"
export CORPUS="$corpus"

mkdir -p "$tmp/submit"
cd "$tmp/submit"

for name in text audio; do
  pipeline="$here/${name}_pipeline.yaml"
  echo "== $name: single-process run"
  OUT="$tmp/single/$name" "$embedflow" run "$pipeline" --threads 1 --progress off
  echo "== $name: 4 shards on Slurm"
  OUT="$tmp/sharded/$name" "$embedflow" slurm "$pipeline" --shards 4 --cpus-per-task 1 --wait \
    --time 10:00 | tee "$tmp/$name.slurm.txt"
  check "$name: every shard ran as an array task (4 logs)" \
    test "$(find "$tmp/sharded/$name/slurm" -name '*.log' | wc -l)" -eq 4
  check "$name: the command reports where the merged outputs are" \
    grep -q "merged outputs are in $tmp/sharded/$name" "$tmp/$name.slurm.txt"
  check "$name: merged outputs are identical to the single-process run" \
    same_outputs "$tmp/single/$name" "$tmp/sharded/$name"
done
check "text: the merge kept the stats of all 300 valid lines" \
  test "$(wc -l <"$tmp/sharded/text/stats.jsonl")" -eq 300
check "text: the invalid line is in errors.jsonl" grep -q '"300"' "$tmp/sharded/text/errors.jsonl"

echo "== a shard that cannot write its outputs fails the job, by number"
broken="$tmp/broken"
mkdir -p "$broken"
echo "not a folder" >"$broken/shard-2-of-4" # shard 2 cannot create its folder
set +e
OUT="$broken" "$embedflow" slurm "$here/text_pipeline.yaml" --shards 4 --wait \
  >"$tmp/broken.out" 2>"$tmp/broken.err"
rc=$?
set -e
cat "$tmp/broken.out" "$tmp/broken.err"
check "a failed shard makes embedflow slurm --wait exit 1" test $rc -eq 1
check "the failed shard is named" grep -q "^error: shard 2 " "$tmp/broken.err"
check "only shard 2 is reported" test "$(grep -c '^error: shard ' "$tmp/broken.err")" -eq 1
check "the resubmit command is suggested" grep -q -- "sbatch --array=2 " "$tmp/broken.err"

echo "== after the fix, rerunning only shard 2 with the written script completes the job"
rm "$broken/shard-2-of-4"
OUT="$broken" sbatch --wait --array=2 "$broken/slurm/slurm_text.sbatch"
check "the other shards were not rerun (one more log, for shard 2)" \
  test "$(find "$broken/slurm" -name '*_2.log' | wc -l)" -eq 2
OUT="$broken" "$embedflow" merge "$broken"
check "the rerun shard merges into outputs identical to the single-process run" \
  same_outputs "$tmp/single/text" "$broken"

echo "== --dry-run prints the script and submits nothing"
OUT="$tmp/dry" "$embedflow" slurm "$here/text_pipeline.yaml" --shards 3 --partition gpu \
  --time 1:00:00 --mem 4G --account proj --cpus-per-task 2 --set embed.batch_size=4 \
  --dry-run >"$tmp/dry.sbatch"
cat "$tmp/dry.sbatch"
for line in "#SBATCH --array=0-2" "#SBATCH --cpus-per-task=2" "#SBATCH --partition=gpu" \
  "#SBATCH --time=1:00:00" "#SBATCH --mem=4G" "#SBATCH --account=proj" \
  "#SBATCH --output=$tmp/dry/slurm/%A_%a.log" "cd $tmp/submit" \
  "exec $embedflow run $here/text_pipeline.yaml" '--shard "${SLURM_ARRAY_TASK_ID}/3"' \
  '--threads "${SLURM_CPUS_PER_TASK:-2}"' "--set embed.batch_size=4"; do
  check "dry run: '$line'" grep -qF -- "$line" "$tmp/dry.sbatch"
done
check "dry run: nothing written" test ! -e "$tmp/dry"
check "dry run: the script is valid bash" bash -n "$tmp/dry.sbatch"

echo "== a cross-shard stage is refused"
set +e
OUT="$tmp/x" "$embedflow" slurm "$here/cross_shard_pipeline.yaml" --shards 2 \
  --dry-run 2>"$tmp/cross.err" >/dev/null
rc=$?
set -e
check "score.cosine in a sharded pipeline: exit 2" test $rc -eq 2
check "score.cosine in a sharded pipeline: says why" grep -q "combines items across" "$tmp/cross.err"

echo "== k8s prints an Indexed Job"
OUT=/data/out "$embedflow" k8s "$here/text_pipeline.yaml" --shards 5 --image reg/embedflow:1 \
  --cpus 2 --memory 4Gi --pvc embeddings --env OUT=/data/out --env CORPUS=/data/corpus.txt \
  >"$tmp/job.yaml"
cat "$tmp/job.yaml"
# PyYAML comes with python3-torch (a dependency), so the oracle python has it.
check "k8s: the manifest is an Indexed Job of 5 with the claim mounted at OUT" \
  /usr/bin/python3 - "$tmp/job.yaml" <<'PY'
import sys, yaml
job = yaml.safe_load(open(sys.argv[1]))
spec, pod = job["spec"], job["spec"]["template"]["spec"]
c = pod["containers"][0]
assert job["kind"] == "Job" and spec["completionMode"] == "Indexed", spec
assert spec["completions"] == 5 and spec["parallelism"] == 5, spec
assert c["image"] == "reg/embedflow:1"
assert c["command"][:2] == ["embedflow", "run"] and "--num-shards" in c["command"], c["command"]
assert c["command"][c["command"].index("--num-shards") + 1] == "5"
env = {e["name"]: e for e in c["env"]}
assert "job-completion-index" in env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
assert env["OUT"]["value"] == "/data/out"
assert c["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
assert c["volumeMounts"][0]["mountPath"] == "/data/out"
assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "embeddings"
PY

if [ $failures -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
