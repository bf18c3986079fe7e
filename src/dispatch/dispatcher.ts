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

const BY_ID = new Map<number, FunctionDesc>(FUNCTIONS.map((f) => [f.id, f]));
const TRANSPORTS: Record<number, CallerAbi['transport']> = { 1: 'embedded', 2: 'process' };

export class Dispatcher {
  private readonly handlers = new Map<number, Handler>();
  abi: CallerAbi = DEFAULT_ABI;

  register(handlers: Readonly<Record<string, Handler>>): void {
    for (const [name, handler] of Object.entries(handlers)) {
      const fn = FUNCTIONS.find((f) => f.name === name);
      if (!fn || fn.local) throw new Error(`no wire function ${name}`);
      this.handlers.set(fn.id, handler);
    }
  }

  /**
   * Handles one request frame. Returns null only when the frame is too broken
   * to answer (no valid header): the transport then drops the connection.
   */
  async handle(frame: Uint8Array): Promise<Uint8Array | null> {
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
    const w = startReply(header);
    if (!fn || fn.local) {
      w.u64(CKR.CKR_FUNCTION_NOT_SUPPORTED);
      return finishReply(w);
    }
    let call: Call;
    try {
      call = new Call(fn, header.iface, this.abi, decodeArgs(fn, payload));
    } catch (e) {
      log.error(`${fn.name}: malformed request: ${(e as Error).message}`);
      encodeReplyPayload(w, fn, CKR.CKR_DEVICE_ERROR, new Map());
      return finishReply(w);
    }
    const rv = await this.run(call);
    encodeReplyPayload(w, fn, rv, call.outs);
    return finishReply(w);
  }

  private async run(call: Call): Promise<number> {
    const handler = this.handlers.get(call.fn.id);
    if (!handler) return CKR.CKR_FUNCTION_NOT_SUPPORTED;
    try {
      await handler(call);
      return call.rv;
    } catch (e) {
      const rv = toRv(e);
      if (rv === CKR.CKR_GENERAL_ERROR || rv === CKR.CKR_DEVICE_ERROR) log.error(`${call.fn.name}: ${rvName(rv)}: ${(e as Error).message}`);
      else log.debug(`${call.fn.name}: ${rvName(rv)}: ${(e as Error).message}`);
      call.outs.clear();
      return rv;
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
