#!/usr/bin/env bash
# LA results table (issue 5): methods x seeds on the two LA configs, each a full pipeline run on
# 2 cores; prints one markdown row per run (validation 3D Dice of model a and b, wall time, peak
# RSS). Usage: bash bench/la_results.sh exemplar "supervised cps cmems" "1 2 3" [extra --set ...]
set -euo pipefail
setting=$1 methods=$2 seeds=$3
shift 3
# Supervised is a row of its own, so no run trains the baseline pair beside its method.
store=${LA_STORE:-/tmp/duet-la}
data=${LA_DATA:-../shared/data/la2018}
config=fixtures/configs/la2018-$setting.json
for method in $methods; do
  for seed in $seeds; do
    log=$(mktemp)
    /usr/bin/time -v deno task pipeline run --config "$config" --data "$data" --store "$store" \
      --log-format plain --set seed="$seed" --set train.method="$method" \
      --set evaluate.baseline=false "$@" >"$log" 2>&1 || {
      tail -5 "$log"
      exit 1
    }
    run=$(grep -o 'run [^ :]*: done' "$log" | cut -d' ' -f2 | tr -d ':')
    # The newest evaluate unit: a run ID keeps older units when code versions change keys.
    metrics=$(ls -t "$store"/runs/"$run"/stages/evaluate/*/attempt-*/metrics.json | head -1)
    python3 - "$metrics" "$config" "$log" "$setting" "$method" "$seed" <<'PY'
import json, re, sys
metrics, config, log, setting, method, seed = sys.argv[1:]
val = set(json.load(open(config))["data"]["roles"]["validation"])
m = json.load(open(metrics))
text = open(log).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", text).group(1)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
dice = []
for name in ("a", "b"):
    rows = [r for r in m["cases"][name] if r["caseId"] in val]
    d = [r["metrics"]["classes"]["1"]["dice"] for r in rows]
    dice.append(100 * sum(d) / len(d))
print(f"| {setting} | {method} | {seed} | {dice[0]:.2f} | {dice[1]:.2f} | {wall} | {rss:.0f} MiB |", flush=True)
PY
    rm -f "$log"
  done
done
