/**
 * Frames in, frames out. Decodes a request, runs its handler, and encodes
 * the reply. This is the one place where a thrown CkError (or anything
 * else) becomes a CK_RV.
 */
import { CKR } from '../generated/constants';
import { FUNCTIONS, type FunctionDesc } from '../generated/wire-table';
import { CkError, rvName } from '../ck-error';
import { BackendError } from '../backends/backend';
import { log } from '../log';
import { WireFormatError, WireReader } from '../wire/bytes';
import { decodeArgs, encodeReplyPayload } from '../wire/codec';
import { FN_HELLO, FRAME_REQUEST, HEADER_SIZE, finishReply, parseHeader, startReply, type FrameHeader } from '../wire/frame';
import { Call } from './call';
import { DEFAULT_ABI, type CallerAbi } from './caller-abi';

export type Handler = (call: Call) => void | Promise<void>;
/** Sees each call before its handler runs; what it returns is told the CK_RV (the audit trail). */
export type CallObserver = (call: Call) => ((rv: number) => void) | null;

const BY_ID = new Map<number, FunctionDesc>(FUNCTIONS.map((f) => [f.id, f]));
const TRANSPORTS: Record<number, CallerAbi['transport']> = { 1: 'embedded', 2: 'process' };

export class Dispatcher {
  private readonly handlers = new Map<number, Handler>();
  abi: CallerAbi = DEFAULT_ABI;
  observer: CallObserver | null = null;

  register(handlers: Readonly<Record<string, Handler>>): void {
    for (const [name, handler] of Object.entries(handlers)) {
      const fn = FUNCTIONS.find((f) => f.name === name);
      if (!fn || fn.local) throw new Error(`no wire function ${name}`);
      this.handlers.set(fn.id, handler);
    }
  }

  /**
   * Handles one request frame. Synchronous handlers are answered synchronously
   * (no promise round trip on the hot path); a handler that waits yields a
   * promise. Returns null only when the frame is too broken to answer (no valid
   * header): the transport then drops the connection.
   */
  handle(frame: Uint8Array): Uint8Array | null | Promise<Uint8Array | null> {
    let header: FrameHeader;
    try {
      header = parseHeader(frame);
      if (header.kind !== FRAME_REQUEST || header.payloadLength !== frame.length - HEADER_SIZE) throw new WireFormatError('bad request frame');
    } catch (e) {
      log.error(`dropping a malformed frame: ${(e as Error).message}`);
      return null;
    }
    const payload = frame.subarray(HEADER_SIZE);
    if (header.functionId === FN_HELLO) return this.hello(header, payload);
    const fn = BY_ID.get(header.functionId);
    if (!fn || fn.local) {
      const w = startReply(header);
      w.u64(CKR.CKR_FUNCTION_NOT_SUPPORTED);
      return finishReply(w);
    }
    let call: Call;
    try {
      call = new Call(fn, header.iface, this.abi, decodeArgs(fn, payload));
    } catch (e) {
      log.error(`${fn.name}: malformed request: ${(e as Error).message}`);
      return reply(header, fn, CKR.CKR_DEVICE_ERROR, new Map());
    }
    const handler = this.handlers.get(fn.id);
    if (!handler) return reply(header, fn, CKR.CKR_FUNCTION_NOT_SUPPORTED, new Map());
    const observed = this.observe(call);
    const done = (rv: number): Uint8Array => {
      if (observed) notify(fn.name, observed, rv);
      return reply(header, fn, rv, call.outs);
    };
    let pending: void | Promise<void>;
    try {
      pending = handler(call);
    } catch (e) {
      return done(failed(call, e));
    }
    if (!(pending instanceof Promise)) return done(call.rv);
    return pending.then(
      () => done(call.rv),
      (e: unknown) => done(failed(call, e)),
    );
  }

  private observe(call: Call): ((rv: number) => void) | null {
    try {
      return this.observer?.(call) ?? null;
    } catch (e) {
      log.error(`${call.fn.name}: the call observer failed: ${(e as Error).message}`);
      return null;
    }
  }

  private hello(header: FrameHeader, payload: Uint8Array): Uint8Array {
    const w = startReply(header);
    try {
      const r = new WireReader(payload);
      const ulongSize = r.u8();
      const pointerSize = r.u8();
      const attributeSize = r.u16();
      const pid = r.u32();
      const transport = TRANSPORTS[r.u8()] ?? 'unknown';
      const modulePath = new TextDecoder().decode(r.bytes(r.u32()));
      this.abi = { ulongSize, pointerSize, attributeSize, pid, transport, modulePath };
      w.u64(CKR.CKR_OK);
    } catch (e) {
      log.error(`bad hello frame: ${(e as Error).message}`);
      w.u64(CKR.CKR_DEVICE_ERROR);
    }
    return finishReply(w);
  }
}

/**
 * Encodes a reply. Every request gets one, even when encoding its out-values
 * fails: a caller left without a reply would block forever.
 */
function reply(header: FrameHeader, fn: FunctionDesc, rv: number, outs: Call['outs']): Uint8Array {
  try {
    const w = startReply(header);
    encodeReplyPayload(w, fn, rv, outs);
    return finishReply(w);
  } catch (e) {
    log.error(`${fn.name}: cannot encode the reply: ${(e as Error).stack ?? String(e)}`);
    const w = startReply(header);
    encodeReplyPayload(w, fn, CKR.CKR_GENERAL_ERROR, new Map());
    return finishReply(w);
  }
}

/** An observer's failure (an audit log that cannot be written) is logged; the call's result stands. */
function notify(name: string, observed: (rv: number) => void, rv: number): void {
  try {
    observed(rv);
  } catch (e) {
    log.error(`${name}: the call observer failed: ${(e as Error).message}`);
  }
}

/** A handler failed: nothing is written back, and the error becomes its CK_RV. */
function failed(call: Call, e: unknown): number {
  const rv = toRv(e);
  const message = e instanceof Error ? e.message : String(e);
  if (rv === CKR.CKR_GENERAL_ERROR || rv === CKR.CKR_DEVICE_ERROR) log.error(`${call.fn.name}: ${rvName(rv)}: ${message}`);
  else log.debug(`${call.fn.name}: ${rvName(rv)}: ${message}`);
  call.outs.clear();
  return rv;
}

function toRv(e: unknown): number {
  if (e instanceof CkError) return e.rv;
  if (e instanceof BackendError) {
    switch (e.code) {
      case 'ALGORITHM_UNSUPPORTED': return CKR.CKR_MECHANISM_INVALID;
      case 'ARGUMENT': return CKR.CKR_ARGUMENTS_BAD;
      default: return CKR.CKR_FUNCTION_FAILED;
    }
  }
  log.error(`internal error: ${(e as Error)?.stack ?? String(e)}`);
  return CKR.CKR_GENERAL_ERROR;
}
