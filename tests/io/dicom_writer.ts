/**
 * A minimal DICOM Part 10 writer for tests: one grey slice per file, uncompressed, in explicit
 * VR little/big endian or implicit VR little endian. Just enough tags for a series reader.
 */
export interface DicomSliceSpec {
  rows: number;
  columns: number;
  /** Stored values, row-major (x fastest). */
  pixels: Int16Array | Uint16Array | Uint8Array;
  position?: [number, number, number];
  orientation?: [number, number, number, number, number, number];
  pixelSpacing?: [number, number];
  slope?: number;
  intercept?: number;
  instance?: number;
  seriesUid?: string;
  transferSyntax?: string;
}

type El = { group: number; element: number; vr: string; value: Uint8Array };

const text = (s: string, pad = " ") => {
  const b = new TextEncoder().encode(s.length % 2 ? s + pad : s);
  return b;
};
const u16 = (v: number, le: boolean) => {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, le);
  return b;
};

function encodeElements(els: El[], explicit: boolean, le: boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of els.sort((a, b) => a.group - b.group || a.element - b.element)) {
    const long = ["OB", "OW", "OF", "SQ", "UT", "UN"].includes(e.vr);
    const head = new Uint8Array(explicit ? (long ? 12 : 8) : 8);
    const dv = new DataView(head.buffer);
    dv.setUint16(0, e.group, le);
    dv.setUint16(2, e.element, le);
    if (!explicit) dv.setUint32(4, e.value.length, le);
    else {
      head[4] = e.vr.charCodeAt(0);
      head[5] = e.vr.charCodeAt(1);
      if (long) dv.setUint32(8, e.value.length, le);
      else dv.setUint16(6, e.value.length, le);
    }
    parts.push(head, e.value);
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function encodeDicomSlice(s: DicomSliceSpec): Uint8Array {
  const ts = s.transferSyntax ?? "1.2.840.10008.1.2.1";
  const le = ts !== "1.2.840.10008.1.2.2";
  const explicit = ts !== "1.2.840.10008.1.2";
  const meta = encodeElements(
    [
      { group: 2, element: 1, vr: "OB", value: new Uint8Array([0, 1]) },
      { group: 2, element: 2, vr: "UI", value: text("1.2.840.10008.5.1.4.1.1.4", "\0") },
      { group: 2, element: 3, vr: "UI", value: text(`1.2.3.4.${s.instance ?? 1}`, "\0") },
      { group: 2, element: 0x10, vr: "UI", value: text(ts, "\0") },
    ],
    true,
    true,
  );
  const groupLength = encodeElements(
    [
      {
        group: 2,
        element: 0,
        vr: "UL",
        value: new Uint8Array(new Uint32Array([meta.length]).buffer),
      },
    ],
    true,
    true,
  );
  const bits = s.pixels instanceof Uint8Array ? 8 : 16;
  const pix = new Uint8Array(s.pixels.length * (bits / 8));
  const dv = new DataView(pix.buffer);
  for (let i = 0; i < s.pixels.length; i++) {
    if (bits === 8) pix[i] = s.pixels[i];
    else if (s.pixels instanceof Int16Array) dv.setInt16(2 * i, s.pixels[i], le);
    else dv.setUint16(2 * i, s.pixels[i], le);
  }
  const ds = (v: number[]) => text(v.map((x) => String(x)).join("\\"));
  const els: El[] = [
    { group: 0x20, element: 0x0e, vr: "UI", value: text(s.seriesUid ?? "1.2.3.99", "\0") },
    { group: 0x20, element: 0x13, vr: "IS", value: text(String(s.instance ?? 1)) },
    { group: 0x28, element: 0x02, vr: "US", value: u16(1, le) },
    { group: 0x28, element: 0x10, vr: "US", value: u16(s.rows, le) },
    { group: 0x28, element: 0x11, vr: "US", value: u16(s.columns, le) },
    { group: 0x28, element: 0x100, vr: "US", value: u16(bits, le) },
    { group: 0x28, element: 0x101, vr: "US", value: u16(bits, le) },
    { group: 0x28, element: 0x102, vr: "US", value: u16(bits - 1, le) },
    {
      group: 0x28,
      element: 0x103,
      vr: "US",
      value: u16(s.pixels instanceof Int16Array ? 1 : 0, le),
    },
    { group: 0x7fe0, element: 0x10, vr: bits === 8 ? "OB" : "OW", value: pix },
  ];
  if (s.position) els.push({ group: 0x20, element: 0x32, vr: "DS", value: ds(s.position) });
  if (s.orientation) els.push({ group: 0x20, element: 0x37, vr: "DS", value: ds(s.orientation) });
  if (s.pixelSpacing) els.push({ group: 0x28, element: 0x30, vr: "DS", value: ds(s.pixelSpacing) });
  if (s.intercept !== undefined) {
    els.push({ group: 0x28, element: 0x1052, vr: "DS", value: ds([s.intercept]) });
  }
  if (s.slope !== undefined) {
    els.push({ group: 0x28, element: 0x1053, vr: "DS", value: ds([s.slope]) });
  }
  const body = encodeElements(els, explicit, le);
  const out = new Uint8Array(132 + groupLength.length + meta.length + body.length);
  out.set(new TextEncoder().encode("DICM"), 128);
  out.set(groupLength, 132);
  out.set(meta, 132 + groupLength.length);
  out.set(body, 132 + groupLength.length + meta.length);
  return out;
}
