/** Reading mechanism parameters as the shim delivers them (docs/ARCHITECTURE.md, "Parameter"). */
import { CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import { ValueKind, type FieldValue, type WireParam } from '../wire/codec';

const invalid = (why: string): never => {
  throw new CkError(CKR.CKR_MECHANISM_PARAM_INVALID, why);
};

/** The mechanism takes no parameter. */
export function noParam(param: WireParam): void {
  require(param.kind === ValueKind.Null || param.length === 0, CKR.CKR_MECHANISM_PARAM_INVALID, 'this mechanism takes no parameter');
}

/** A parameter that is a plain byte string (an IV). */
export function rawParam(param: WireParam, lengths?: readonly number[]): Uint8Array {
  if (param.kind !== ValueKind.Raw || !param.bytes) return invalid('a byte-string parameter is required');
  if (lengths && !lengths.includes(param.bytes.length)) return invalid(`the parameter must be ${lengths.join(' or ')} bytes`);
  return param.bytes;
}

/** A parameter that is the named C structure; gives its fields. */
export function structParam(param: WireParam, name: string): Fields {
  if (param.kind !== ValueKind.Struct || !param.value || param.value.struct.name !== name) return invalid(`a ${name} parameter is required`);
  return param.value.fields;
}

/** The fields of a structure parameter, by C field name. */
export type Fields = Readonly<Record<string, FieldValue>>;

export function boolField(fields: Fields, name: string): boolean {
  const v = fields[name];
  return typeof v === 'boolean' ? v : invalid(`${name} missing`);
}

export function ulongField(fields: Fields, name: string): number {
  const v = fields[name];
  return typeof v === 'number' ? v : invalid(`${name} missing`);
}

/** A pointer field; NULL reads as empty, which is what the spec means by a zero-length value. */
export function bytesField(fields: Fields, name: string): Uint8Array {
  const v = fields[name];
  if (v === null) return new Uint8Array(0);
  return v instanceof Uint8Array ? v : invalid(`${name} missing`);
}
