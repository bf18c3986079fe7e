#define _DEFAULT_SOURCE /* explicit_bzero */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

void craton_buf_init(craton_buf *b) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->failed = 0;
}

void craton_buf_free(craton_buf *b) {
  if (b->data) {
    /* Frames may carry PINs and key material. */
    explicit_bzero(b->data, b->len);
    free(b->data);
  }
  craton_buf_init(b);
}

static int reserve(craton_buf *b, size_t n) {
  if (b->failed) return 0;
  if (n > CRATON_WIRE_MAX_FRAME || b->len + n > CRATON_WIRE_MAX_FRAME) {
    b->failed = 1;
    return 0;
  }
  if (b->len + n <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + n) cap *= 2;
  uint8_t *d = malloc(cap);
  if (!d) {
    b->failed = 1;
    return 0;
  }
  if (b->data) {
    memcpy(d, b->data, b->len);
    explicit_bzero(b->data, b->len);
    free(b->data);
  }
  b->data = d;
  b->cap = cap;
  return 1;
}

static void put_le(craton_buf *b, uint64_t v, size_t width) {
  if (!reserve(b, width)) return;
  for (size_t i = 0; i < width; i++) b->data[b->len++] = (uint8_t)(v >> (8 * i));
}

void craton_buf_u8(craton_buf *b, uint8_t v) { put_le(b, v, 1); }
void craton_buf_u16(craton_buf *b, uint16_t v) { put_le(b, v, 2); }
void craton_buf_u32(craton_buf *b, uint32_t v) { put_le(b, v, 4); }
void craton_buf_u64(craton_buf *b, uint64_t v) { put_le(b, v, 8); }

void craton_buf_bytes(craton_buf *b, const void *p, size_t n) {
  if (n == 0 || !reserve(b, n)) return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void craton_buf_put_u32_at(craton_buf *b, size_t at, uint32_t v) {
  if (b->failed || at + 4 > b->len) return;
  for (size_t i = 0; i < 4; i++) b->data[at + i] = (uint8_t)(v >> (8 * i));
}

void craton_reader_init(craton_reader *r, const uint8_t *p, size_t n) {
  r->p = p;
  r->left = n;
  r->failed = 0;
}

static uint64_t get_le(craton_reader *r, size_t width) {
  if (r->failed || r->left < width) {
    r->failed = 1;
    return 0;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < width; i++) v |= (uint64_t)r->p[i] << (8 * i);
  r->p += width;
  r->left -= width;
  return v;
}

uint8_t craton_rd_u8(craton_reader *r) { return (uint8_t)get_le(r, 1); }
uint16_t craton_rd_u16(craton_reader *r) { return (uint16_t)get_le(r, 2); }
uint32_t craton_rd_u32(craton_reader *r) { return (uint32_t)get_le(r, 4); }
uint64_t craton_rd_u64(craton_reader *r) { return get_le(r, 8); }

const uint8_t *craton_rd_bytes(craton_reader *r, uint64_t n) {
  if (r->failed || n > r->left) {
    r->failed = 1;
    return NULL;
  }
  const uint8_t *p = r->p;
  r->p += n;
  r->left -= (size_t)n;
  return p;
}

void craton_write_header(craton_buf *b, const craton_header *h) {
  craton_buf_u32(b, CRATON_WIRE_MAGIC);
  craton_buf_u16(b, CRATON_WIRE_VERSION);
  craton_buf_u8(b, h->kind);
  craton_buf_u8(b, h->iface);
  craton_buf_u32(b, h->request_id);
  craton_buf_u32(b, h->function_id);
  craton_buf_u32(b, h->payload_len);
}

void craton_finish_frame(craton_buf *b) {
  if (b->len >= CRATON_WIRE_HEADER_SIZE)
    craton_buf_put_u32_at(b, 16, (uint32_t)(b->len - CRATON_WIRE_HEADER_SIZE));
}

int craton_parse_header(const uint8_t *p, craton_header *h) {
  craton_reader r;
  craton_reader_init(&r, p, CRATON_WIRE_HEADER_SIZE);
  if (craton_rd_u32(&r) != CRATON_WIRE_MAGIC) return -1;
  if (craton_rd_u16(&r) != CRATON_WIRE_VERSION) return -1;
  h->kind = craton_rd_u8(&r);
  h->iface = craton_rd_u8(&r);
  h->request_id = craton_rd_u32(&r);
  h->function_id = craton_rd_u32(&r);
  h->payload_len = craton_rd_u32(&r);
  if (h->payload_len > CRATON_WIRE_MAX_FRAME) return -1;
  return r.failed ? -1 : 0;
}
