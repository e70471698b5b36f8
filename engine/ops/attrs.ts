/** Shorthands for ONNX attribute values. */
import type { AttrValue } from "../onnx/model.ts";

export const int = (value: number): AttrValue => ({ kind: "int", value });
export const ints = (value: readonly number[]): AttrValue => ({ kind: "ints", value });
export const float = (value: number): AttrValue => ({ kind: "float", value });
export const floats = (value: readonly number[]): AttrValue => ({ kind: "floats", value });
export const str = (value: string): AttrValue => ({ kind: "string", value });

export function getInts(attrs: Readonly<Record<string, AttrValue>>, key: string): number[] {
  const a = attrs[key];
  if (!a) return [];
  if (a.kind !== "ints") throw new Error(`attribute ${key} is not ints`);
  return [...a.value];
}

export function getInt(attrs: Readonly<Record<string, AttrValue>>, key: string, dflt: number) {
  const a = attrs[key];
  if (!a) return dflt;
  if (a.kind !== "int") throw new Error(`attribute ${key} is not int`);
  return a.value;
}

export function getFloat(attrs: Readonly<Record<string, AttrValue>>, key: string, dflt: number) {
  const a = attrs[key];
  if (!a) return dflt;
  if (a.kind !== "float") throw new Error(`attribute ${key} is not float`);
  return a.value;
}

export function getStr(attrs: Readonly<Record<string, AttrValue>>, key: string, dflt: string) {
  const a = attrs[key];
  if (!a) return dflt;
  if (a.kind !== "string") throw new Error(`attribute ${key} is not a string`);
  return a.value;
}
