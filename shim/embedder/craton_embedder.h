/*
 * Craton HSM - embedded transport.
 *
 * libcraton_embedder.so runs a Node.js runtime (Debian's libnode, Node 18) on
 * its own thread inside the calling process and moves opaque byte frames
 * between C callers and a JavaScript handler.
 *
 * The main shim (libcraton_hsm.so) must not link libnode or libstdc++: it
 * dlopen()s libcraton_embedder.so and resolves the four functions below.
 *
 * JS side: the bundle does
 *     const b = process._linkedBinding('craton_bridge');
 *     b.setHandler((frame, id) => replyBytes);   // or return undefined, then
 *     b.respond(id, replyBytes);                  // later, exactly once
 * frame is a Uint8Array (a private copy); a reply is a Uint8Array, Buffer or
 * ArrayBuffer.
 */
#ifndef CRATON_EMBEDDER_H
#define CRATON_EMBEDDER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CRATON_EMBEDDER_API __attribute__((visibility("default")))
#else
#define CRATON_EMBEDDER_API
#endif

/* Starts the runtime thread, loads the JS bundle at script_path (CommonJS
   file), and returns 0 once the JS side has registered its handler (ready),
   or -1 with a message in err (err may be NULL). Fails on: script exception at
   load, process.exit()/uncaught exception before ready, script finishing
   without calling setHandler, 10 s timeout (CRATON_EMBEDDER_START_TIMEOUT_MS
   overrides), already running, or being called in a fork()ed child of a
   process in which the runtime was initialised. */
CRATON_EMBEDDER_API int craton_embedder_start(const char *script_path, char *err, size_t errlen);

/* Sends one request frame and blocks the calling thread until the JS handler
   responds. Thread-safe: many host threads may call at once; each gets its
   own reply. *reply is malloc'ed (free with craton_embedder_free); a
   zero-length reply still yields a non-NULL *reply. Returns 0, or -1 if the
   runtime is not running / died / was stopped, or if the handler threw
   synchronously for this frame (then no reply). Must not be called from the
   runtime thread itself (returns -1). */
CRATON_EMBEDDER_API int craton_embedder_call(const uint8_t *req, size_t req_len, uint8_t **reply,
                                             size_t *reply_len);

CRATON_EMBEDDER_API void craton_embedder_free(uint8_t *p);

/* Stops the runtime: pending and later calls return -1; joins the thread;
   frees the environment. Safe to call when not running. The V8 platform and
   per-process Node state are kept for a later craton_embedder_start. */
CRATON_EMBEDDER_API void craton_embedder_stop(void);

#ifdef __cplusplus
}
#endif

#endif /* CRATON_EMBEDDER_H */
