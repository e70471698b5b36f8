#!/usr/bin/env bash
# From one annotated slice to a 3D model: the exemplar recipe's exported 2D model (a finished run
# of fixtures/configs/la2018-exemplar.json in the store) segments every training-pool volume with
# `predict` (mirrored, largest component, as evaluate scored it); the 3D config then trains
# `supervised` on those masks (`data.pseudoLabels`; validation and test keep their own labels)
# and bench/results.sh scores it.
#   bash bench/distil3d.sh RUN_ID SEED [--set ...]
set -euo pipefail
run=$1 seed=$2
shift 2
store=${RESULTS_STORE:-/tmp/duet-results}
data=${LA_DATA:-../shared/data/la2018}
masks=${DISTIL_DIR:-/tmp/duet-distil}/$run
model=$(ls -t "$store"/runs/"$run"/stages/export/*/attempt-*/model.onnx | head -1)
pool=$(python3 -c "
import json
r = json.load(open('fixtures/configs/la2018-exemplar.json'))['data']['roles']
held = set(r['validation']) | set(r['test'])
print(' '.join(i for i in open('$data/train.list').read().split() if i not in held))")
inputs=()
for id in $pool; do inputs+=("$data/train/$id.h5"); done
rm -rf "$masks"
deno task pipeline predict --model "$model" --input "${inputs[@]}" --out "$masks"
RESULTS_TAG=${RESULTS_TAG:-distil3d} bash bench/results.sh fixtures/configs/la2018-exemplar-3d.json \
  "$data" supervised "$seed" --set data.pseudoLabels="$(realpath "$masks")" "$@"
