#!/usr/bin/env bash
# From one annotated slice to a 3D model: the exemplar recipe's exported 2D model (a finished
# run of fixtures/configs/la2018-exemplar.json in the store) segments every training-pool volume
# with `predict`; those masks (largest component, as evaluate keeps it; the exemplar slice itself
# from its annotation) become the labels of a copy of the data, whose validation and test volumes
# keep their true labels for scoring only; then the 3D config trains `supervised` on them
# (fixtures/configs/la2018-exemplar-3d.json) and is scored by bench/results.sh.
#   bash bench/distil3d.sh RUN_ID SEED [--set ...]
set -euo pipefail
run=$1 seed=$2
shift 2
store=${RESULTS_STORE:-/tmp/duet-results}
data=${LA_DATA:-../shared/data/la2018}
work=${DISTIL_DIR:-/tmp/duet-distil}/$run
exemplar=fixtures/configs/la2018-exemplar.json
model=$(ls -t "$store"/runs/"$run"/stages/export/*/attempt-*/model.onnx | head -1)
pool=$(python3 -c "
import json, sys
r = json.load(open('$exemplar'))['data']['roles']
held = set(r['validation']) | set(r['test'])
print(' '.join(i for i in open('$data/train.list').read().split() if i not in held))")
rm -rf "$work" && mkdir -p "$work/masks" "$work/data/train"
inputs=()
for id in $pool; do inputs+=("$data/train/$id.h5"); done
deno task pipeline predict --model "$model" --input "${inputs[@]}" --out "$work/masks"
/usr/bin/python3 - "$data" "$work" "$exemplar" <<'PY'
import json, os, shutil, sys
import h5py, nibabel, numpy as np
from scipy import ndimage
data, work, exemplar = sys.argv[1:]
roles = json.load(open(exemplar))["data"]["roles"]
ex = roles["exemplar"]
held = set(roles["validation"]) | set(roles["test"])
ids = open(f"{data}/train.list").read().split()
for i in ids:
    src, dst = f"{data}/train/{i}.h5", f"{work}/data/train/{i}.h5"
    if i in held:  # scored against their true labels, never trained on
        shutil.copyfile(src, dst)
        continue
    with h5py.File(src) as f:
        image, truth = f["image"][:], f["label"][:]
    mask = np.asarray(nibabel.load(f"{work}/masks/{i}.nii.gz").dataobj).astype(np.uint8)
    parts, n = ndimage.label(mask == 1, np.ones((3, 3, 3)))  # 26-connected, as evaluate keeps it
    if n > 1:
        mask = (parts == 1 + np.argmax(np.bincount(parts.ravel())[1:])).astype(np.uint8)
    if i == ex["case"]:  # the one annotated slice (axis 2), as the 2D run picked it
        z = int(np.argmax((truth == 1).sum(axis=(0, 1)))) if ex["slice"] == "largest" else ex["slice"]
        mask[:, :, z] = truth[:, :, z]
    with h5py.File(dst, "w") as f:
        f.create_dataset("image", data=image, compression="gzip")
        f.create_dataset("label", data=mask, compression="gzip")
open(f"{work}/data/train.list", "w").write("\n".join(ids) + "\n")
PY
RESULTS_TAG=${RESULTS_TAG:-distil3d} bash bench/results.sh fixtures/configs/la2018-exemplar-3d.json \
  "$work/data" supervised "$seed" "$@"
