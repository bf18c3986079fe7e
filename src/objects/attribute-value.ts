/**
 * Attribute values inside the module, independent of the caller's C ABI:
 * CK_ULONG values are numbers, CK_BBOOL booleans, byte strings Uint8Arrays,
 * nested templates AttributeMaps and mechanism arrays number arrays.
 */
import { ATTRIBUTE_KINDS, CKR, type AttributeKind } from '../generated/constants';
import { CkError } from '../ck-error';
import { ValueKind, type WireAttribute } from '../wire/codec';
import type { CallerAbi } from '../dispatch/caller-abi';

export type AttributeValue = number | boolean | Uint8Array | readonly number[] | AttributeMap;
export type AttributeMap = Map<number, AttributeValue>;

export const UNAVAILABLE = -1; // CK_UNAVAILABLE_INFORMATION on the wire

export function attributeKind(type: number): AttributeKind | undefined {
  return ATTRIBUTE_KINDS.get(type);
}

/** Converts one attribute from a caller's template, checking its value against its kind. */
export function fromWire(a: WireAttribute, depth = 0): AttributeValue {
  const kind = attributeKind(a.type);
  if (kind === undefined) throw new CkError(CKR.CKR_ATTRIBUTE_TYPE_INVALID, `unknown attribute 0x${a.type.toString(16)}`);
  const invalid = (why: string): never => {
    throw new CkError(CKR.CKR_ATTRIBUTE_VALUE_INVALID, `attribute 0x${a.type.toString(16)}: ${why}`);
  };
  if (a.kind === ValueKind.Null) {
    if (a.length !== 0) invalid('NULL value with a non-zero length');
    if (kind === 'bytes' || kind === 'string' || kind === 'bigint' || kind === 'date') return new Uint8Array(0);
    if (kind === 'attrs') return new Map();
    if (kind === 'mechs') return [];
    return invalid('NULL value');
  }
  switch (kind) {
    case 'ulong':
      if (a.kind !== ValueKind.Ulong || a.ulong === undefined) return invalid('not a CK_ULONG');
      return a.ulong;
    case 'bool': {
      const b = a.bytes;
      if (a.kind !== ValueKind.Raw || !b || b.length !== 1) return invalid('not a CK_BBOOL');
      return b[0] !== 0;
    }
    case 'date': {
      const b = a.bytes;
      if (a.kind !== ValueKind.Raw || !b || (b.length !== 8 && b.length !== 0)) return invalid('not a CK_DATE');
      if (b.length === 8 && !b.every((c) => c >= 0x30 && c <= 0x39)) return invalid('CK_DATE must be digits');
      return b;
    }
    case 'mechs':
      if (a.kind !== ValueKind.Mechs || !a.mechs) return invalid('not a CK_MECHANISM_TYPE array');
      return [...a.mechs];
    case 'attrs': {
      if (a.kind !== ValueKind.Attrs || !a.attrs || depth > 2) return invalid('not a CK_ATTRIBUTE array');
      const map: AttributeMap = new Map();
      for (const inner of a.attrs) addUnique(map, inner.type, fromWire(inner, depth + 1));
      return map;
    }
    default:
      if (a.kind !== ValueKind.Raw || !a.bytes) return invalid('not a byte array');
      return a.bytes;
  }
}

/** Adds a template entry; the same type twice with different values is inconsistent. */
export function addUnique(map: AttributeMap, type: number, value: AttributeValue): void {
  const existing = map.get(type);
  if (existing !== undefined && !valuesEqual(existing, value)) {
    throw new CkError(CKR.CKR_TEMPLATE_INCONSISTENT, `attribute 0x${type.toString(16)} given twice`);
  }
  map.set(type, value);
}

export function templateFromWire(attrs: readonly WireAttribute[]): AttributeMap {
  const map: AttributeMap = new Map();
  for (const a of attrs) addUnique(map, a.type, fromWire(a));
  return map;
}

export function valuesEqual(a: AttributeValue, b: AttributeValue): boolean {
  return encodeValue(a) === encodeValue(b);
}

/** The size of a value in the caller's units, as C_GetAttributeValue reports it. */
export function callerLength(value: AttributeValue, abi: CallerAbi): number {
  if (typeof value === 'number') return abi.ulongSize;
  if (typeof value === 'boolean') return 1;
  if (value instanceof Uint8Array) return value.length;
  if (value instanceof Map) return value.size * abi.attributeSize;
  return value.length * abi.ulongSize;
}

/** The value to put in a C_GetAttributeValue slot whose buffer is big enough. */
export function toSlotValue(value: AttributeValue): number | Uint8Array | readonly number[] {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return Uint8Array.of(value ? 1 : 0);
  if (value instanceof Uint8Array) return value;
  if (value instanceof Map) throw new Error('nested templates are written slot by slot');
  return value;
}

// --------------------------------------------------------------- persistence

/** A stable text form, used for equality and for the token store. */
export function encodeValue(value: AttributeValue): string {
  return JSON.stringify(toJson(value));
}

export type JsonValue = { u: number } | { b: boolean } | { x: string } | { m: number[] } | { a: [number, JsonValue][] };

export function toJson(value: AttributeValue): JsonValue {
  if (typeof value === 'number') return { u: value };
  if (typeof value === 'boolean') return { b: value };
  if (value instanceof Uint8Array) return { x: Buffer.from(value).toString('hex') };
  if (value instanceof Map) return { a: [...value.entries()].sort((p, q) => p[0] - q[0]).map(([t, v]) => [t, toJson(v)]) };
  return { m: [...value] };
}

export function fromJson(json: JsonValue): AttributeValue {
  if ('u' in json) return json.u;
  if ('b' in json) return json.b;
  if ('x' in json) return new Uint8Array(Buffer.from(json.x, 'hex'));
  if ('m' in json) return [...json.m];
  return new Map(json.a.map(([t, v]) => [t, fromJson(v)]));
}
