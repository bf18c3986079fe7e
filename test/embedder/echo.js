'use strict';
// Test bundle for test/embedder/embedder_roundtrip.c.
// Replies with 0xA5 followed by the request bytes. The first request byte picks a path:
//   'A' b.respond() later via setImmediate  'P' b.respond() after an await (microtask)
//   'T' throw synchronously (call fails)    'H' never reply (request stays pending until stop)
//   'X' process.exit(7) from the handler    anything else: return the reply
const b = process._linkedBinding('craton_bridge');

function reply(frame) {
  const out = new Uint8Array(frame.length + 1);
  out[0] = 0xa5;
  out.set(frame, 1);
  return out;
}

b.setHandler((frame, id) => {
  switch (frame[0]) {
    case 0x41: /* A */ setImmediate(() => b.respond(id, reply(frame))); return undefined;
    case 0x50: /* P */ (async () => { await null; b.respond(id, reply(frame)); })(); return undefined;
    case 0x54: /* T */ throw new Error('handler throws on purpose');
    case 0x48: /* H */ return undefined;
    case 0x58: /* X */ process.exit(7);
    default: return reply(frame);
  }
});
