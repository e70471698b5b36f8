"""PyTorch CPU reference for `predict`: the same 2D U-Net (bench/torch_reference.py), the same
work per volume as `deno task pipeline predict` with a z-score, WxH recipe: read the SSL4MIS
.h5 image (h5py), z-score over the volume, resize every z-slice to WxH (bilinear), eval-mode
inference in slice batches, argmax, nearest resize back to the volume's grid, write
<ID>.nii.gz (nibabel).

Usage: /usr/bin/python3 bench/predict_torch.py --out DIR [--threads 2] [--size 128]
          [--channels 8,16,32,64] [--up transpose] [--batch 16] FILE.h5...
Prints one JSON object: total_s (end to end), infer_s (network only), slices, volumes.
"""
import argparse
import json
import os
import sys
import time

import h5py
import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from torch_reference import UNet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--channels", default="8,16,32,64")
    ap.add_argument("--up", default="transpose", choices=["transpose", "bilinear"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    ch = [int(c) for c in a.channels.split(",")]
    net = UNet(1, a.classes, ch, [0.05, 0.1, 0.2, 0.3, 0.5][: len(ch)], bilinear=a.up == "bilinear")
    net.eval()
    os.makedirs(a.out, exist_ok=True)
    t0 = time.perf_counter()
    infer = 0.0
    slices = 0
    for path in a.files:
        with h5py.File(path, "r") as f:
            img = f["image"][:].astype(np.float32)  # (X, Y, Z)
        img = (img - img.mean()) / max(float(img.std()), 1e-8)
        nx, ny, nz = img.shape
        # (Z, 1, Y, X) so that rows = y, columns = x, as Duet's slices.
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 1, 0)))[:, None]
        x = F.interpolate(x, size=(a.size, a.size), mode="bilinear", align_corners=False)
        labels = []
        with torch.inference_mode():
            for z0 in range(0, nz, a.batch):
                t1 = time.perf_counter()
                probs = torch.softmax(net(x[z0:z0 + a.batch]), 1)
                infer += time.perf_counter() - t1
                labels.append(probs.argmax(1))
        lab = torch.cat(labels)[:, None].to(torch.uint8)
        lab = F.interpolate(lab, size=(ny, nx), mode="nearest")[:, 0]  # (Z, Y, X)
        vol = np.ascontiguousarray(lab.numpy().transpose(2, 1, 0))
        case = os.path.splitext(os.path.basename(path))[0]
        nib.save(nib.Nifti1Image(vol, np.eye(4)), os.path.join(a.out, case + ".nii.gz"))
        slices += nz
    total = time.perf_counter() - t0
    print(json.dumps({"total_s": total, "infer_s": infer, "slices": slices, "volumes": len(a.files),
                      "threads": a.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
