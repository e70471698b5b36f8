// Painting on one label slice (w*h values, x fastest): the brush disk, strokes, fill and undo.
// No DOM here, so tests run it in Deno and can predict every painted voxel.

/**
 * Sets every voxel of the disk of `radius` around (cx, cy) to `value`: offsets with
 * dx² + dy² <= r² + r (radius 0 is one voxel, 1 a 3x3 square, 2 a 5x5 without corners).
 * @param {Uint8Array} buf
 * @param {number} w
 * @param {number} h
 * @param {number} cx
 * @param {number} cy
 * @param {number} radius
 * @param {number} value
 */
export function stampDisk(buf, w, h, cx, cy, radius, value) {
  const r2 = radius * radius + radius;
  for (let dy = -radius; dy <= radius; dy++) {
    const y = cy + dy;
    if (y < 0 || y >= h) continue;
    for (let dx = -radius; dx <= radius; dx++) {
      const x = cx + dx;
      if (x < 0 || x >= w || dx * dx + dy * dy > r2) continue;
      buf[x + w * y] = value;
    }
  }
}

/**
 * The brush dragged from (x0, y0) to (x1, y1): a disk at every voxel of the line between them
 * (mouse events are sparse; the stroke must not have gaps).
 * @param {Uint8Array} buf
 * @param {number} w
 * @param {number} h
 * @param {number} x0
 * @param {number} y0
 * @param {number} x1
 * @param {number} y1
 * @param {number} radius
 * @param {number} value
 */
export function strokeLine(buf, w, h, x0, y0, x1, y1, radius, value) {
  const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0));
  for (let s = 0; s <= steps; s++) {
    const t = steps === 0 ? 0 : s / steps;
    stampDisk(
      buf,
      w,
      h,
      Math.round(x0 + (x1 - x0) * t),
      Math.round(y0 + (y1 - y0) * t),
      radius,
      value,
    );
  }
}

/**
 * Paint-bucket: the 4-connected region of voxels equal to the one at (x, y) becomes `value`
 * (outline a structure with the brush, then fill its inside). Returns the voxels changed.
 * @param {Uint8Array} buf
 * @param {number} w
 * @param {number} h
 * @param {number} x
 * @param {number} y
 * @param {number} value
 * @returns {number}
 */
export function floodFill(buf, w, h, x, y, value) {
  if (x < 0 || y < 0 || x >= w || y >= h) return 0;
  const target = buf[x + w * y];
  if (target === value) return 0;
  const stack = [x + w * y];
  buf[x + w * y] = value;
  let changed = 1;
  while (stack.length > 0) {
    const i = /** @type {number} */ (stack.pop());
    const px = i % w;
    const next = [
      px > 0 ? i - 1 : -1,
      px < w - 1 ? i + 1 : -1,
      i >= w ? i - w : -1,
      i + w < w * h ? i + w : -1,
    ];
    for (const j of next) {
      if (j >= 0 && buf[j] === target) {
        buf[j] = value;
        changed++;
        stack.push(j);
      }
    }
  }
  return changed;
}

/** Undo snapshots of one slice, newest last, at most `limit`. */
export class History {
  /** @param {number} limit */
  constructor(limit = 100) {
    /** @type {Uint8Array[]} */
    this.snapshots = [];
    this.limit = limit;
  }

  /** Remembers the slice as it is before an edit. @param {Uint8Array} buf */
  push(buf) {
    this.snapshots.push(buf.slice());
    if (this.snapshots.length > this.limit) this.snapshots.shift();
  }

  /** Restores the last snapshot into `buf`; false when there is none. @param {Uint8Array} buf */
  undo(buf) {
    const last = this.snapshots.pop();
    if (!last) return false;
    buf.set(last);
    return true;
  }
}
