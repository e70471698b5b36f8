"""LA pool volumes whose atrium is darker than a 5-voxel ring around it, and the Dice of the masks
a model learnt from on them against the other volumes' (reporting only, never used to choose): a
folder of `predict` masks (<ID>.nii.gz), or of .h5 copies whose `label` holds them. Needs Debian's
python3-h5py, -nibabel and -scipy.
    /usr/bin/python3 bench/dark_atria.py ../shared/data/la2018 MASK_DIR [MASK_DIR ...]"""
import glob, json, os, sys
import h5py, nibabel, numpy as np
from scipy import ndimage

data, folders = sys.argv[1], sys.argv[2:]
roles = json.load(open("fixtures/configs/la2018-exemplar.json"))["data"]["roles"]
held = set(roles["validation"]) | set(roles["test"])
for folder in folders:
    rows = []
    for path in sorted(glob.glob(f"{folder}/*.nii.gz") + glob.glob(f"{folder}/*.h5")):
        case = os.path.basename(path).split(".")[0]
        if case in held:
            continue
        with h5py.File(f"{data}/train/{case}.h5") as f:
            image, truth = f["image"][:].astype(np.float32), f["label"][:] == 1
        ring = ndimage.binary_dilation(truth, iterations=5) & ~truth
        if path.endswith(".h5"):
            with h5py.File(path) as f:
                mask = f["label"][:] == 1
        else:
            mask = np.asarray(nibabel.load(path).dataobj) == 1
        dice = 2 * (mask & truth).sum() / max(1, mask.sum() + truth.sum())
        rows.append((image[truth].mean() / image[ring].mean(), 100 * dice, case))
    dark = sorted(r for r in rows if r[0] < 1)
    others = [r[1] for r in rows if r[0] >= 1]
    print(f"{folder}: {len(dark)} of {len(rows)} darker than their ring, mask Dice "
          f"{np.mean([r[1] for r in dark]):.1f} against {np.mean(others):.1f}")
    for ratio, dice, case in dark:
        print(f"  {case} atrium/ring {ratio:.2f}, Dice {dice:.1f}")
