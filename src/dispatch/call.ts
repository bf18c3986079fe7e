/**
 * One PKCS#11 call as a handler sees it: typed accessors for the decoded
 * arguments (which apply the spec's NULL-pointer rules) and out-values the
 * handler fills. The dispatcher turns both into the reply frame.
 */
import { CKR } from '../generated/constants';
import type { FunctionDesc } from '../generated/wire-table';
import { CkError } from '../ck-error';
import { Action, type ArgValue, type GetTemplate, type InitArgs, type OutValue, type SlotReply, type WireMechanism, type WireParam, type WireTemplate, type Writeback } from '../wire/codec';
import type { CallerAbi } from './caller-abi';

type ArgOf<K extends ArgValue['kind']> = Extract<ArgValue, { kind: K }>;

export class Call {
  /** The CK_RV to return when the handler completes without throwing. */
  rv: number = CKR.CKR_OK;
  readonly outs = new Map<string, OutValue>();

  constructor(
    readonly fn: FunctionDesc,
    readonly iface: number,
    readonly abi: CallerAbi,
    private readonly args: ReadonlyMap<string, ArgValue>,
  ) {}

  private arg<K extends ArgValue['kind']>(name: string, kind: K): ArgOf<K> {
    const a = this.args.get(name);
    if (!a || a.kind !== kind) throw new Error(`${this.fn.name}: no ${kind} argument ${name}`);
    return a as ArgOf<K>;
  }

  ulong(name: string): number {
    return this.arg(name, 'ulong').value;
  }

  bbool(name: string): boolean {
    return this.arg(name, 'bbool').value;
  }

  present(name: string): boolean {
    return this.arg(name, 'opaque_ptr').present;
  }

  /** An input byte buffer; NULL with a non-zero length is CKR_ARGUMENTS_BAD. NULL with zero is empty. */
  inBytes(name: string): Uint8Array {
    const a = this.arg(name, 'in_bytes');
    if (!a.present) {
      if (a.length !== 0) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} is NULL`);
      return new Uint8Array(0);
    }
    return a.data ?? new Uint8Array(0);
  }

  /** An input byte buffer that must not be NULL. */
  requiredBytes(name: string): Uint8Array {
    const a = this.arg(name, 'in_bytes');
    if (!a.present) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} is NULL`);
    return a.data ?? new Uint8Array(0);
  }

  /** Whether an input pointer was NULL (for PINs that a protected path may omit). */
  isNull(name: string): boolean {
    return !this.arg(name, 'in_bytes').present;
  }

  label32(name: string): Uint8Array {
    const label = this.arg(name, 'in_label32').label;
    if (!label) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} is NULL`);
    return label;
  }

  initArgs(name: string): InitArgs | null {
    return this.arg(name, 'init_args').args;
  }

  /** An input template; a NULL pointer is allowed only with a zero count. */
  template(name: string): WireTemplate {
    const t = this.arg(name, 'in_template').template;
    if (!t.present && t.count !== 0) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} is NULL`);
    return t;
  }

  getTemplate(name: string): GetTemplate {
    const t = this.arg(name, 'get_template').template;
    if (!t.present && t.count !== 0) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} is NULL`);
    return t;
  }

  mechanism(name: string): WireMechanism {
    const m = this.arg(name, 'mechanism').mechanism;
    if (!m) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} is NULL`);
    return m;
  }

  /** A mechanism that may be NULL: the *Init functions take NULL to end their operation. */
  optionalMechanism(name: string): WireMechanism | null {
    return this.arg(name, 'mechanism').mechanism ?? null;
  }

  messageParam(name: string): WireParam {
    return this.arg(name, 'msg_param').param;
  }

  /** Writes one CK_ULONG out-value; a NULL pointer is CKR_ARGUMENTS_BAD. */
  checkOutUlong(name: string): void {
    if (!this.arg(name, 'out_ulong').present) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} is NULL`);
  }

  setUlong(name: string, value: number): void {
    this.checkOutUlong(name);
    this.outs.set(name, { kind: 'out_ulong', value });
  }

  /** Fills a structure out-value (C_GetInfo and friends). */
  checkOutStruct(name: string): void {
    if (!this.arg(name, 'out_struct').present) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} is NULL`);
  }

  setStruct(name: string, values: Record<string, number | string | { major: number; minor: number }>): void {
    const a = this.arg(name, 'out_struct');
    this.checkOutStruct(name);
    this.outs.set(name, { kind: 'out_struct', struct: a.struct, values });
  }

  /** A caller-sized output buffer (pBuf, pulLen); see OutBytes. */
  outBytes(name: string): OutBytes {
    const a = this.arg(name, 'out_bytes');
    if (!a.lengthPtr) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} length pointer is NULL`);
    return new OutBytes(this, name, a.buffer, a.capacity);
  }

  /** A fixed-length output buffer (C_GenerateRandom). */
  outFixed(name: string): { length: number; write(data: Uint8Array): void } {
    const a = this.arg(name, 'out_fixed');
    if (!a.buffer && a.length !== 0) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} is NULL`);
    return { length: a.length, write: (data) => this.outs.set(name, { kind: 'out_fixed', data }) };
  }

  /**
   * A caller-sized CK_ULONG array (C_GetSlotList, C_GetMechanismList): a NULL
   * array asks for the count; too small an array gets CKR_BUFFER_TOO_SMALL.
   */
  setUlongList(name: string, values: readonly number[]): void {
    const a = this.arg(name, 'out_ulongs');
    if (!a.countPtr) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} count pointer is NULL`);
    if (!a.buffer) {
      this.outs.set(name, { kind: 'out_ulongs', action: Action.Length, count: values.length, values: [] });
    } else if (a.capacity < values.length) {
      this.outs.set(name, { kind: 'out_ulongs', action: Action.Length, count: values.length, values: [] });
      this.rv = CKR.CKR_BUFFER_TOO_SMALL;
    } else {
      this.outs.set(name, { kind: 'out_ulongs', action: Action.Data, count: values.length, values });
    }
  }

  /** C_FindObjects' (array, max, count) triple. */
  handleArray(name: string): { max: number; write(handles: readonly number[]): void } {
    const a = this.arg(name, 'out_handle_array');
    if (!a.countPtr || (!a.buffer && a.max !== 0)) throw new CkError(CKR.CKR_ARGUMENTS_BAD, `${name} is NULL`);
    return {
      max: a.max,
      write: (handles) => this.outs.set(name, { kind: 'out_ulongs', action: Action.Data, count: handles.length, values: handles }),
    };
  }

  setSlots(name: string, slots: readonly SlotReply[]): void {
    this.outs.set(name, { kind: 'get_template', slots });
  }

  setWritebacks(name: string, writes: readonly Writeback[]): void {
    this.outs.set(name, { kind: 'writebacks', writes });
  }
}

/**
 * The PKCS#11 output-buffer convention in one place: a NULL buffer asks for
 * the length and keeps the operation going; too small a buffer gets
 * CKR_BUFFER_TOO_SMALL with the length, and also keeps it going.
 */
export class OutBytes {
  constructor(
    private readonly call: Call,
    private readonly name: string,
    private readonly buffer: boolean,
    private readonly capacity: number,
  ) {}

  /** True if `length` bytes can be written now; otherwise the reply already says why not. */
  accepts(length: number): boolean {
    if (!this.buffer) {
      this.call.outs.set(this.name, { kind: 'out_bytes', action: Action.Length, length });
      return false;
    }
    if (this.capacity < length) {
      this.call.outs.set(this.name, { kind: 'out_bytes', action: Action.Length, length });
      this.call.rv = CKR.CKR_BUFFER_TOO_SMALL;
      return false;
    }
    return true;
  }

  write(data: Uint8Array): void {
    if (data.length > this.capacity) throw new Error(`${this.name}: wrote more than accepted`);
    this.call.outs.set(this.name, { kind: 'out_bytes', action: Action.Data, length: data.length, data });
  }
}
