"""How well label-free signals pick out the worse pool masks the 3D step learns from (reporting
only, never used to choose): for each mask in a `predict` folder, its Dice against the pool
volume's own label, and two signals that need no label, the masked atrium's mean intensity over a
5-voxel ring around it and how much its area jumps from slice to slice. Prints each signal's
Spearman correlation with Dice and the mean Dice kept when the 10 worst by that signal are left
out. Needs Debian's python3-h5py, -nibabel and -scipy.
    /usr/bin/python3 bench/pool_masks.py ../shared/data/la2018 MASK_DIR [MASK_DIR ...]"""
import glob, os, sys
import h5py, nibabel, numpy as np
from scipy import ndimage, stats

data, folders = sys.argv[1], sys.argv[2:]
for folder in folders:
    rows = []
    for path in sorted(glob.glob(f"{folder}/*.nii.gz")):
        case = os.path.basename(path).split(".")[0]
        with h5py.File(f"{data}/train/{case}.h5") as f:
            image, truth = f["image"][:].astype(np.float32), f["label"][:] == 1
        mask = np.asarray(nibabel.load(path).dataobj) == 1
        dice = 2 * (mask & truth).sum() / max(1, mask.sum() + truth.sum())
        ring = ndimage.binary_dilation(mask, iterations=5) & ~mask
        contrast = image[mask].mean() / max(1e-6, image[ring].mean()) if mask.any() else 0.0
        area = mask.sum(axis=(0, 1)).astype(float)  # per slice along z
        area = area[area > 0]
        jumps = np.abs(np.diff(area)).mean() / area.mean() if len(area) > 1 else np.inf
        rows.append((dice, contrast, -jumps))  # both signals: higher = looks better
    r = np.array(rows)
    print(f"{folder}: {len(r)} masks, mean Dice {100 * r[:, 0].mean():.1f}")
    for j, name in ((1, "contrast"), (2, "smooth area")):
        rho = stats.spearmanr(r[:, 0], r[:, j]).correlation
        order = np.argsort(r[:, j])
        print(f"  {name:12s} Spearman {rho:+.2f}; without the 10 lowest: {100 * r[order[10:], 0].mean():.1f}"
              f" (those 10: {100 * r[order[:10], 0].mean():.1f})")
