/**
 * Fuzzes the runtime's request decoding. For every function in FUNCTIONS it
 * encodes valid request frames (the way shim/marshal.c does), then random
 * and mutated variants of them, and checks that
 *  - decodeArgs either succeeds or throws WireFormatError, never anything else;
 *  - Dispatcher.handle never throws or rejects, and answers a frame with a valid header
 *    with a reply frame carrying the same request id and function.
 * Deterministic: a seeded PRNG, so a failure names a reproducible case.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FUNCTIONS, STRUCTS, type ArgDesc, type FunctionDesc, type StructDesc } from '../../src/generated/wire-table';
import { WireFormatError, WireWriter } from '../../src/wire/bytes';
import { decodeArgs, ValueKind } from '../../src/wire/codec';
import { FRAME_REPLY, FRAME_REQUEST, HEADER_SIZE, WIRE_MAGIC, WIRE_VERSION, parseHeader } from '../../src/wire/frame';
import { createDispatcher } from '../../src/functions';
import { CratonModule } from '../../src/module/module';
import type { Dispatcher } from '../../src/dispatch/dispatcher';

// ------------------------------------------------------------------ PRNG

class Rng {
  constructor(private s: number) {}
  next(): number {
    // mulberry32
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.below(256);
    return b;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.below(xs.length)] as T;
  }
}

// ------------------------------------------- request encoder (as marshal.c)

const ULONG_ATTRS = [0x0, 0x100, 0x161]; // CKA_CLASS, CKA_KEY_TYPE, CKA_VALUE_LEN
const RAW_ATTRS = [0x3, 0x11, 0x102]; // CKA_LABEL, CKA_VALUE, CKA_ID
const ATTRS_ATTRS = [0x40000211, 0x40000212]; // CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE
const MECHS_ATTRS = [0x40000600]; // CKA_ALLOWED_MECHANISMS
const MECHANISMS = [0x250 /* SHA256 */, 0x220 /* SHA_1 */, 0x1087 /* AES_GCM */, 0x0d /* RSA_PKCS_PSS */, 0x1082 /* AES_CBC */];

function writeStruct(w: WireWriter, s: StructDesc, rng: Rng, depth: number): void {
  for (const f of s.fields) {
    switch (f.form) {
      case 'ulong': w.u64(rng.below(64)); break;
      case 'bbool': w.u8(rng.below(2)); break;
      case 'version': w.u8(rng.below(4)).u8(rng.below(50)); break;
      case 'chars':
      case 'bytes': w.bytes(rng.bytes(f.size ?? 0)); break;
      case 'ptr':
      case 'ptr_bits':
      case 'ptr_fixed': {
        const present = rng.chance(0.8);
        const n = f.form === 'ptr_fixed' ? (f.size ?? 0) : rng.below(24);
        w.u8(present ? 1 : 0).u64(n);
        if (present) w.bytes(rng.bytes(n));
        break;
      }
      case 'struct_ptr': {
        const nested = STRUCTS[f.struct ?? -1];
        const present = depth < 3 && nested !== undefined && rng.chance(0.7);
        w.u8(present ? 1 : 0);
        if (present && nested) writeStruct(w, nested, rng, depth + 1);
        break;
      }
      case 'struct_array': {
        const element = STRUCTS[f.struct ?? -1];
        const present = depth < 3 && element !== undefined && rng.chance(0.7);
        const count = rng.below(3);
        w.u8(present ? 1 : 0).u64(count);
        if (present && element) for (let i = 0; i < count; i++) writeStruct(w, element, rng, depth + 1);
        break;
      }
      case 'template': {
        const present = rng.chance(0.8);
        w.u8(present ? 1 : 0);
        if (present) writeTemplate(w, rng, 0);
        else w.u64(rng.below(3));
        break;
      }
      case 'choice_ptr': writeParam(w, rng, depth + 1); break;
      case 'out_ulong': w.u8(rng.below(2)); break;
    }
  }
}

/** A parameter; one nested `depth` structures deep is a structure only while nesting allows. */
function writeParam(w: WireWriter, rng: Rng, depth = 0): void {
  const choice = rng.below(depth < 3 ? 4 : 3);
  if (choice === 0) {
    w.u8(ValueKind.Null).u64(0);
  } else if (choice === 1) {
    const n = rng.below(32);
    w.u8(ValueKind.Raw).u64(n).bytes(rng.bytes(n));
  } else if (choice === 2) {
    w.u8(ValueKind.Malformed).u64(rng.below(100));
  } else {
    const s = rng.pick(STRUCTS.filter((x) => x.role === 'param'));
    w.u8(ValueKind.Struct).u64(8 * s.fields.length).u16(s.id);
    writeStruct(w, s, rng, depth);
  }
}

function writeTemplate(w: WireWriter, rng: Rng, depth: number): void {
  const count = rng.below(4);
  w.u64(count);
  for (let i = 0; i < count; i++) {
    const kind = rng.below(depth < 2 ? 6 : 5);
    switch (kind) {
      case 0: w.u64(rng.pick(ULONG_ATTRS)).u8(ValueKind.Ulong).u64(8).u64(rng.below(8)); break;
      case 1: {
        const n = rng.below(20);
        w.u64(rng.pick(RAW_ATTRS)).u8(ValueKind.Raw).u64(n).bytes(rng.bytes(n));
        break;
      }
      case 2: {
        const n = rng.below(4);
        w.u64(rng.pick(MECHS_ATTRS)).u8(ValueKind.Mechs).u64(8 * n).u64(n);
        for (let j = 0; j < n; j++) w.u64(rng.pick(MECHANISMS));
        break;
      }
      case 3: w.u64(rng.pick(RAW_ATTRS)).u8(ValueKind.Null).u64(rng.below(16)); break;
      case 4: w.u64(rng.pick(ULONG_ATTRS)).u8(ValueKind.Malformed).u64(rng.below(16)); break;
      default:
        w.u64(rng.pick(ATTRS_ATTRS)).u8(ValueKind.Attrs).u64(24 * 2);
        writeTemplate(w, rng, depth + 1);
    }
  }
}

function writeGetTemplate(w: WireWriter, rng: Rng, depth: number): void {
  const count = rng.below(4);
  w.u64(count);
  for (let i = 0; i < count; i++) {
    const kind = rng.pick([ValueKind.Raw, ValueKind.Ulong, ValueKind.Mechs, ValueKind.Attrs, ValueKind.Malformed]);
    const type = kind === ValueKind.Ulong ? rng.pick(ULONG_ATTRS) : kind === ValueKind.Attrs ? rng.pick(ATTRS_ATTRS) : kind === ValueKind.Mechs ? MECHS_ATTRS[0]! : rng.pick(RAW_ATTRS);
    const buffer = rng.chance(0.7);
    w.u64(type).u8(kind).u8(buffer ? 1 : 0).u64(rng.below(64));
    if (kind === ValueKind.Attrs && buffer) {
      if (depth < 2) writeGetTemplate(w, rng, depth + 1);
      else w.u64(0);
    }
  }
}

function writeArg(w: WireWriter, arg: ArgDesc, rng: Rng, session: number): void {
  switch (arg.kind) {
    case 'ulong': w.u64(rng.chance(0.7) ? session : rng.below(5)); break;
    case 'bbool': w.u8(rng.below(2)); break;
    case 'in_bytes': {
      const present = rng.chance(0.85);
      const n = rng.below(40);
      w.u8(present ? 1 : 0).u64(n);
      if (present) w.bytes(rng.chance(0.3) ? new TextEncoder().encode('12345678'.padEnd(n, '9').slice(0, n)) : rng.bytes(n));
      break;
    }
    case 'out_bytes':
    case 'out_ulongs': w.u8(rng.chance(0.9) ? 1 : 0).u8(rng.chance(0.7) ? 1 : 0).u64(rng.below(128)); break;
    case 'out_fixed': w.u8(rng.chance(0.9) ? 1 : 0).u64(rng.below(64)); break;
    case 'out_ulong':
    case 'out_struct':
    case 'opaque_ptr': w.u8(arg.kind === 'opaque_ptr' ? (rng.chance(0.2) ? 1 : 0) : rng.chance(0.9) ? 1 : 0); break;
    case 'out_handle_array': w.u8(rng.chance(0.9) ? 1 : 0).u64(rng.below(16)).u8(rng.chance(0.9) ? 1 : 0); break;
    case 'in_template':
      if (rng.chance(0.9)) {
        w.u8(1);
        writeTemplate(w, rng, 0);
      } else w.u8(0).u64(rng.below(3));
      break;
    case 'get_template':
      if (rng.chance(0.9)) {
        w.u8(1);
        writeGetTemplate(w, rng, 0);
      } else w.u8(0).u64(rng.below(3));
      break;
    case 'mechanism':
      if (rng.chance(0.9)) {
        w.u8(1).u64(rng.pick(MECHANISMS));
        writeParam(w, rng);
      } else w.u8(0);
      break;
    case 'in_label32':
      if (rng.chance(0.9)) w.u8(1).bytes(new Uint8Array(32).fill(0x20));
      else w.u8(0);
      break;
    case 'init_args':
      if (rng.chance(0.8)) w.u8(0);
      else w.u8(1).u8(0).u8(0).u8(0).u8(0).u64(rng.chance(0.5) ? 2 : 0).u8(0);
      break;
    case 'msg_param': writeParam(w, rng); break;
  }
}

let requestId = 1;

/*
 * WireWriter is created with room for the whole frame here: writes that make
 * it grow throw (see the 'replies larger than 256 bytes' test below).
 */
function header(fn: number, payloadLength: number, iface = 1): WireWriter {
  return new WireWriter(HEADER_SIZE + payloadLength + 64).u32(WIRE_MAGIC).u16(WIRE_VERSION).u8(FRAME_REQUEST).u8(iface).u32(requestId++).u32(fn).u32(payloadLength);
}

function validPayload(fn: FunctionDesc, rng: Rng, session = 1): Uint8Array {
  const w = new WireWriter(1 << 16);
  for (const arg of fn.args) writeArg(w, arg, rng, session);
  return w.finish();
}

function frame(fn: number, payload: Uint8Array, iface = 1): Uint8Array {
  return header(fn, payload.length, iface).bytes(payload).finish();
}

// ------------------------------------------------------------- mutations

function mutate(input: Uint8Array, rng: Rng): Uint8Array {
  let b = new Uint8Array(input);
  const rounds = 1 + rng.below(4);
  for (let r = 0; r < rounds; r++) {
    switch (rng.below(8)) {
      case 0: // flip a bit
        if (b.length) b[rng.below(b.length)] ^= 1 << rng.below(8);
        break;
      case 1: // random byte
        if (b.length) b[rng.below(b.length)] = rng.below(256);
        break;
      case 2: // truncate
        b = b.slice(0, rng.below(b.length + 1));
        break;
      case 3: { // insert bytes
        const at = rng.below(b.length + 1);
        b = new Uint8Array([...b.subarray(0, at), ...rng.bytes(1 + rng.below(8)), ...b.subarray(at)]);
        break;
      }
      case 4: { // an interesting u64 somewhere (lengths, counts)
        if (b.length < 8) break;
        const at = rng.below(b.length - 7);
        const v = rng.pick([0xffffffffffffffffn, 0x8000000000000000n, 0x20000000000000n, 0xffffffffn, 0x100000000n, 0x7fffffffn, 0n, 1n, 24n, 48n]);
        new DataView(b.buffer, b.byteOffset).setBigUint64(at, v, true);
        break;
      }
      case 5: { // a small interesting u8 (kinds, presence flags)
        if (b.length) b[rng.below(b.length)] = rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 0xff]);
        break;
      }
      case 6: { // duplicate a chunk
        if (!b.length) break;
        const from = rng.below(b.length);
        const chunk = b.slice(from, from + 1 + rng.below(16));
        const at = rng.below(b.length + 1);
        b = new Uint8Array([...b.subarray(0, at), ...chunk, ...b.subarray(at)]);
        break;
      }
      default: // delete a chunk
        if (b.length) {
          const at = rng.below(b.length);
          b = new Uint8Array([...b.subarray(0, at), ...b.subarray(at + 1 + rng.below(8))]);
        }
    }
  }
  return b;
}

// -------------------------------------------------------------- the tests

const WIRE_FUNCTIONS = FUNCTIONS.filter((f) => !f.local);

/** Decodes; returns 'ok' / 'format', or throws what decodeArgs threw if it is anything else. */
function tryDecode(fn: FunctionDesc, payload: Uint8Array): 'ok' | 'format' {
  try {
    decodeArgs(fn, payload);
    return 'ok';
  } catch (e) {
    if (e instanceof WireFormatError) return 'format';
    throw new Error(`${fn.name}: decodeArgs threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message} on payload ${Buffer.from(payload).toString('hex')}`);
  }
}

describe('decodeArgs on random and mutated request payloads', () => {
  it('valid payloads decode for every function', () => {
    const rng = new Rng(1);
    for (const fn of WIRE_FUNCTIONS) {
      for (let i = 0; i < 30; i++) expect(tryDecode(fn, validPayload(fn, rng)), fn.name).toBe('ok');
    }
  });

  it('succeeds or throws WireFormatError, nothing else', () => {
    const rng = new Rng(2);
    const counts = { ok: 0, format: 0 };
    for (const fn of WIRE_FUNCTIONS) {
      for (let i = 0; i < 60; i++) {
        const base = validPayload(fn, rng);
        counts[tryDecode(fn, mutate(base, rng))]++;
        // The payload of a different function, and plain noise.
        counts[tryDecode(fn, validPayload(rng.pick(WIRE_FUNCTIONS), rng))]++;
        counts[tryDecode(fn, rng.bytes(rng.below(64)))]++;
      }
    }
    console.log(`decodeArgs: ${counts.ok} decoded, ${counts.format} WireFormatError`);
    expect(counts.ok + counts.format).toBe(WIRE_FUNCTIONS.length * 180);
    expect(counts.format).toBeGreaterThan(0);
  });

  it('rejects lengths that do not fit the frame without allocating them', () => {
    // in_bytes claiming 2^53-1 bytes, a template claiming 2^32 entries.
    const digest = WIRE_FUNCTIONS.find((f) => f.name === 'C_DigestUpdate')!;
    const huge = new WireWriter(64).u64(1).u8(1).u64(0x1fffffffffffff).finish();
    expect(tryDecode(digest, huge)).toBe('format');
    const create = WIRE_FUNCTIONS.find((f) => f.name === 'C_CreateObject')!;
    const many = new WireWriter(64).u64(1).u8(1).u64(0x100000000).finish();
    expect(tryDecode(create, many)).toBe('format');
  });
});

describe('Dispatcher.handle on random and mutated request frames', () => {
  let dir: string;
  let dispatcher: Dispatcher;
  let stderr: ReturnType<typeof vi.spyOn>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'craton-codec-fuzz-'));
    const config = join(dir, 'craton_hsm.toml');
    writeFileSync(config, `[storage]\npath = ${JSON.stringify(join(dir, 'tokens'))}\n`);
    dispatcher = createDispatcher(new CratonModule({ CRATON_HSM_CONFIG: config, HOME: dir }));
    // Malformed requests are logged as errors by design: keep the test output readable.
    stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });

  afterAll(async () => {
    // Wakes any C_WaitForSlotEvent the fuzzing left blocked.
    await dispatcher.handle(frame(2, new Uint8Array([0])));
    stderr.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Handles a frame; fails the test on a rejection or a reply that does not answer the request. */
  async function handle(f: Uint8Array, what: string): Promise<'reply' | 'dropped' | 'pending'> {
    let requestHeader: ReturnType<typeof parseHeader> | null = null;
    try {
      requestHeader = parseHeader(f);
    } catch {
      requestHeader = null;
    }
    const blocking = requestHeader?.functionId === 68; // C_WaitForSlotEvent may wait until C_Finalize
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), blocking ? 50 : 10_000);
    });
    let outcome: Uint8Array | null | 'timeout';
    try {
      outcome = await Promise.race([dispatcher.handle(f), timeout]);
    } catch (e) {
      throw new Error(`Dispatcher.handle threw or rejected (${what}): ${(e as Error)?.stack ?? String(e)}\nframe ${Buffer.from(f).toString('hex')}`);
    } finally {
      clearTimeout(timer);
    }
    if (outcome === 'timeout') {
      if (!blocking) throw new Error(`Dispatcher.handle did not settle within 10 s (${what}): frame ${Buffer.from(f).toString('hex')}`);
      return 'pending';
    }
    if (outcome === null) return 'dropped';
    const reply = parseHeader(outcome);
    expect(reply.kind, what).toBe(FRAME_REPLY);
    expect(outcome.length, what).toBe(HEADER_SIZE + reply.payloadLength);
    if (requestHeader) {
      expect(reply.requestId, what).toBe(requestHeader.requestId);
      expect(reply.functionId, what).toBe(requestHeader.functionId);
    }
    return 'reply';
  }

  /** C_GenerateRandom(len) allocates len bytes: the shim only asks for what its caller asked for. */
  function hugeAllocation(f: Uint8Array): boolean {
    try {
      const h = parseHeader(f);
      const fn = WIRE_FUNCTIONS.find((x) => x.id === h.functionId);
      if (!fn || f.length !== HEADER_SIZE + h.payloadLength) return false;
      for (const v of decodeArgs(fn, f.subarray(HEADER_SIZE)).values()) if (v.kind === 'out_fixed' && v.length > 1 << 20) return true;
    } catch {
      return false;
    }
    return false;
  }

  it('answers replies larger than 256 bytes (C_GenerateRandom of 300 bytes)', async () => {
    await handle(frame(1, new Uint8Array([0])), 'C_Initialize');
    // hSession 1 may not exist: CKR_SESSION_HANDLE_INVALID is a fine answer, a rejection is not.
    const label = new Uint8Array(32).fill(0x20);
    const initToken = new WireWriter(128).u64(0).u8(1).u64(8).bytes(new TextEncoder().encode('12345678')).u8(1).bytes(label).finish();
    await handle(frame(10, initToken), 'C_InitToken');
    const open = await dispatcher.handle(frame(13, new WireWriter(64).u64(0).u64(6).u8(0).u8(0).u8(1).finish()));
    expect(open).not.toBeNull();
    const random = new WireWriter(64).u64(1).u8(1).u64(300).finish();
    expect(await handle(frame(65, random), 'C_GenerateRandom(300)')).toBe('reply');
  });

  it('never rejects, and answers every well-formed header', async () => {
    const rng = new Rng(3);
    const tally = { reply: 0, dropped: 0, pending: 0, skipped: 0 };
    const init = (): Promise<unknown> => handle(frame(1, new Uint8Array([0])), 'C_Initialize');
    await init();
    // A token and a session make the handlers do real work on the fuzzed arguments.
    const label = new Uint8Array(32).fill(0x20);
    const initToken = new WireWriter(128).u64(0).u8(1).u64(8).bytes(new TextEncoder().encode('12345678')).u8(1).bytes(label).finish();
    await handle(frame(10, initToken), 'C_InitToken');
    const open = await dispatcher.handle(frame(13, new WireWriter(64).u64(0).u64(6).u8(0).u8(0).u8(1).finish()));
    expect(open).not.toBeNull();

    let n = 0;
    for (const fn of WIRE_FUNCTIONS) {
      for (let i = 0; i < 40; i++) {
        if (++n % 100 === 0) await init(); // a fuzzed C_Finalize must not end the run's usefulness
        const payload = validPayload(fn, rng);
        const candidates: [Uint8Array, string][] = [
          [frame(fn.id, payload, rng.below(2)), `${fn.name} valid`],
          [frame(fn.id, mutate(payload, rng)), `${fn.name} mutated payload`],
          [mutate(frame(fn.id, payload), rng), `${fn.name} mutated frame`],
        ];
        if (i % 10 === 0) candidates.push([frame(rng.below(200), rng.bytes(rng.below(40))), 'random function id']);
        for (const [f, what] of candidates) {
          if (fn.name === 'C_Finalize' && what.endsWith('valid')) continue;
          if (hugeAllocation(f)) {
            tally.skipped++;
            continue;
          }
          tally[await handle(f, what)]++;
        }
      }
    }
    console.log(`Dispatcher.handle: ${tally.reply} replies, ${tally.dropped} dropped (bad header), ${tally.pending} blocked C_WaitForSlotEvent, ${tally.skipped} skipped (>1 MiB C_GenerateRandom)`);
    expect(tally.reply).toBeGreaterThan(WIRE_FUNCTIONS.length * 40);
  }, 300_000);
});
