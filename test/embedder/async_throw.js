'use strict';
// Throws asynchronously before registering a handler (uncaught exception).
setTimeout(() => { throw new Error('craton test: async failure before setHandler'); }, 1);
