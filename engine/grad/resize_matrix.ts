/**
 * The interpolation matrix of ONNX Resize along one axis (onnxruntime semantics: source
 * coordinates clamped to [0, in-1]). Entry [i, j] is the weight of input i in output j.
 */
export function resizeMatrix(
  inN: number,
  outN: number,
  scale: number,
  mode: string,
  coordinateTransform: string,
  transposed = false,
): Float32Array {
  const mat = new Float32Array(inN * outN);
  const put = (i: number, j: number, w: number) => {
    mat[transposed ? j * inN + i : i * outN + j] += w;
  };
  for (let j = 0; j < outN; j++) {
    let src: number;
    switch (coordinateTransform) {
      case "asymmetric":
        src = j / scale;
        break;
      case "align_corners":
        src = outN === 1 ? 0 : (j * (inN - 1)) / (outN - 1);
        break;
      case "pytorch_half_pixel":
        src = outN > 1 ? (j + 0.5) / scale - 0.5 : 0;
        break;
      case "half_pixel":
        src = (j + 0.5) / scale - 0.5;
        break;
      default:
        throw new Error(`Resize gradient: coordinate transform ${coordinateTransform}`);
    }
    if (mode === "nearest") {
      put(Math.min(Math.max(Math.floor(src), 0), inN - 1), j, 1);
    } else if (mode === "linear") {
      const x = Math.min(Math.max(src, 0), inN - 1);
      const i0 = Math.floor(x);
      const i1 = Math.min(i0 + 1, inN - 1);
      const w1 = x - i0;
      put(i0, j, 1 - w1);
      if (w1 > 0) put(i1, j, w1);
    } else {
      throw new Error(`Resize gradient: mode ${mode}`);
    }
  }
  return mat;
}
