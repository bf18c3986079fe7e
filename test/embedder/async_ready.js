'use strict';
// Registers its handler asynchronously, after a timer and a promise.
const b = process._linkedBinding('craton_bridge');
setTimeout(async () => {
  await new Promise((r) => setImmediate(r));
  b.setHandler((frame) => Uint8Array.of(0x42, frame.length & 0xff));
}, 20);
