/** Reading mechanism parameters as the shim delivers them (docs/ARCHITECTURE.md, "Parameter"). */
import { CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import { ValueKind, type FieldValue, type StructValue, type WireAttribute, type WireParam } from '../wire/codec';

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

type FormField<F> = Extract<FieldValue, { form: F }>;

function formField<F extends string>(fields: Fields, name: string, form: F): FormField<F> {
  const v = fields[name];
  if (v === null || v === undefined || typeof v !== 'object' || !('form' in v) || v.form !== form) return invalid(`${name} missing`);
  return v as FormField<F>;
}

/** A structure-array field's elements; a NULL array with a non-zero count is CKR_ARGUMENTS_BAD, as for C_* arguments. */
export function structArrayField(fields: Fields, name: string, element: string): readonly StructValue[] {
  const v = formField(fields, name, 'struct_array');
  if (!v.present && v.count !== 0) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} is NULL`);
  if (v.elements.some((e) => e.struct.name !== element)) return invalid(`${name} must hold ${element} structures`);
  return v.elements;
}

/** A template field's attributes; NULL with a non-zero count is CKR_ARGUMENTS_BAD. */
export function templateField(fields: Fields, name: string): readonly WireAttribute[] {
  const t = formField(fields, name, 'template').template;
  if (!t.present && t.count !== 0) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} is NULL`);
  return t.attributes;
}

/** A choice_ptr field's pointee, read like a mechanism parameter. */
export function choiceField(fields: Fields, name: string): WireParam {
  return formField(fields, name, 'choice_ptr').param;
}

/** Checks that an out_ulong field (a CK_OBJECT_HANDLE_PTR) can be written: NULL is CKR_ARGUMENTS_BAD. */
export function checkOutUlongField(fields: Fields, name: string): void {
  if (!formField(fields, name, 'out_ulong').present) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} is NULL`);
}
