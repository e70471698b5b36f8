/**
 * A Duet model's integrity record: the sha256 of its ONNX graph (nodes and weights) in the
 * metadata property `duet.graph_sha256`. It is appended after export, as one more metadata
 * entry (ModelProto's field 14 repeats, so the graph's bytes stay as they were), and every
 * reader (predict, the export stage's own check) compares it, so a damaged model.onnx is
 * exit 65 instead of all-background masks.
 */
import { ProtoWriter } from "../engine/onnx/protobuf.ts";
import { sha256 } from "../pipeline/digest.ts";
import { type OnnxHeader, readOnnxHeader } from "../engine/onnx/proto_reader.ts";

export const GRAPH_DIGEST_KEY = "duet.graph_sha256";

/** The model bytes with the graph's digest recorded in their metadata. */
export function withGraphDigest(bytes: Uint8Array): Uint8Array {
  const entry = new ProtoWriter().string(1, GRAPH_DIGEST_KEY).string(
    2,
    sha256(readOnnxHeader(bytes).graph),
  );
  const field = new ProtoWriter().message(14, entry).finish();
  const out = new Uint8Array(bytes.length + field.length);
  out.set(bytes);
  out.set(field, bytes.length);
  return out;
}

/**
 * Why the graph does not match its recorded digest, or undefined; undefined also when no digest
 * is recorded (models exported before it), which cannot be checked.
 */
export function graphDigestProblem(header: OnnxHeader): string | undefined {
  const recorded = header.metadata[GRAPH_DIGEST_KEY];
  if (recorded === undefined) return undefined;
  const actual = sha256(header.graph);
  return actual === recorded ? undefined : `the graph's sha256 ${actual.slice(0, 12)}… does not ` +
    `match ${GRAPH_DIGEST_KEY} ${recorded.slice(0, 12)}…: the file is damaged`;
}
