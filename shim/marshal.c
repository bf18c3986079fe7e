#include "marshal.h"

#include <string.h>

#define ARG(type, i) (*(type *)argv[i])
#define MAX_NESTING 4

/* Value kinds of an attribute or mechanism parameter on the wire. */
enum {
  VK_RAW = 0,
  VK_ULONG = 1,
  VK_ATTRS = 2,
  VK_MECHS = 3,
  VK_NULL = 4,      /* pValue was NULL */
  VK_MALFORMED = 5, /* length does not fit the value's C type */
  VK_STRUCT = 6     /* a known parameter structure */
};

/* Reply actions for out-values. */
enum { ACT_NONE = 0, ACT_LENGTH = 1, ACT_DATA = 2 };

static uint8_t attribute_kind(CK_ULONG type) {
  size_t lo = 0, hi = craton_attribute_kind_count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (craton_attribute_kinds[mid].type == type) return craton_attribute_kinds[mid].kind;
    if (craton_attribute_kinds[mid].type < type) lo = mid + 1;
    else hi = mid;
  }
  return CRATON_ATTR_RAW;
}

static int struct_for(const craton_mech_struct *table, size_t n, CK_ULONG mech) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (table[mid].mechanism == mech) return table[mid].struct_id;
    if (table[mid].mechanism < mech) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

/* ------------------------------------------------------------------ encode */

static CK_RV put_caller_bytes(craton_buf *b, const void *p, CK_ULONG n) {
  if ((uint64_t)n > CRATON_WIRE_MAX_FRAME) return CRATON_RV_ARGUMENTS_BAD;
  craton_buf_bytes(b, p, (size_t)n);
  return CRATON_RV_OK;
}

static CK_RV enc_struct(craton_buf *b, int id, const uint8_t *base, int depth);
static CK_RV enc_param(craton_buf *b, int struct_id, const void *p, CK_ULONG len, int depth);
static CK_RV enc_template(craton_buf *b, const CK_ATTRIBUTE *t, CK_ULONG count, int depth);

/* The structure a choice_ptr field points to for its selector's value, or -1 (raw bytes). */
static int choice_struct(const craton_field_desc *f, const uint8_t *base) {
  return struct_for(f->choices, f->choice_count, *(const CK_ULONG *)(base + f->selector));
}

/* Whether a struct_array of `count` elements of structure `id` can be walked at all. */
static int array_fits(int id, CK_ULONG count) {
  return (uint64_t)count <= CRATON_WIRE_MAX_FRAME / craton_structs[id].size;
}

static CK_RV enc_field_ptr(craton_buf *b, const void *p, CK_ULONG n) {
  craton_buf_u8(b, p != NULL);
  craton_buf_u64(b, n);
  return p ? put_caller_bytes(b, p, n) : CRATON_RV_OK;
}

static CK_RV enc_struct(craton_buf *b, int id, const uint8_t *base, int depth) {
  const craton_struct_desc *s = &craton_structs[id];
  for (size_t i = 0; i < s->field_count; i++) {
    const craton_field_desc *f = &s->fields[i];
    const uint8_t *at = base + f->offset;
    CK_RV rv = CRATON_RV_OK;
    switch (f->form) {
      case CRATON_FIELD_ULONG: craton_buf_u64(b, *(const CK_ULONG *)at); break;
      case CRATON_FIELD_BBOOL: craton_buf_u8(b, *(const CK_BBOOL *)at); break;
      case CRATON_FIELD_VERSION:
        craton_buf_u8(b, ((const CK_VERSION *)at)->major);
        craton_buf_u8(b, ((const CK_VERSION *)at)->minor);
        break;
      case CRATON_FIELD_CHARS:
      case CRATON_FIELD_BYTES: craton_buf_bytes(b, at, f->aux); break;
      case CRATON_FIELD_PTR: rv = enc_field_ptr(b, *(void *const *)at, *(const CK_ULONG *)(base + f->aux)); break;
      case CRATON_FIELD_PTR_BITS:
        rv = enc_field_ptr(b, *(void *const *)at, (*(const CK_ULONG *)(base + f->aux) + 7) / 8);
        break;
      case CRATON_FIELD_PTR_FIXED: rv = enc_field_ptr(b, *(void *const *)at, f->aux); break;
      case CRATON_FIELD_STRUCT_PTR: {
        const uint8_t *nested = *(const uint8_t *const *)at;
        craton_buf_u8(b, nested != NULL);
        if (nested) {
          if (depth >= MAX_NESTING) return CRATON_RV_ARGUMENTS_BAD;
          rv = enc_struct(b, f->nested, nested, depth + 1);
        }
        break;
      }
      case CRATON_FIELD_STRUCT_ARRAY: {
        const uint8_t *array = *(const uint8_t *const *)at;
        CK_ULONG count = *(const CK_ULONG *)(base + f->aux);
        craton_buf_u8(b, array != NULL);
        craton_buf_u64(b, count);
        if (array) {
          if (depth >= MAX_NESTING || !array_fits(f->nested, count)) return CRATON_RV_ARGUMENTS_BAD;
          size_t size = craton_structs[f->nested].size;
          for (CK_ULONG j = 0; j < count && rv == CRATON_RV_OK; j++) rv = enc_struct(b, f->nested, array + j * size, depth + 1);
        }
        break;
      }
      case CRATON_FIELD_TEMPLATE: {
        const CK_ATTRIBUTE *t = *(const CK_ATTRIBUTE *const *)at;
        CK_ULONG count = *(const CK_ULONG *)(base + f->aux);
        craton_buf_u8(b, t != NULL);
        if (t) rv = enc_template(b, t, count, 0);
        else craton_buf_u64(b, count);
        break;
      }
      case CRATON_FIELD_CHOICE_PTR:
        rv = enc_param(b, choice_struct(f, base), *(void *const *)at, *(const CK_ULONG *)(base + f->aux), depth + 1);
        break;
      case CRATON_FIELD_OUT_ULONG: craton_buf_u8(b, *(void *const *)at != NULL); break;
      default: return CRATON_RV_GENERAL_ERROR;
    }
    if (rv != CRATON_RV_OK) return rv;
  }
  return CRATON_RV_OK;
}

/* A mechanism parameter, a message parameter or a choice_ptr's pointee: NULL,
 * raw bytes, or a known structure (nested `depth` deep). */
static CK_RV enc_param(craton_buf *b, int struct_id, const void *p, CK_ULONG len, int depth) {
  if (!p) {
    craton_buf_u8(b, VK_NULL);
    craton_buf_u64(b, len);
    return CRATON_RV_OK;
  }
  if (struct_id < 0) {
    craton_buf_u8(b, VK_RAW);
    craton_buf_u64(b, len);
    return put_caller_bytes(b, p, len);
  }
  if (len != craton_structs[struct_id].size) {
    craton_buf_u8(b, VK_MALFORMED);
    craton_buf_u64(b, len);
    return CRATON_RV_OK;
  }
  if (depth > MAX_NESTING) return CRATON_RV_ARGUMENTS_BAD;
  craton_buf_u8(b, VK_STRUCT);
  craton_buf_u64(b, len);
  craton_buf_u16(b, (uint16_t)struct_id);
  return enc_struct(b, struct_id, p, depth);
}

static CK_RV enc_attribute(craton_buf *b, const CK_ATTRIBUTE *a, int depth) {
  craton_buf_u64(b, a->type);
  if (!a->pValue) {
    craton_buf_u8(b, VK_NULL);
    craton_buf_u64(b, a->ulValueLen);
    return CRATON_RV_OK;
  }
  switch (attribute_kind(a->type)) {
    case CRATON_ATTR_ULONG:
      if (a->ulValueLen != sizeof(CK_ULONG)) break;
      craton_buf_u8(b, VK_ULONG);
      craton_buf_u64(b, a->ulValueLen);
      craton_buf_u64(b, *(const CK_ULONG *)a->pValue);
      return CRATON_RV_OK;
    case CRATON_ATTR_ATTRS:
      if (a->ulValueLen % sizeof(CK_ATTRIBUTE) != 0 || depth >= MAX_NESTING) break;
      craton_buf_u8(b, VK_ATTRS);
      craton_buf_u64(b, a->ulValueLen);
      return enc_template(b, a->pValue, a->ulValueLen / sizeof(CK_ATTRIBUTE), depth + 1);
    case CRATON_ATTR_MECHS: {
      if (a->ulValueLen % sizeof(CK_ULONG) != 0) break;
      CK_ULONG n = a->ulValueLen / sizeof(CK_ULONG);
      craton_buf_u8(b, VK_MECHS);
      craton_buf_u64(b, a->ulValueLen);
      craton_buf_u64(b, n);
      for (CK_ULONG i = 0; i < n; i++) craton_buf_u64(b, ((const CK_ULONG *)a->pValue)[i]);
      return CRATON_RV_OK;
    }
    default:
      craton_buf_u8(b, VK_RAW);
      craton_buf_u64(b, a->ulValueLen);
      return put_caller_bytes(b, a->pValue, a->ulValueLen);
  }
  craton_buf_u8(b, VK_MALFORMED);
  craton_buf_u64(b, a->ulValueLen);
  return CRATON_RV_OK;
}

static CK_RV enc_template(craton_buf *b, const CK_ATTRIBUTE *t, CK_ULONG count, int depth) {
  if (count > CRATON_WIRE_MAX_FRAME / sizeof(CK_ATTRIBUTE)) return CRATON_RV_ARGUMENTS_BAD;
  craton_buf_u64(b, count);
  for (CK_ULONG i = 0; i < count; i++) {
    CK_RV rv = enc_attribute(b, &t[i], depth);
    if (rv != CRATON_RV_OK) return rv;
  }
  return CRATON_RV_OK;
}

/* The value kind a C_GetAttributeValue slot will be filled with. */
static uint8_t get_slot_kind(const CK_ATTRIBUTE *a, int depth) {
  switch (attribute_kind(a->type)) {
    case CRATON_ATTR_ULONG: return VK_ULONG;
    case CRATON_ATTR_MECHS: return VK_MECHS;
    case CRATON_ATTR_ATTRS:
      if (a->pValue && (a->ulValueLen % sizeof(CK_ATTRIBUTE) != 0 || depth >= MAX_NESTING)) return VK_MALFORMED;
      return VK_ATTRS;
    default: return VK_RAW;
  }
}

static CK_RV enc_get_template(craton_buf *b, const CK_ATTRIBUTE *t, CK_ULONG count, int depth) {
  if (count > CRATON_WIRE_MAX_FRAME / sizeof(CK_ATTRIBUTE)) return CRATON_RV_ARGUMENTS_BAD;
  craton_buf_u64(b, count);
  for (CK_ULONG i = 0; i < count; i++) {
    const CK_ATTRIBUTE *a = &t[i];
    uint8_t kind = get_slot_kind(a, depth);
    craton_buf_u64(b, a->type);
    craton_buf_u8(b, kind);
    craton_buf_u8(b, a->pValue != NULL);
    craton_buf_u64(b, a->ulValueLen);
    if (kind == VK_ATTRS && a->pValue) {
      CK_RV rv = enc_get_template(b, a->pValue, a->ulValueLen / sizeof(CK_ATTRIBUTE), depth + 1);
      if (rv != CRATON_RV_OK) return rv;
    }
  }
  return CRATON_RV_OK;
}

static void enc_init_args(craton_buf *b, const CK_C_INITIALIZE_ARGS *a) {
  craton_buf_u8(b, a != NULL);
  if (!a) return;
  craton_buf_u8(b, a->CreateMutex != NULL);
  craton_buf_u8(b, a->DestroyMutex != NULL);
  craton_buf_u8(b, a->LockMutex != NULL);
  craton_buf_u8(b, a->UnlockMutex != NULL);
  craton_buf_u64(b, a->flags);
  craton_buf_u8(b, a->pReserved != NULL);
}

static int message_struct(const craton_function_desc *fn, void **argv, const craton_arg_desc *arg) {
  CK_ULONG mech;
  if (fn->arg_count == 0 || fn->args[0].kind != CRATON_ARG_ULONG) return -1;
  if (!craton_message_mechanism(ARG(CK_ULONG, 0), arg->aux, &mech)) return -1;
  return struct_for(craton_message_mechanisms, craton_message_mechanism_count, mech);
}

CK_RV craton_encode_request(craton_buf *b, const craton_function_desc *fn, void **argv, uint8_t iface,
                            uint32_t request_id) {
  craton_header h = {CRATON_FRAME_REQUEST, iface, request_id, fn->id, 0};
  craton_write_header(b, &h);
  size_t c = 0; /* index of the next C parameter */
  for (size_t i = 0; i < fn->arg_count; i++) {
    const craton_arg_desc *arg = &fn->args[i];
    CK_RV rv = CRATON_RV_OK;
    switch (arg->kind) {
      case CRATON_ARG_ULONG: craton_buf_u64(b, ARG(CK_ULONG, c)); c += 1; break;
      case CRATON_ARG_BBOOL: craton_buf_u8(b, ARG(CK_BBOOL, c)); c += 1; break;
      case CRATON_ARG_IN_BYTES: rv = enc_field_ptr(b, ARG(void *, c), ARG(CK_ULONG, c + 1)); c += 2; break;
      case CRATON_ARG_OUT_BYTES:
      case CRATON_ARG_OUT_ULONGS: {
        CK_ULONG *len = ARG(CK_ULONG *, c + 1);
        craton_buf_u8(b, len != NULL);
        craton_buf_u8(b, ARG(void *, c) != NULL);
        craton_buf_u64(b, len ? *len : 0);
        c += 2;
        break;
      }
      case CRATON_ARG_OUT_FIXED:
        craton_buf_u8(b, ARG(void *, c) != NULL);
        craton_buf_u64(b, ARG(CK_ULONG, c + 1));
        c += 2;
        break;
      case CRATON_ARG_OUT_ULONG:
      case CRATON_ARG_OUT_STRUCT:
      case CRATON_ARG_OPAQUE_PTR: craton_buf_u8(b, ARG(void *, c) != NULL); c += 1; break;
      case CRATON_ARG_OUT_HANDLE_ARRAY:
        craton_buf_u8(b, ARG(void *, c) != NULL);
        craton_buf_u64(b, ARG(CK_ULONG, c + 1));
        craton_buf_u8(b, ARG(void *, c + 2) != NULL);
        c += 3;
        break;
      case CRATON_ARG_IN_TEMPLATE:
      case CRATON_ARG_GET_TEMPLATE: {
        const CK_ATTRIBUTE *t = ARG(CK_ATTRIBUTE *, c);
        CK_ULONG count = ARG(CK_ULONG, c + 1);
        craton_buf_u8(b, t != NULL);
        if (t) rv = arg->kind == CRATON_ARG_IN_TEMPLATE ? enc_template(b, t, count, 0) : enc_get_template(b, t, count, 0);
        else craton_buf_u64(b, count);
        c += 2;
        break;
      }
      case CRATON_ARG_MECHANISM: {
        const CK_MECHANISM *m = ARG(CK_MECHANISM *, c);
        craton_buf_u8(b, m != NULL);
        if (m) {
          craton_buf_u64(b, m->mechanism);
          int id = struct_for(craton_param_mechanisms, craton_param_mechanism_count, m->mechanism);
          rv = enc_param(b, id, m->pParameter, m->ulParameterLen, 0);
        }
        c += 1;
        break;
      }
      case CRATON_ARG_MSG_PARAM:
        rv = enc_param(b, message_struct(fn, argv, arg), ARG(void *, c), ARG(CK_ULONG, c + 1), 0);
        c += 2;
        break;
      case CRATON_ARG_IN_LABEL32: {
        const CK_UTF8CHAR *label = ARG(CK_UTF8CHAR *, c);
        craton_buf_u8(b, label != NULL);
        if (label) craton_buf_bytes(b, label, 32);
        c += 1;
        break;
      }
      case CRATON_ARG_INIT_ARGS: enc_init_args(b, ARG(CK_C_INITIALIZE_ARGS *, c)); c += 1; break;
      default: return CRATON_RV_GENERAL_ERROR;
    }
    if (rv != CRATON_RV_OK) return rv;
  }
  if (b->failed) return CRATON_RV_HOST_MEMORY;
  craton_finish_frame(b);
  return CRATON_RV_OK;
}

/* ------------------------------------------------------------------ decode */
/* Every write is checked against what the caller said it can hold; a reply
 * that asks for more is a protocol fault (CKR_DEVICE_ERROR), never an overflow.
 * A reply is decoded twice: first with write = 0, which checks all of it, and
 * only if that passes with write = 1. So a rejected reply writes nothing. */

#define FAIL_IF(cond) \
  do {                \
    if (cond) return 0; \
  } while (0)

static int dec_length_and_bytes(craton_reader *r, void *buf, CK_ULONG *len_ptr, CK_ULONG capacity, int write) {
  uint8_t action = craton_rd_u8(r);
  uint64_t n = craton_rd_u64(r);
  FAIL_IF(r->failed || action > ACT_DATA);
  if (action == ACT_NONE) return 1;
  FAIL_IF(!len_ptr);
  if (action == ACT_DATA) {
    const uint8_t *src = craton_rd_bytes(r, n);
    FAIL_IF(!src || n > capacity || (n > 0 && !buf));
    if (write && n > 0) memcpy(buf, src, (size_t)n);
  }
  if (write) *len_ptr = (CK_ULONG)n;
  return 1;
}

static int dec_ulongs(craton_reader *r, CK_ULONG *out, CK_ULONG *count_ptr, CK_ULONG capacity, int write) {
  uint8_t action = craton_rd_u8(r);
  uint64_t n = craton_rd_u64(r);
  FAIL_IF(r->failed || action > ACT_DATA);
  if (action == ACT_NONE) return 1;
  FAIL_IF(!count_ptr);
  if (action == ACT_DATA) {
    FAIL_IF(!out || n > capacity);
    for (uint64_t i = 0; i < n; i++) {
      CK_ULONG v = (CK_ULONG)craton_rd_u64(r);
      if (write) out[i] = v;
    }
    FAIL_IF(r->failed);
  }
  if (write) *count_ptr = (CK_ULONG)n;
  return 1;
}

static int dec_get_template(craton_reader *r, CK_ATTRIBUTE *t, CK_ULONG count, int depth, int write) {
  for (CK_ULONG i = 0; i < count; i++) {
    CK_ATTRIBUTE *a = &t[i];
    uint8_t kind = get_slot_kind(a, depth);
    if (depth > 0) {
      /* Entries of a nested template learn their type from the module, but a
       * value is only ever written into a buffer the caller sized for that
       * same type (learnt in an earlier call), and never as a deeper template. */
      CK_ULONG type = (CK_ULONG)craton_rd_u64(r);
      FAIL_IF(r->failed || (a->pValue && type != a->type) || kind == VK_ATTRS);
      if (write) a->type = type;
    }
    uint64_t len = craton_rd_u64(r);
    uint8_t has_value = craton_rd_u8(r);
    FAIL_IF(r->failed);
    if (has_value) {
      FAIL_IF(!a->pValue || kind == VK_MALFORMED);
      switch (kind) {
        case VK_ULONG:
          FAIL_IF(a->ulValueLen < sizeof(CK_ULONG));
          {
            CK_ULONG v = (CK_ULONG)craton_rd_u64(r);
            if (write) *(CK_ULONG *)a->pValue = v;
          }
          break;
        case VK_MECHS: {
          uint64_t n = craton_rd_u64(r);
          FAIL_IF(r->failed || n > a->ulValueLen / sizeof(CK_ULONG));
          for (uint64_t j = 0; j < n; j++) {
            CK_ULONG v = (CK_ULONG)craton_rd_u64(r);
            if (write) ((CK_ULONG *)a->pValue)[j] = v;
          }
          break;
        }
        case VK_ATTRS: {
          uint64_t n = craton_rd_u64(r);
          FAIL_IF(r->failed || n > a->ulValueLen / sizeof(CK_ATTRIBUTE));
          FAIL_IF(!dec_get_template(r, a->pValue, (CK_ULONG)n, depth + 1, write));
          break;
        }
        default: {
          const uint8_t *src = craton_rd_bytes(r, len);
          FAIL_IF(!src || len > a->ulValueLen);
          if (write) memcpy(a->pValue, src, (size_t)len);
        }
      }
      FAIL_IF(r->failed);
    }
    if (write) a->ulValueLen = (CK_ULONG)len;
  }
  return 1;
}

/* Where a write-back lands: the caller's pointer, how many bytes it holds, and the field's form. */
typedef struct writeback_target {
  uint8_t *ptr;
  uint64_t capacity;
  uint8_t form;
} writeback_target;

/* Locates field number `index` of a structure, counting depth-first: each
 * field, then the fields of what it points to (a nested structure, each
 * element of a structure array, a choice_ptr's structure) in order, exactly
 * as the request encoded them. Returns 1 when found, 0 when the index lies
 * beyond this structure, and -1 when it names a field the module may not write. */
static int find_inout_field(int id, uint8_t *base, unsigned *index, writeback_target *t, int depth) {
  const craton_struct_desc *s = &craton_structs[id];
  for (size_t i = 0; i < s->field_count; i++) {
    const craton_field_desc *f = &s->fields[i];
    uint8_t *at = base + f->offset;
    if (*index == 0) {
      if (!f->inout) return -1;
      t->ptr = *(uint8_t **)at;
      t->form = f->form;
      switch (f->form) {
        case CRATON_FIELD_PTR: t->capacity = *(CK_ULONG *)(base + f->aux); break;
        /* The same rounding as the request's length, so both sides agree on the buffer. */
        case CRATON_FIELD_PTR_BITS: t->capacity = (*(CK_ULONG *)(base + f->aux) + 7) / 8; break;
        case CRATON_FIELD_PTR_FIXED: t->capacity = f->aux; break;
        case CRATON_FIELD_OUT_ULONG: t->capacity = sizeof(CK_ULONG); break;
        default: return -1;
      }
      return 1;
    }
    (*index)--;
    int found = 0;
    uint8_t *nested = NULL;
    if (depth < MAX_NESTING) {
      switch (f->form) {
        case CRATON_FIELD_STRUCT_PTR:
          if ((nested = *(uint8_t **)at)) found = find_inout_field(f->nested, nested, index, t, depth + 1);
          break;
        case CRATON_FIELD_STRUCT_ARRAY: {
          CK_ULONG count = *(CK_ULONG *)(base + f->aux);
          size_t size = craton_structs[f->nested].size;
          if (!(nested = *(uint8_t **)at) || !array_fits(f->nested, count)) break;
          /* Each element walked consumes at least one index, so this ends within 2^16 elements. */
          for (CK_ULONG j = 0; j < count && found == 0; j++) found = find_inout_field(f->nested, nested + j * size, index, t, depth + 1);
          break;
        }
        case CRATON_FIELD_CHOICE_PTR: {
          int chosen = choice_struct(f, base);
          if ((nested = *(uint8_t **)at) && chosen >= 0 && *(CK_ULONG *)(base + f->aux) == craton_structs[chosen].size)
            found = find_inout_field(chosen, nested, index, t, depth + 1);
          break;
        }
        default: break;
      }
    }
    if (found != 0) return found;
  }
  return 0;
}

static int dec_writebacks(craton_reader *r, int struct_id, void *param, CK_ULONG param_len, int write) {
  uint32_t n = craton_rd_u32(r);
  FAIL_IF(r->failed);
  for (uint32_t i = 0; i < n; i++) {
    unsigned index = craton_rd_u16(r);
    uint64_t len = craton_rd_u64(r);
    const uint8_t *src = craton_rd_bytes(r, len);
    FAIL_IF(!src || struct_id < 0 || !param || param_len != craton_structs[struct_id].size);
    writeback_target t = {NULL, 0, 0};
    FAIL_IF(find_inout_field(struct_id, param, &index, &t, 0) != 1);
    FAIL_IF(!t.ptr);
    if (t.form == CRATON_FIELD_OUT_ULONG) {
      /* A u64 on the wire, stored in the caller's CK_ULONG width only if it fits. */
      FAIL_IF(len != 8);
      uint64_t v = 0;
      for (int k = 7; k >= 0; k--) v = v << 8 | src[k];
      FAIL_IF(v > (uint64_t)(CK_ULONG)~(CK_ULONG)0);
      if (write) *(CK_ULONG *)t.ptr = (CK_ULONG)v;
      continue;
    }
    FAIL_IF(len > t.capacity);
    if (write) memcpy(t.ptr, src, (size_t)len);
  }
  return 1;
}

static int dec_out_struct(craton_reader *r, int id, uint8_t *base, int write) {
  uint8_t action = craton_rd_u8(r);
  FAIL_IF(r->failed || action > 1);
  if (!action) return 1;
  FAIL_IF(!base);
  const craton_struct_desc *s = &craton_structs[id];
  for (size_t i = 0; i < s->field_count; i++) {
    const craton_field_desc *f = &s->fields[i];
    uint8_t *at = base + f->offset;
    switch (f->form) {
      case CRATON_FIELD_ULONG: {
        CK_ULONG v = (CK_ULONG)craton_rd_u64(r);
        if (write) *(CK_ULONG *)at = v;
        break;
      }
      case CRATON_FIELD_VERSION: {
        CK_VERSION v = {craton_rd_u8(r), craton_rd_u8(r)};
        if (write) *(CK_VERSION *)at = v;
        break;
      }
      case CRATON_FIELD_CHARS: {
        const uint8_t *src = craton_rd_bytes(r, f->aux);
        FAIL_IF(!src);
        if (write) memcpy(at, src, f->aux);
        break;
      }
      default: return 0;
    }
    FAIL_IF(r->failed);
  }
  return 1;
}

static int dec_args(craton_reader *r, const craton_function_desc *fn, void **argv, int write) {
  size_t c = 0;
  for (size_t i = 0; i < fn->arg_count; i++) {
    const craton_arg_desc *arg = &fn->args[i];
    switch (arg->kind) {
      case CRATON_ARG_ULONG:
      case CRATON_ARG_BBOOL:
      case CRATON_ARG_OPAQUE_PTR:
      case CRATON_ARG_IN_LABEL32:
      case CRATON_ARG_INIT_ARGS: c += 1; break;
      case CRATON_ARG_IN_BYTES:
      case CRATON_ARG_IN_TEMPLATE: c += 2; break;
      case CRATON_ARG_OUT_BYTES: {
        CK_ULONG *len = ARG(CK_ULONG *, c + 1);
        FAIL_IF(!dec_length_and_bytes(r, ARG(void *, c), len, len ? *len : 0, write));
        c += 2;
        break;
      }
      case CRATON_ARG_OUT_FIXED: {
        CK_ULONG capacity = ARG(CK_ULONG, c + 1);
        CK_ULONG written = capacity;
        FAIL_IF(!dec_length_and_bytes(r, ARG(void *, c), &written, capacity, write));
        c += 2;
        break;
      }
      case CRATON_ARG_OUT_ULONG: {
        uint8_t action = craton_rd_u8(r);
        uint64_t v = craton_rd_u64(r);
        FAIL_IF(r->failed || action > 1);
        if (action) {
          FAIL_IF(!ARG(CK_ULONG *, c));
          if (write) *ARG(CK_ULONG *, c) = (CK_ULONG)v;
        }
        c += 1;
        break;
      }
      case CRATON_ARG_OUT_ULONGS: {
        CK_ULONG *count = ARG(CK_ULONG *, c + 1);
        FAIL_IF(!dec_ulongs(r, ARG(CK_ULONG *, c), count, count ? *count : 0, write));
        c += 2;
        break;
      }
      case CRATON_ARG_OUT_HANDLE_ARRAY:
        FAIL_IF(!dec_ulongs(r, ARG(CK_ULONG *, c), ARG(CK_ULONG *, c + 2), ARG(CK_ULONG, c + 1), write));
        c += 3;
        break;
      case CRATON_ARG_GET_TEMPLATE: {
        uint8_t action = craton_rd_u8(r);
        FAIL_IF(r->failed || action > 1);
        if (action) {
          FAIL_IF(!ARG(CK_ATTRIBUTE *, c));
          FAIL_IF(!dec_get_template(r, ARG(CK_ATTRIBUTE *, c), ARG(CK_ULONG, c + 1), 0, write));
        }
        c += 2;
        break;
      }
      case CRATON_ARG_MECHANISM: {
        CK_MECHANISM *m = ARG(CK_MECHANISM *, c);
        int id = m ? struct_for(craton_param_mechanisms, craton_param_mechanism_count, m->mechanism) : -1;
        FAIL_IF(!dec_writebacks(r, id, m ? m->pParameter : NULL, m ? m->ulParameterLen : 0, write));
        c += 1;
        break;
      }
      case CRATON_ARG_MSG_PARAM:
        FAIL_IF(!dec_writebacks(r, message_struct(fn, argv, arg), ARG(void *, c), ARG(CK_ULONG, c + 1), write));
        c += 2;
        break;
      case CRATON_ARG_OUT_STRUCT:
        FAIL_IF(!dec_out_struct(r, arg->aux, ARG(uint8_t *, c), write));
        c += 1;
        break;
      default: return 0;
    }
  }
  return !r->failed;
}

CK_RV craton_decode_reply(const uint8_t *frame, size_t len, const craton_function_desc *fn, void **argv,
                          uint32_t request_id) {
  craton_header h;
  if (len < CRATON_WIRE_HEADER_SIZE || craton_parse_header(frame, &h) != 0) return CRATON_RV_DEVICE_ERROR;
  if (h.kind != CRATON_FRAME_REPLY || h.request_id != request_id || h.function_id != fn->id ||
      h.payload_len != len - CRATON_WIRE_HEADER_SIZE)
    return CRATON_RV_DEVICE_ERROR;
  for (int write = 0; write <= 1; write++) {
    craton_reader r;
    craton_reader_init(&r, frame + CRATON_WIRE_HEADER_SIZE, h.payload_len);
    (void)craton_rd_u64(&r);
    if (r.failed || !dec_args(&r, fn, argv, write) || r.left != 0) return CRATON_RV_DEVICE_ERROR;
  }
  craton_reader r;
  craton_reader_init(&r, frame + CRATON_WIRE_HEADER_SIZE, h.payload_len);
  return (CK_RV)craton_rd_u64(&r);
}
