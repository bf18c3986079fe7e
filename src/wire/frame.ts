import { WireFormatError, WireReader, WireWriter } from './bytes';

/** Frame header, 20 bytes: see docs/ARCHITECTURE.md, "Wire protocol". */
export const WIRE_MAGIC = 0x4e545243; // "CRTN"
export const WIRE_VERSION = 1;
export const HEADER_SIZE = 20;
export const MAX_PAYLOAD = 1 << 30;
export const FRAME_REQUEST = 1;
export const FRAME_REPLY = 2;
export const FN_HELLO = 0;

/** Which function list the caller came through; C_GetInfo reports its version. */
export enum Interface {
  V2_40 = 0,
  V3_0 = 1,
}

export interface FrameHeader {
  readonly kind: number;
  readonly iface: number;
  readonly requestId: number;
  readonly functionId: number;
  readonly payloadLength: number;
}

export function parseHeader(frame: Uint8Array): FrameHeader {
  if (frame.length < HEADER_SIZE) throw new WireFormatError('frame shorter than its header');
  const r = new WireReader(frame.subarray(0, HEADER_SIZE));
  if (r.u32() !== WIRE_MAGIC) throw new WireFormatError('bad magic');
  const version = r.u16();
  if (version !== WIRE_VERSION) throw new WireFormatError(`unsupported protocol version ${version}`);
  const header = { kind: r.u8(), iface: r.u8(), requestId: r.u32(), functionId: r.u32(), payloadLength: r.u32() };
  if (header.payloadLength > MAX_PAYLOAD) throw new WireFormatError('payload too large');
  return header;
}

/** Starts a reply frame; finishReply patches in the payload length. */
export function startReply(request: FrameHeader): WireWriter {
  return new WireWriter()
    .u32(WIRE_MAGIC)
    .u16(WIRE_VERSION)
    .u8(FRAME_REPLY)
    .u8(request.iface)
    .u32(request.requestId)
    .u32(request.functionId)
    .u32(0);
}

export function finishReply(w: WireWriter): Uint8Array {
  w.patchU32(16, w.size - HEADER_SIZE);
  return w.finish();
}
