/**
 * The runtime's entry point (bundled to dist/runtime.js). It serves frames
 * over whichever transport started it: the embedder's linked binding inside
 * the caller's process, or fd 3 of a `node` child (the process transport).
 */
import { Socket } from 'node:net';
import type { Dispatcher } from '../dispatch/dispatcher';
import { createDispatcher } from '../functions';
import { log } from '../log';
import { HEADER_SIZE, parseHeader } from '../wire/frame';

interface EmbedderBridge {
  setHandler(handler: (frame: Uint8Array, respond: (reply: Uint8Array) => void) => void): void;
}

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

function serveSocket(dispatcher: Dispatcher, fd: number): void {
  const socket = new Socket({ fd, readable: true, writable: true });
  const reader = new FrameReader();
  socket.on('data', (chunk: Buffer) => {
    try {
      reader.push(chunk, (frame) => {
        void dispatcher.handle(frame).then((reply) => {
          if (reply) socket.write(reply);
          else socket.destroy();
        });
      });
    } catch (e) {
      log.error(`closing the connection: ${(e as Error).message}`);
      socket.destroy();
    }
  });
  // The shim closed its end (C_Finalize, or the host exited): nothing more to serve.
  socket.on('close', () => process.exit(0));
  socket.on('error', () => process.exit(0));
}

function serveEmbedded(dispatcher: Dispatcher, bridge: EmbedderBridge): void {
  bridge.setHandler((frame, respond) => {
    void dispatcher.handle(frame).then((reply) => respond(reply ?? new Uint8Array(0)));
  });
}

function main(): void {
  // A bug must cost one call, never the host process.
  process.on('uncaughtException', (e) => log.error(`uncaught: ${e.stack ?? e.message}`));
  process.on('unhandledRejection', (e) => log.error(`unhandled rejection: ${String(e)}`));
  const dispatcher = createDispatcher();
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
