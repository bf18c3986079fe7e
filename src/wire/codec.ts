/**
 * Table-driven decoding of request payloads and encoding of reply payloads,
 * mirroring shim/marshal.c. Both sides walk the same generated tables.
 */
import { STRUCTS, type ArgDesc, type FieldDesc, type FunctionDesc, type StructDesc } from '../generated/wire-table';
import { WireFormatError, WireReader, WireWriter } from './bytes';

const MAX_NESTING = 4;

/** How a value arrived: mirrors the shim's value kinds. */
export enum ValueKind {
  Raw = 0,
  Ulong = 1,
  Attrs = 2,
  Mechs = 3,
  Null = 4,
  Malformed = 5,
  Struct = 6,
}

export interface WireAttribute {
  readonly type: number;
  readonly kind: ValueKind;
  /** ulValueLen as the caller gave it. */
  readonly length: number;
  readonly bytes?: Uint8Array;
  readonly ulong?: number;
  readonly attrs?: readonly WireAttribute[];
  readonly mechs?: readonly number[];
}

export interface WireTemplate {
  readonly present: boolean;
  readonly count: number;
  readonly attributes: readonly WireAttribute[];
}

/** One slot of a C_GetAttributeValue template. */
export interface GetSlot {
  readonly type: number;
  readonly kind: ValueKind;
  readonly buffer: boolean;
  readonly capacity: number;
  readonly nested?: readonly GetSlot[];
}

export interface GetTemplate {
  readonly present: boolean;
  readonly count: number;
  readonly slots: readonly GetSlot[];
}

export type FieldValue =
  | number
  | boolean
  | Uint8Array
  | { major: number; minor: number }
  | StructValue
  | StructArray
  | TemplateField
  | ChoiceField
  | OutUlongField
  | null;
export interface StructValue {
  readonly struct: StructDesc;
  readonly fields: Readonly<Record<string, FieldValue>>;
}

/** A struct_array field: the caller's count, and its elements when the pointer is not NULL. */
export interface StructArray {
  readonly form: 'struct_array';
  readonly present: boolean;
  readonly count: number;
  readonly elements: readonly StructValue[];
}

/** A template field (CK_ATTRIBUTE_PTR + count) inside a structure. */
export interface TemplateField {
  readonly form: 'template';
  readonly template: WireTemplate;
}

/** A choice_ptr field: its pointee as a parameter (NULL, raw, wrong size, or the structure its selector names). */
export interface ChoiceField {
  readonly form: 'choice_ptr';
  readonly param: WireParam;
}

/** An out_ulong field: whether the caller gave somewhere to write (a write-back target). */
export interface OutUlongField {
  readonly form: 'out_ulong';
  readonly present: boolean;
}

export interface WireParam {
  readonly kind: ValueKind; // Null, Raw, Struct or Malformed
  readonly length: number;
  readonly bytes?: Uint8Array;
  readonly value?: StructValue;
}

export interface WireMechanism {
  readonly type: number;
  readonly param: WireParam;
}

export interface InitArgs {
  readonly createMutex: boolean;
  readonly destroyMutex: boolean;
  readonly lockMutex: boolean;
  readonly unlockMutex: boolean;
  readonly flags: number;
  readonly reserved: boolean;
}

export type ArgValue =
  | { kind: 'ulong'; value: number }
  | { kind: 'bbool'; value: boolean }
  | { kind: 'in_bytes'; present: boolean; length: number; data: Uint8Array | null }
  | { kind: 'out_bytes'; lengthPtr: boolean; buffer: boolean; capacity: number }
  | { kind: 'out_fixed'; buffer: boolean; length: number }
  | { kind: 'out_ulong'; present: boolean }
  | { kind: 'out_ulongs'; countPtr: boolean; buffer: boolean; capacity: number }
  | { kind: 'out_handle_array'; buffer: boolean; max: number; countPtr: boolean }
  | { kind: 'in_template'; template: WireTemplate }
  | { kind: 'get_template'; template: GetTemplate }
  | { kind: 'mechanism'; mechanism: WireMechanism | null }
  | { kind: 'out_struct'; present: boolean; struct: StructDesc }
  | { kind: 'in_label32'; label: Uint8Array | null }
  | { kind: 'opaque_ptr'; present: boolean }
  | { kind: 'init_args'; args: InitArgs | null }
  | { kind: 'msg_param'; param: WireParam };

// ------------------------------------------------------------------ decode

function readStruct(r: WireReader, struct: StructDesc, depth: number): StructValue {
  const fields: Record<string, FieldValue> = {};
  for (const f of struct.fields) {
    switch (f.form) {
      case 'ulong': fields[f.name] = r.u64(); break;
      case 'bbool': fields[f.name] = r.u8() !== 0; break;
      case 'version': fields[f.name] = { major: r.u8(), minor: r.u8() }; break;
      case 'chars':
      case 'bytes': fields[f.name] = r.bytes(f.size ?? 0); break;
      case 'ptr':
      case 'ptr_bits':
      case 'ptr_fixed': {
        const present = r.u8() !== 0;
        const length = r.u64();
        fields[f.name] = present ? r.bytes(length) : null;
        break;
      }
      case 'struct_ptr': {
        const present = r.u8() !== 0;
        if (present && depth >= MAX_NESTING) throw new WireFormatError('structures nested too deeply');
        fields[f.name] = present ? readStruct(r, STRUCTS[f.struct ?? -1] ?? fail('bad nested struct'), depth + 1) : null;
        break;
      }
      case 'struct_array': {
        const present = r.u8() !== 0;
        const count = r.u64();
        const elements: StructValue[] = [];
        if (present) {
          if (depth >= MAX_NESTING) throw new WireFormatError('structures nested too deeply');
          if (count > r.remaining) throw new WireFormatError('structure count exceeds frame');
          const element = STRUCTS[f.struct ?? -1] ?? fail('bad array struct');
          for (let i = 0; i < count; i++) elements.push(readStruct(r, element, depth + 1));
        }
        fields[f.name] = { form: 'struct_array', present, count, elements };
        break;
      }
      case 'template': {
        const present = r.u8() !== 0;
        const attributes = present ? readAttributes(r, 0) : [];
        fields[f.name] = { form: 'template', template: { present, count: present ? attributes.length : r.u64(), attributes } };
        break;
      }
      case 'choice_ptr': fields[f.name] = { form: 'choice_ptr', param: readParam(r, depth + 1) }; break;
      case 'out_ulong': fields[f.name] = { form: 'out_ulong', present: r.u8() !== 0 }; break;
    }
  }
  return { struct, fields };
}

/** A parameter whose structure, if it is one, sits `depth` structures deep (0 for a mechanism's own). */
function readParam(r: WireReader, depth = 0): WireParam {
  const kind = r.u8() as ValueKind;
  const length = r.u64();
  switch (kind) {
    case ValueKind.Null:
    case ValueKind.Malformed: return { kind, length };
    case ValueKind.Raw: return { kind, length, bytes: r.bytes(length) };
    case ValueKind.Struct: {
      if (depth > MAX_NESTING) throw new WireFormatError('structures nested too deeply');
      const struct = STRUCTS[r.u16()] ?? fail('unknown parameter structure');
      return { kind, length, value: readStruct(r, struct, depth) };
    }
    default: return fail(`bad parameter kind ${kind}`);
  }
}

function readAttributes(r: WireReader, depth: number): WireAttribute[] {
  const count = r.u64();
  if (count > r.remaining) throw new WireFormatError('attribute count exceeds frame');
  const attrs: WireAttribute[] = [];
  for (let i = 0; i < count; i++) {
    const type = r.u64();
    const kind = r.u8() as ValueKind;
    const length = r.u64();
    switch (kind) {
      case ValueKind.Raw: attrs.push({ type, kind, length, bytes: r.bytes(length) }); break;
      case ValueKind.Ulong: attrs.push({ type, kind, length, ulong: r.u64() }); break;
      case ValueKind.Attrs:
        if (depth >= MAX_NESTING) throw new WireFormatError('templates nested too deeply');
        attrs.push({ type, kind, length, attrs: readAttributes(r, depth + 1) });
        break;
      case ValueKind.Mechs: {
        const n = r.u64();
        if (n * 8 > r.remaining) throw new WireFormatError('mechanism count exceeds frame');
        const mechs: number[] = [];
        for (let j = 0; j < n; j++) mechs.push(r.u64());
        attrs.push({ type, kind, length, mechs });
        break;
      }
      case ValueKind.Null:
      case ValueKind.Malformed: attrs.push({ type, kind, length }); break;
      default: throw new WireFormatError(`bad attribute kind ${kind}`);
    }
  }
  return attrs;
}

function readGetSlots(r: WireReader, depth: number): GetSlot[] {
  const count = r.u64();
  if (count > r.remaining) throw new WireFormatError('attribute count exceeds frame');
  const slots: GetSlot[] = [];
  for (let i = 0; i < count; i++) {
    const type = r.u64();
    const kind = r.u8() as ValueKind;
    const buffer = r.u8() !== 0;
    const capacity = r.u64();
    if (kind > ValueKind.Malformed) throw new WireFormatError(`bad slot kind ${kind}`);
    if (kind === ValueKind.Attrs && buffer) {
      if (depth >= MAX_NESTING) throw new WireFormatError('templates nested too deeply');
      slots.push({ type, kind, buffer, capacity, nested: readGetSlots(r, depth + 1) });
    } else {
      slots.push({ type, kind, buffer, capacity });
    }
  }
  return slots;
}

function readArg(r: WireReader, arg: ArgDesc): ArgValue {
  switch (arg.kind) {
    case 'ulong': return { kind: 'ulong', value: r.u64() };
    case 'bbool': return { kind: 'bbool', value: r.u8() !== 0 };
    case 'in_bytes': {
      const present = r.u8() !== 0;
      const length = r.u64();
      return { kind: 'in_bytes', present, length, data: present ? r.bytes(length) : null };
    }
    case 'out_bytes': return { kind: 'out_bytes', lengthPtr: r.u8() !== 0, buffer: r.u8() !== 0, capacity: r.u64() };
    case 'out_fixed': return { kind: 'out_fixed', buffer: r.u8() !== 0, length: r.u64() };
    case 'out_ulong': return { kind: 'out_ulong', present: r.u8() !== 0 };
    case 'out_ulongs': return { kind: 'out_ulongs', countPtr: r.u8() !== 0, buffer: r.u8() !== 0, capacity: r.u64() };
    case 'out_handle_array': return { kind: 'out_handle_array', buffer: r.u8() !== 0, max: r.u64(), countPtr: r.u8() !== 0 };
    case 'in_template': {
      const present = r.u8() !== 0;
      if (!present) return { kind: 'in_template', template: { present, count: r.u64(), attributes: [] } };
      const attributes = readAttributes(r, 0);
      return { kind: 'in_template', template: { present, count: attributes.length, attributes } };
    }
    case 'get_template': {
      const present = r.u8() !== 0;
      if (!present) return { kind: 'get_template', template: { present, count: r.u64(), slots: [] } };
      const slots = readGetSlots(r, 0);
      return { kind: 'get_template', template: { present, count: slots.length, slots } };
    }
    case 'mechanism': {
      if (r.u8() === 0) return { kind: 'mechanism', mechanism: null };
      const type = r.u64();
      return { kind: 'mechanism', mechanism: { type, param: readParam(r) } };
    }
    case 'out_struct': return { kind: 'out_struct', present: r.u8() !== 0, struct: STRUCTS[arg.struct ?? -1] ?? fail('bad struct') };
    case 'in_label32': return { kind: 'in_label32', label: r.u8() !== 0 ? r.bytes(32) : null };
    case 'opaque_ptr': return { kind: 'opaque_ptr', present: r.u8() !== 0 };
    case 'init_args': {
      if (r.u8() === 0) return { kind: 'init_args', args: null };
      return {
        kind: 'init_args',
        args: {
          createMutex: r.u8() !== 0,
          destroyMutex: r.u8() !== 0,
          lockMutex: r.u8() !== 0,
          unlockMutex: r.u8() !== 0,
          flags: r.u64(),
          reserved: r.u8() !== 0,
        },
      };
    }
    case 'msg_param': return { kind: 'msg_param', param: readParam(r) };
  }
}

/** Decodes a request payload into one value per table argument. Throws WireFormatError. */
export function decodeArgs(fn: FunctionDesc, payload: Uint8Array): Map<string, ArgValue> {
  const r = new WireReader(payload);
  const args = new Map<string, ArgValue>();
  for (const arg of fn.args) args.set(arg.name, readArg(r, arg));
  if (r.remaining !== 0) throw new WireFormatError(`${r.remaining} trailing bytes`);
  return args;
}

function fail(message: string): never {
  throw new WireFormatError(message);
}

// ------------------------------------------------------------------ encode

/** Reply actions for out-values; see the shim's decoder. */
export enum Action {
  None = 0,
  Length = 1,
  Data = 2,
}

/** A value written into one C_GetAttributeValue slot. */
export type SlotValue = Uint8Array | number | readonly number[] | readonly SlotReply[];
export interface SlotReply {
  /** Entries of a nested template also tell the caller their attribute type. */
  readonly type?: number;
  /** ulValueLen to write (CK_UNAVAILABLE_INFORMATION is -1). */
  readonly length: number;
  readonly value?: SlotValue;
}

export interface Writeback {
  readonly field: number;
  readonly data: Uint8Array;
}

/**
 * The write-back index of field `field` of `owner`, a structure inside the
 * decoded parameter `root`: fields are counted depth-first, each field and
 * then what it points to (a nested structure, each element of a structure
 * array, a choice_ptr's structure), as the shim's find_inout_field walks them.
 */
export function writebackIndex(root: StructValue, owner: StructValue, field: string): number {
  let index = 0;
  const walk = (s: StructValue): boolean => {
    for (const f of s.struct.fields) {
      if (s === owner && f.name === field) return true;
      index++;
      for (const nested of pointees(f.form, s.fields[f.name] ?? null)) if (walk(nested)) return true;
    }
    return false;
  };
  if (!walk(root) || index > 0xffff) throw new Error(`${owner.struct.name}.${field} cannot be written back`);
  return index;
}

function pointees(form: FieldDesc['form'], v: FieldValue): readonly StructValue[] {
  if (v === null || typeof v !== 'object') return [];
  if (form === 'struct_ptr' && 'fields' in v) return [v];
  if ('form' in v && v.form === 'struct_array') return v.elements;
  if ('form' in v && v.form === 'choice_ptr' && v.param.value) return [v.param.value];
  return [];
}

/** What a write-back into an out_ulong field carries: the value as a u64. */
export function outUlongData(value: number): Uint8Array {
  return new WireWriter(8).u64(value).finish();
}

export type OutValue =
  | { kind: 'out_bytes'; action: Action; length: number; data?: Uint8Array }
  | { kind: 'out_fixed'; data: Uint8Array }
  | { kind: 'out_ulong'; value: number }
  | { kind: 'out_ulongs'; action: Action; values: readonly number[]; count: number }
  | { kind: 'get_template'; slots: readonly SlotReply[] }
  | { kind: 'writebacks'; writes: readonly Writeback[] }
  | { kind: 'out_struct'; struct: StructDesc; values: Readonly<Record<string, number | string | { major: number; minor: number }>> };

function writeSlots(w: WireWriter, slots: readonly SlotReply[], nested = false): void {
  for (const s of slots) {
    if (nested) w.u64(s.type ?? 0);
    w.u64(s.length);
    if (s.value === undefined) {
      w.u8(0);
      continue;
    }
    w.u8(1);
    const v = s.value;
    if (typeof v === 'number') w.u64(v);
    else if (v instanceof Uint8Array) w.bytes(v);
    else if (v.length === 0 || typeof v[0] === 'number') {
      w.u64(v.length);
      for (const m of v as readonly number[]) w.u64(m);
    } else {
      w.u64(v.length);
      writeSlots(w, v as readonly SlotReply[], true);
    }
  }
}

function writeStruct(w: WireWriter, out: Extract<OutValue, { kind: 'out_struct' }>): void {
  w.u8(1);
  for (const f of out.struct.fields) {
    const v = out.values[f.name];
    switch (f.form) {
      case 'ulong': w.u64(typeof v === 'number' ? v : 0); break;
      case 'version': {
        const ver = typeof v === 'object' ? v : { major: 0, minor: 0 };
        w.u8(ver.major).u8(ver.minor);
        break;
      }
      case 'chars': w.bytes(blankPadded(typeof v === 'string' ? v : '', f.size ?? 0)); break;
      default: throw new Error(`out structure field ${f.name} has form ${f.form}`);
    }
  }
}

/** PKCS#11 text fields: UTF-8, padded with blanks, never NUL-terminated. */
export function blankPadded(text: string, size: number): Uint8Array {
  const out = new Uint8Array(size).fill(0x20);
  const bytes = new TextEncoder().encode(text);
  // Cut on a character boundary so the field stays valid UTF-8.
  let n = Math.min(bytes.length, size);
  while (n > 0 && n < bytes.length && ((bytes[n] ?? 0) & 0xc0) === 0x80) n--;
  out.set(bytes.subarray(0, n));
  return out;
}

/**
 * Encodes the reply payload: the CK_RV, then one entry per out-argument in
 * table order. Arguments without an OutValue get "write nothing".
 */
export function encodeReplyPayload(w: WireWriter, fn: FunctionDesc, rv: number, outs: ReadonlyMap<string, OutValue>): void {
  w.u64(rv);
  for (const arg of fn.args) {
    const out = outs.get(arg.name);
    switch (arg.kind) {
      case 'out_bytes':
        if (out?.kind === 'out_bytes') {
          w.u8(out.action).u64(out.length);
          if (out.action === Action.Data && out.data) w.bytes(out.data);
        } else w.u8(Action.None).u64(0);
        break;
      case 'out_fixed':
        if (out?.kind === 'out_fixed') w.u8(Action.Data).u64(out.data.length).bytes(out.data);
        else w.u8(Action.None).u64(0);
        break;
      case 'out_ulong':
        if (out?.kind === 'out_ulong') w.u8(1).u64(out.value);
        else w.u8(0).u64(0);
        break;
      case 'out_ulongs':
      case 'out_handle_array':
        if (out?.kind === 'out_ulongs') {
          w.u8(out.action).u64(out.count);
          if (out.action === Action.Data) for (const v of out.values) w.u64(v);
        } else w.u8(Action.None).u64(0);
        break;
      case 'get_template':
        if (out?.kind === 'get_template') {
          w.u8(1);
          writeSlots(w, out.slots);
        } else w.u8(0);
        break;
      case 'mechanism':
      case 'msg_param': {
        const writes = out?.kind === 'writebacks' ? out.writes : [];
        w.u32(writes.length);
        for (const wb of writes) w.u16(wb.field).u64(wb.data.length).bytes(wb.data);
        break;
      }
      case 'out_struct':
        if (out?.kind === 'out_struct') writeStruct(w, out);
        else w.u8(0);
        break;
      default:
        break;
    }
  }
}
