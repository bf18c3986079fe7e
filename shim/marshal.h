/* Table-driven marshalling between the caller's C memory and wire frames.
 * It knows C layouts (CK_ULONG width, packing, pointer+length pairs) and
 * nothing of what a call means: every decision is the runtime's. */
#ifndef CRATON_MARSHAL_H
#define CRATON_MARSHAL_H

#include "generated/craton_table.h"
#include "wire.h"

#define CRATON_IFACE_2_40 0
#define CRATON_IFACE_3_0 1

/* Called by every generated entry point. */
CK_RV craton_call(const craton_function_desc *fn, void **argv, int iface);

/* Finds the mechanism a session's message operation was initialised with;
 * returns 0 if none is recorded. Provided by the module layer. */
int craton_message_mechanism(CK_ULONG session, int op, CK_ULONG *mechanism);

/* Encodes a request frame. Returns CRATON_RV_OK, or the CK_RV to give the
 * caller when its arguments cannot be encoded at all. */
CK_RV craton_encode_request(craton_buf *b, const craton_function_desc *fn, void **argv, uint8_t iface,
                            uint32_t request_id);

/* Decodes a reply frame and writes its out-values into the caller's memory.
 * Returns the module's CK_RV, or CKR_DEVICE_ERROR for a malformed reply. */
CK_RV craton_decode_reply(const uint8_t *frame, size_t len, const craton_function_desc *fn, void **argv,
                          uint32_t request_id);

#endif
