#!/usr/bin/python3
"""Reference implementation of medpy.metric.binary's definitions with scipy.ndimage, plus
scipy.ndimage.label and the papers' largest-connected-component post-processing, for the
TypeScript tests (run with Debian's /usr/bin/python3 + python3-scipy; medpy is not needed).

Usage: medpy_reference.py JOB.json  -> JSON on stdout.

JOB.json:
  {"metrics":    [{"pred": RAW, "label": RAW, "shape": [nx, ny(, nz)], "spacing": [..] | null,
                   "classes": [1, 2, ...]}, ...],
   "label":      [{"mask": RAW, "shape": [...], "connectivity": 1..ndim, "out": RAW_INT32}, ...],
   "largest_cc": [{"mask": RAW, "shape": [...], "classes": [...], "connectivity": 1..ndim,
                   "out": RAW_UINT8}, ...]}
RAW files hold uint8 voxels with x fastest (Duet's layout), i.e. a C-order numpy array of shape
(nz, ny, nx); a shape with nz == 1 is a 2D (ny, nx) image. Spacing is given as [sx, sy(, sz)].
"""
import json
import sys

import numpy
from scipy.ndimage import (binary_erosion, distance_transform_edt,
                           generate_binary_structure, label)


def load(path, shape):
    dims = list(shape)
    if len(dims) == 3 and dims[2] == 1:
        dims = dims[:2]
    data = numpy.fromfile(path, dtype=numpy.uint8)
    return data.reshape(tuple(reversed(dims)))


def numpy_spacing(spacing, ndim):
    if spacing is None:
        return None
    return tuple(reversed(list(spacing)[:ndim]))


# --- medpy.metric.binary, written from its definitions -------------------------------------


def dc(result, reference):
    result = numpy.atleast_1d(result.astype(bool))
    reference = numpy.atleast_1d(reference.astype(bool))
    intersection = numpy.count_nonzero(result & reference)
    return 2.0 * intersection / float(numpy.count_nonzero(result) + numpy.count_nonzero(reference))


def jc(result, reference):
    result = numpy.atleast_1d(result.astype(bool))
    reference = numpy.atleast_1d(reference.astype(bool))
    intersection = numpy.count_nonzero(result & reference)
    union = numpy.count_nonzero(result | reference)
    return float(intersection) / float(union)


def surface_distances(result, reference, voxelspacing=None, connectivity=1):
    result = numpy.atleast_1d(result.astype(bool))
    reference = numpy.atleast_1d(reference.astype(bool))
    if voxelspacing is not None:
        voxelspacing = numpy.asarray(voxelspacing, dtype=numpy.float64)
    footprint = generate_binary_structure(result.ndim, connectivity)
    if numpy.count_nonzero(result) == 0 or numpy.count_nonzero(reference) == 0:
        raise RuntimeError("empty mask")
    # scipy's default border_value=0: outside the array is background.
    result_border = result ^ binary_erosion(result, structure=footprint, iterations=1)
    reference_border = reference ^ binary_erosion(reference, structure=footprint, iterations=1)
    dt = distance_transform_edt(~reference_border, sampling=voxelspacing)
    return dt[result_border]


def hd95(result, reference, voxelspacing=None):
    hd1 = surface_distances(result, reference, voxelspacing)
    hd2 = surface_distances(reference, result, voxelspacing)
    return numpy.percentile(numpy.hstack((hd1, hd2)), 95)


def asd(result, reference, voxelspacing=None):
    return surface_distances(result, reference, voxelspacing).mean()


def assd(result, reference, voxelspacing=None):
    # Current medpy: mean over the concatenated directed distances.
    return numpy.mean(numpy.hstack((surface_distances(result, reference, voxelspacing),
                                    surface_distances(reference, result, voxelspacing))))


def class_metrics(pred, gt, spacing):
    """Duet's documented empty-mask convention around medpy's definitions."""
    np_, nl = numpy.count_nonzero(pred), numpy.count_nonzero(gt)
    if np_ == 0 and nl == 0:
        return {"dice": 1.0, "jaccard": 1.0, "hd95": 0.0, "asd": 0.0, "assd": 0.0}
    if np_ == 0 or nl == 0:
        return {"dice": 0.0, "jaccard": 0.0, "hd95": 0.0, "asd": 0.0, "assd": 0.0}
    return {"dice": dc(pred, gt), "jaccard": jc(pred, gt), "hd95": float(hd95(pred, gt, spacing)),
            "asd": float(asd(pred, gt, spacing)), "assd": float(assd(pred, gt, spacing))}


# --- connected components ------------------------------------------------------------------


def largest_cc(mask, connectivity):
    """The papers' getLargestCC (skimage.measure.label + argmax of bincount[1:])."""
    labels, count = label(mask, structure=generate_binary_structure(mask.ndim, connectivity))
    if count == 0:
        return numpy.zeros(mask.shape, dtype=bool)
    return labels == numpy.argmax(numpy.bincount(labels.flat)[1:]) + 1


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    out = {"metrics": [], "label": [], "largest_cc": []}
    for case in job.get("metrics", []):
        pred = load(case["pred"], case["shape"])
        gt = load(case["label"], case["shape"])
        spacing = numpy_spacing(case.get("spacing"), pred.ndim)
        out["metrics"].append({str(c): class_metrics(pred == c, gt == c, spacing)
                               for c in case["classes"]})
    for case in job.get("label", []):
        mask = load(case["mask"], case["shape"])
        structure = generate_binary_structure(mask.ndim, case["connectivity"])
        labels, count = label(mask, structure=structure)
        labels.astype(numpy.int32).tofile(case["out"])
        out["label"].append({"count": int(count)})
    for case in job.get("largest_cc", []):
        volume = load(case["mask"], case["shape"])
        result = numpy.zeros(volume.shape, dtype=numpy.uint8)
        for c in case["classes"]:
            result[largest_cc(volume == c, case["connectivity"])] = c
        result.tofile(case["out"])
        out["largest_cc"].append({})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
