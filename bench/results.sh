#!/usr/bin/env bash
# Results of real-data runs: methods x seeds of one config, each a full pipeline run, appended as
# one JSON line per run (per-case Dice/HD95 per class of models a and b, wall time, peak RSS,
# the command, the run's id and, where refine ran a second round, its gate's scores) to
# bench/results/<config name>.jsonl; `python3 bench/results_table.py FILE` prints the tables
# (validation and test side by side, mean ± std over seeds).
#   bash bench/results.sh fixtures/configs/acdc-exemplar.json ../shared/data/acdc "supervised cmems" "1 2 3" [--set ...]
# Supervised is a row of its own, so no run trains the baseline pair beside its method.
set -euo pipefail
config=$1 data=$2 methods=$3 seeds=$4
shift 4
store=${RESULTS_STORE:-/tmp/duet-results}
tag=${RESULTS_TAG:-}
out=${RESULTS_FILE:-bench/results/$(basename "$config" .json).jsonl}
mkdir -p "$(dirname "$out")"
for method in $methods; do
  for seed in $seeds; do
    log=$(mktemp)
    args=(run --config "$config" --data "$data" --store "$store" --log-format plain
      --set seed="$seed" --set train.method="$method" --set evaluate.baseline=false "$@")
    /usr/bin/time -v deno task pipeline "${args[@]}" >"$log" 2>&1 || {
      tail -5 "$log"
      exit 1
    }
    run=$(grep -o 'run [^ :]*: done' "$log" | cut -d' ' -f2 | tr -d ':')
    metrics=$(ls -t "$store"/runs/"$run"/stages/evaluate/*/attempt-*/metrics.json | head -1)
    # The newest: a run id (the config's digest) keeps one refine result per stage version.
    refine=$(ls -t "$store"/runs/"$run"/stages/refine/*/_SUCCESS.json 2>/dev/null | head -1)
    python3 - "$metrics" "$config" "$log" "$method" "$seed" "$tag" "${args[*]}" "$run" "$refine" >>"$out" <<'PY'
import json, re, sys
metrics, config, log, method, seed, tag, command, run, refine = sys.argv[1:]
roles = json.load(open(config))["data"]["roles"]
m = json.load(open(metrics))
text = open(log).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", text).group(1)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
split = {**{i: "validation" for i in roles["validation"]}, **{i: "test" for i in roles["test"]}}
cases = {name: [{"case": r["caseId"], "split": split[r["caseId"]],
                 "dice": {c: v["dice"] for c, v in r["metrics"]["classes"].items()},
                 "hd95": {c: v["hd95"] for c, v in r["metrics"]["classes"].items()},
                 "empty": r["metrics"].get("empty", {})}
                for r in m["cases"][name]] for name in ("a", "b", "pair") if name in m["cases"]}
# The gate's scores (validation Dice of each round, post-processed as evaluate does, on the
# training grid) are only in refine's summary: a second round it rejected leaves the evaluated
# models, and so the cases, unchanged.
second = json.load(open(refine))["summary"].get("secondRound") if refine else None
print(json.dumps({"config": config, "tag": tag, "method": method, "seed": int(seed),
                  "classes": m["classes"], "wall": wall, "rss_mib": round(rss),
                  "command": "deno task pipeline " + command, "run": run,
                  **({"refine": second} if second else {}), "cases": cases}), flush=True)
PY
    tail -1 "$out" | python3 -c "
import json,sys; r=json.loads(sys.stdin.read())
for n in r['cases']:
  for s in ('validation','test'):
    d=[sum(c['dice'].values())/len(c['dice']) for c in r['cases'][n] if c['split']==s]
    print(f\"{r['method']} seed {r['seed']} {n} {s}: mean Dice {100*sum(d)/max(1,len(d)):.2f}\", end='; ')
print(r['wall'], r['rss_mib'], 'MiB')"
    rm -f "$log"
  done
done
