/**
 * The runtime's entry point (bundled to dist/runtime.js). It serves frames
 * over whichever transport started it: the embedder's linked binding inside
 * the caller's process, or fd 3 of a `node` child (the process transport).
 */
import { readSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Dispatcher } from '../dispatch/dispatcher';
import { createDispatcher } from '../functions';
import { CratonModule } from '../module/module';
import { log } from '../log';
import { HEADER_SIZE, parseHeader } from '../wire/frame';

/** The embedder's linked binding (shim/embedder/README.md). */
interface EmbedderBridge {
  setHandler(handler: (frame: Uint8Array, id: number) => Uint8Array | undefined): void;
  respond(id: number, reply: Uint8Array): void;
}

const EMPTY = new Uint8Array(0);

/** Splits a byte stream into frames. */
class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onFrame: (frame: Uint8Array) => void): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= HEADER_SIZE) {
      const total = HEADER_SIZE + parseHeader(this.pending).payloadLength;
      if (this.pending.length < total) break;
      onFrame(new Uint8Array(this.pending.subarray(0, total)));
      this.pending = this.pending.subarray(total);
    }
  }
}

/** How long to keep reading the socket directly after a batch, before going back to the event loop. */
const POLL_NS = BigInt(process.env.CRATON_HSM_RUNTIME_POLL_NS ?? 50_000);

function serveSocket(dispatcher: Dispatcher, fd: number): void {
  const socket = new Socket({ fd, readable: true, writable: true });
  const reader = new FrameReader();
  const scratch = Buffer.allocUnsafe(64 * 1024);
  const serve = (chunk: Buffer): boolean => {
    let waiting = false;
    reader.push(chunk, (frame) => {
      // A reply may carry secrets: once the socket has taken it, the JS copy is wiped.
      const send = (reply: Uint8Array | null) => (reply ? socket.write(reply, () => reply.fill(0)) : socket.destroy());
      const reply = dispatcher.handle(frame);
      if (reply instanceof Promise) {
        waiting = true;
        void reply.then(send);
      } else send(reply);
    });
    return waiting;
  };
  socket.on('data', (chunk: Buffer) => {
    try {
      // A caller that just got its reply usually sends the next request within
      // microseconds: read it here rather than sleep in epoll and be woken again.
      let waiting = serve(chunk);
      const deadline = process.hrtime.bigint() + POLL_NS;
      while (!waiting && process.hrtime.bigint() < deadline) {
        const n = readNonBlocking(fd, scratch);
        if (n === 0) break;
        if (n > 0) waiting = serve(Buffer.from(scratch.subarray(0, n)));
      }
    } catch (e) {
      log.error(`closing the connection: ${(e as Error).message}`);
      socket.destroy();
    }
  });
  // The shim closed its end (C_Finalize, or the host exited): nothing more to serve.
  socket.on('close', () => process.exit(0));
  socket.on('error', () => process.exit(0));
}

/** Bytes read, -1 when nothing is waiting, 0 at end of stream. */
function readNonBlocking(fd: number, into: Buffer): number {
  try {
    return readSync(fd, into, 0, into.length, null);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return -1;
    throw e;
  }
}

function serveEmbedded(dispatcher: Dispatcher, bridge: EmbedderBridge): void {
  bridge.setHandler((frame, id) => {
    const reply = dispatcher.handle(frame);
    if (!(reply instanceof Promise)) return reply ?? EMPTY;
    void reply.then((r) => bridge.respond(id, r ?? EMPTY));
    return undefined;
  });
}

function main(): void {
  // A bug must cost one call, never the host process.
  process.on('uncaughtException', (e) => log.error(`uncaught: ${e.stack ?? e.message}`));
  process.on('unhandledRejection', (e) => log.error(`unhandled rejection: ${String(e)}`));
  const dispatcher = createDispatcher(new CratonModule(process.env, __filename));
  let bridge: EmbedderBridge | null = null;
  try {
    bridge = (process as unknown as { _linkedBinding(name: string): EmbedderBridge })._linkedBinding('craton_bridge');
  } catch {
    bridge = null;
  }
  if (bridge) serveEmbedded(dispatcher, bridge);
  else serveSocket(dispatcher, 3);
}

main();
