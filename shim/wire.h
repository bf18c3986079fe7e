/* Little-endian frame buffers. Every value on the wire has a fixed width,
 * independent of the platform's CK_ULONG. */
#ifndef CRATON_WIRE_H
#define CRATON_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define CRATON_WIRE_MAGIC 0x4E545243u /* "CRTN" */
#define CRATON_WIRE_VERSION 1
#define CRATON_WIRE_HEADER_SIZE 20
#define CRATON_WIRE_MAX_FRAME ((size_t)1 << 30)
#define CRATON_FRAME_REQUEST 1
#define CRATON_FRAME_REPLY 2
#define CRATON_FN_HELLO 0

typedef struct craton_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
  int failed; /* allocation failed or frame too large */
} craton_buf;

void craton_buf_init(craton_buf *b);
void craton_buf_free(craton_buf *b);
void craton_buf_u8(craton_buf *b, uint8_t v);
void craton_buf_u16(craton_buf *b, uint16_t v);
void craton_buf_u32(craton_buf *b, uint32_t v);
void craton_buf_u64(craton_buf *b, uint64_t v);
void craton_buf_bytes(craton_buf *b, const void *p, size_t n);
void craton_buf_put_u32_at(craton_buf *b, size_t at, uint32_t v);

typedef struct craton_reader {
  const uint8_t *p;
  size_t left;
  int failed; /* read past the end */
} craton_reader;

void craton_reader_init(craton_reader *r, const uint8_t *p, size_t n);
uint8_t craton_rd_u8(craton_reader *r);
uint16_t craton_rd_u16(craton_reader *r);
uint32_t craton_rd_u32(craton_reader *r);
uint64_t craton_rd_u64(craton_reader *r);
/* Returns a pointer to n bytes inside the frame, or NULL (and fails) if fewer remain. */
const uint8_t *craton_rd_bytes(craton_reader *r, uint64_t n);

/* Frame header: magic u32, version u16, kind u8, interface u8, request id u32,
 * function id u32, payload length u32. */
typedef struct craton_header {
  uint8_t kind;
  uint8_t iface;
  uint32_t request_id;
  uint32_t function_id;
  uint32_t payload_len;
} craton_header;

void craton_write_header(craton_buf *b, const craton_header *h);
/* Patches the payload length of a frame built with craton_write_header. */
void craton_finish_frame(craton_buf *b);
/* 0 if the 20 bytes at p are a valid header of this protocol version. */
int craton_parse_header(const uint8_t *p, craton_header *h);

#endif
