/**
 * Artifact names made from case IDs. An artifact name is a store key and a file name, so it
 * keeps to [A-Za-z0-9._-] and '%': every other character of an ID (a space, a non-ASCII letter,
 * a '/') becomes '%XX' per UTF-8 byte, '%' itself included. One-to-one, so two IDs never share
 * an artifact, and the identity on the IDs datasets usually have (case_001, la-12, patient.3),
 * so their artifacts (and every stage key downstream) keep their names.
 */
const KEEP = /[A-Za-z0-9._-]/;

export function encodeIdForName(id: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(id)) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && KEEP.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The artifact `<kind>-<encoded ID><extension>`, e.g. caseArtifact("slices", "c 2", ".bin"). */
export const caseArtifact = (kind: string, id: string, extension: string) =>
  `${kind}-${encodeIdForName(id)}${extension}`;
