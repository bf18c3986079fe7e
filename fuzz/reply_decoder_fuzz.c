/* libFuzzer target for the shim's reply decoder (shim/marshal.c,
 * craton_decode_reply): the bytes a runtime sends back must never make the
 * shim write outside the memory the caller handed it, whatever they are.
 *
 * Input layout:
 *   [0]     function selector (index into the functions that have arguments)
 *   [1]     flags: bit0 = the rest is a whole frame (header fuzzing),
 *                  bit1 = 3.0 interface, bit2 = "full" caller (every pointer
 *                  set, fixed capacities: what the seed corpus uses)
 *   [2..9]  seed for the caller's arguments (NULLs, capacities, templates)
 *   [10..]  reply payload; a valid header is put in front of it
 *
 * Every caller buffer sits between canary bytes and is checked after the
 * call; the caller's argument values, CK_MECHANISM, parameter structures
 * and input templates are snapshotted and compared. ASan catches the rest.
 *
 * Built by fuzz/build.sh. With -DCRATON_FUZZ_SEEDGEN it is instead a program
 * that writes a valid reply per function into the directory given as argv[1]. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marshal.h"

/* ------------------------------------------------------------------ stubs */
/* The generated table's entry points call into module.c, which is not linked. */

static CK_ULONG g_msg_mech;
static int g_msg_mech_set;

CK_RV craton_call(const craton_function_desc *fn, void **argv, int iface) {
  (void)fn; (void)argv; (void)iface;
  return CRATON_RV_GENERAL_ERROR;
}
int craton_message_mechanism(CK_ULONG session, int op, CK_ULONG *mechanism) {
  (void)session; (void)op;
  if (!g_msg_mech_set) return 0;
  *mechanism = g_msg_mech;
  return 1;
}
CK_RV C_GetFunctionList(CK_FUNCTION_LIST **p) { (void)p; return CRATON_RV_GENERAL_ERROR; }
CK_RV C_GetInterfaceList(CK_INTERFACE_PTR p, CK_ULONG_PTR n) { (void)p; (void)n; return CRATON_RV_GENERAL_ERROR; }
CK_RV C_GetInterface(CK_UTF8CHAR_PTR a, CK_VERSION_PTR b, CK_INTERFACE_PTR *c, CK_FLAGS d) {
  (void)a; (void)b; (void)c; (void)d;
  return CRATON_RV_GENERAL_ERROR;
}

/* --------------------------------------------------------- guarded memory */

#define GUARD 32
#define GUARD_BYTE 0xCB
#define MAX_BLOCKS 512

typedef struct block {
  uint8_t *base; /* malloc'ed: GUARD | body | GUARD */
  size_t size;
  uint8_t *snapshot; /* immutable blocks: the body must come back unchanged */
  const char *what;
} block;

static block g_blocks[MAX_BLOCKS];
static int g_nblocks;

static void die(const char *what, const char *detail) {
  fprintf(stderr, "reply_decoder_fuzz: %s: %s\n", what, detail);
  abort();
}

static void *guarded(size_t size, int fill, const char *what) {
  if (g_nblocks == MAX_BLOCKS) die("harness", "too many blocks");
  uint8_t *base = malloc(size + 2 * GUARD);
  if (!base) die("harness", "out of memory");
  memset(base, GUARD_BYTE, GUARD);
  memset(base + GUARD, fill, size);
  memset(base + GUARD + size, GUARD_BYTE, GUARD);
  g_blocks[g_nblocks++] = (block){base, size, NULL, what};
  return base + GUARD;
}

static void freeze(void *body) {
  for (int i = g_nblocks - 1; i >= 0; i--) {
    if (g_blocks[i].base + GUARD == (uint8_t *)body) {
      g_blocks[i].snapshot = malloc(g_blocks[i].size ? g_blocks[i].size : 1);
      memcpy(g_blocks[i].snapshot, body, g_blocks[i].size);
      return;
    }
  }
}

static void check_and_free_blocks(void) {
  for (int i = 0; i < g_nblocks; i++) {
    block *b = &g_blocks[i];
    for (size_t j = 0; j < GUARD; j++) {
      if (b->base[j] != GUARD_BYTE) die("write before a caller buffer", b->what);
      if (b->base[GUARD + b->size + j] != GUARD_BYTE) die("write past a caller buffer", b->what);
    }
    if (b->snapshot && memcmp(b->snapshot, b->base + GUARD, b->size) != 0) die("caller input memory changed", b->what);
    free(b->snapshot);
    free(b->base);
  }
  g_nblocks = 0;
}

/* ------------------------------------------------------------------ caller */

static uint64_t g_rng;
static int g_full;
static uint8_t g_fill;

static uint64_t rnd(void) {
  uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static unsigned below(unsigned n) { return n ? (unsigned)(rnd() % n) : 0; }
static int chance(unsigned pct) { return below(100) < pct; }
/* A pointer argument: NULL one time in five, unless the caller is "full". */
static int present(void) { return g_full || !chance(20); }
static CK_ULONG capacity(void) {
  static const CK_ULONG caps[] = {0, 1, 2, 3, 7, 8, 15, 16, 24, 31, 32, 33, 48, 64};
  return g_full ? 32 : caps[below(sizeof caps / sizeof caps[0])];
}

typedef union slot {
  CK_ULONG ul;
  CK_BBOOL b;
  void *p;
} slot;

#define MAX_C_ARGS 16
static slot g_slots[MAX_C_ARGS], g_slots_before[MAX_C_ARGS];

/* Templates whose type and pValue fields must come back unchanged. */
typedef struct tmpl_ref {
  CK_ATTRIBUTE *t;
  CK_ULONG n;
  int nested; /* entries of a nested template get their type from the module */
  CK_ATTRIBUTE before[8];
} tmpl_ref;
static tmpl_ref g_tmpls[32];
static int g_ntmpls;

static void *build_struct(int id, int depth);
static void fill_struct(int id, uint8_t *base, int depth);

/* An input template the caller owns: attribute values the decoder must never touch. */
static CK_ATTRIBUTE *build_in_template(CK_ULONG n) {
  CK_ATTRIBUTE *t = guarded(n * sizeof(CK_ATTRIBUTE), 0, "input template");
  for (CK_ULONG j = 0; j < n; j++) {
    t[j].type = 0x3;
    t[j].ulValueLen = 4;
    t[j].pValue = guarded(4, 0x22, "input attribute value");
    freeze(t[j].pValue);
  }
  freeze(t);
  return t;
}

static void *build_struct(int id, int depth) {
  uint8_t *base = guarded(craton_structs[id].size, g_fill, craton_structs[id].name);
  fill_struct(id, base, depth);
  freeze(base);
  return base;
}

static void fill_struct(int id, uint8_t *base, int depth) {
  const craton_struct_desc *s = &craton_structs[id];
  for (size_t i = 0; i < s->field_count; i++) {
    const craton_field_desc *f = &s->fields[i];
    uint8_t *at = base + f->offset;
    switch (f->form) {
      case CRATON_FIELD_ULONG: *(CK_ULONG *)at = g_full ? 16 : (chance(5) ? (CK_ULONG)rnd() : below(41)); break;
      case CRATON_FIELD_BBOOL: *(CK_BBOOL *)at = (CK_BBOOL)below(2); break;
      default: break;
    }
  }
  for (size_t i = 0; i < s->field_count; i++) {
    const craton_field_desc *f = &s->fields[i];
    uint8_t *at = base + f->offset;
    switch (f->form) {
      case CRATON_FIELD_PTR:
      case CRATON_FIELD_PTR_BITS:
      case CRATON_FIELD_PTR_FIXED: {
        CK_ULONG n = f->form == CRATON_FIELD_PTR_FIXED ? f->aux : *(CK_ULONG *)(base + f->aux);
        if (f->form == CRATON_FIELD_PTR_BITS) n = (n + 7) / 8;
        if (n > 4096) n = 0, *(CK_ULONG *)(base + f->aux) = 0; /* keep the caller honest */
        *(void **)at = present() ? guarded(n, g_fill, f->inout ? "in/out parameter buffer" : "parameter buffer") : NULL;
        if (*(void **)at && !f->inout) freeze(*(void **)at);
        break;
      }
      case CRATON_FIELD_STRUCT_PTR:
        *(void **)at = depth < 3 && present() ? build_struct(f->nested, depth + 1) : NULL;
        break;
      case CRATON_FIELD_STRUCT_ARRAY: {
        /* A caller's array really holds its count of elements (a small one). */
        CK_ULONG *count = (CK_ULONG *)(base + f->aux);
        *count = g_full ? 2 : *count % 4;
        size_t size = craton_structs[f->nested].size;
        uint8_t *array = depth < 3 && present() ? guarded(*count * size, g_fill, "structure array") : NULL;
        for (CK_ULONG j = 0; array && j < *count; j++) fill_struct(f->nested, array + j * size, depth + 1);
        if (array) freeze(array);
        *(void **)at = array;
        break;
      }
      case CRATON_FIELD_TEMPLATE: {
        CK_ULONG *count = (CK_ULONG *)(base + f->aux);
        *count = g_full ? 1 : *count % 3;
        *(void **)at = present() ? build_in_template(*count) : NULL;
        break;
      }
      case CRATON_FIELD_CHOICE_PTR: {
        CK_ULONG *selector = (CK_ULONG *)(base + f->selector), *len = (CK_ULONG *)(base + f->aux);
        if (f->choice_count && (g_full || chance(70))) {
          const craton_mech_struct *choice = &f->choices[g_full ? 0 : below(f->choice_count)];
          *selector = choice->mechanism;
          *len = craton_structs[choice->struct_id].size - (!g_full && chance(10) ? 1 : 0);
          *(void **)at = depth < 3 && present() ? build_struct(choice->struct_id, depth + 1) : NULL;
        } else {
          *len = capacity();
          *(void **)at = present() ? guarded(*len, 0x66, "raw choice_ptr value") : NULL;
          if (*(void **)at) freeze(*(void **)at);
        }
        break;
      }
      case CRATON_FIELD_OUT_ULONG:
        *(void **)at = present() ? guarded(sizeof(CK_ULONG), g_fill, "CK_ULONG out field") : NULL;
        break;
      default: break;
    }
  }
}

static CK_ULONG pick_attr_type(int kind) {
  /* One type of the wanted kind from the generated table (kind 0: a raw one). */
  static const CK_ULONG raw[] = {0x3 /* CKA_LABEL */, 0x11 /* CKA_VALUE */, 0x102 /* CKA_ID */, 0x8ABCDEF0UL};
  if (kind == CRATON_ATTR_RAW) return raw[below(4)];
  CK_ULONG found[64];
  unsigned n = 0;
  for (size_t i = 0; i < craton_attribute_kind_count && n < 64; i++)
    if (craton_attribute_kinds[i].kind == kind) found[n++] = craton_attribute_kinds[i].type;
  return n ? found[below(n)] : 0;
}

static CK_ATTRIBUTE *build_get_template(CK_ULONG n, int depth);

static void fill_get_attribute(CK_ATTRIBUTE *a, int kind, int depth) {
  a->type = pick_attr_type(kind);
  switch (kind) {
    case CRATON_ATTR_ULONG:
      a->ulValueLen = g_full ? sizeof(CK_ULONG) : (CK_ULONG[]){0, 4, 7, 8, 16}[below(5)];
      break;
    case CRATON_ATTR_MECHS:
      a->ulValueLen = g_full ? 4 * sizeof(CK_ULONG) : below(5) * sizeof(CK_ULONG) + (chance(10) ? 3 : 0);
      break;
    case CRATON_ATTR_ATTRS: {
      CK_ULONG inner = g_full ? 2 : below(4);
      a->ulValueLen = inner * sizeof(CK_ATTRIBUTE) + (!g_full && chance(10) ? 5 : 0);
      if (depth < 2 && present()) {
        a->pValue = build_get_template(inner, depth + 1);
        return;
      }
      break;
    }
    default: a->ulValueLen = g_full ? 16 : capacity(); break;
  }
  a->pValue = present() ? guarded(a->ulValueLen, g_fill, "attribute value buffer") : NULL;
}

static CK_ATTRIBUTE *build_get_template(CK_ULONG n, int depth) {
  CK_ATTRIBUTE *t = guarded(n * sizeof(CK_ATTRIBUTE), g_fill, "CK_ATTRIBUTE array");
  for (CK_ULONG i = 0; i < n; i++) {
    int kind = g_full ? (int)(i % 4) : (int)below(4);
    /* Full mode: ULONG, RAW, MECHS, ATTRS in turn (RAW only inside nested templates). */
    static const int full_kinds[] = {CRATON_ATTR_ULONG, CRATON_ATTR_RAW, CRATON_ATTR_MECHS, CRATON_ATTR_ATTRS};
    if (g_full) kind = depth > 0 ? CRATON_ATTR_RAW : full_kinds[kind];
    else if (depth > 0 && chance(50)) kind = CRATON_ATTR_RAW;
    fill_get_attribute(&t[i], kind, depth);
    /* Callers do not know the types inside a nested template: they come back from the module. */
    if (depth > 0 && (g_full || chance(50))) t[i].type = g_full ? 0 : (CK_ULONG)rnd();
  }
  if (g_ntmpls < 32 && n <= 8) {
    tmpl_ref *r = &g_tmpls[g_ntmpls++];
    r->t = t;
    r->n = n;
    r->nested = depth > 0;
    memcpy(r->before, t, n * sizeof(CK_ATTRIBUTE));
  }
  return t;
}

static const craton_mech_struct *pick_param_mechanism(void) {
  if (g_full) {
    for (size_t i = 0; i < craton_param_mechanism_count; i++)
      if (craton_param_mechanisms[i].mechanism == 0x1087UL) return &craton_param_mechanisms[i]; /* CKM_AES_GCM */
  }
  return &craton_param_mechanisms[below((unsigned)craton_param_mechanism_count)];
}

/* Fills g_slots / argv for fn like a caller would. */
static void build_args(const craton_function_desc *fn, void **argv) {
  memset(g_slots, 0, sizeof g_slots);
  g_ntmpls = 0;
  for (int i = 0; i < MAX_C_ARGS; i++) argv[i] = &g_slots[i];
  size_t c = 0;
  g_msg_mech_set = 0;
  for (size_t i = 0; i < fn->arg_count && c < MAX_C_ARGS - 3; i++) {
    const craton_arg_desc *arg = &fn->args[i];
    switch (arg->kind) {
      case CRATON_ARG_ULONG: g_slots[c++].ul = g_full ? 1 : below(4); break;
      case CRATON_ARG_BBOOL: g_slots[c++].b = (CK_BBOOL)below(2); break;
      case CRATON_ARG_IN_BYTES: {
        CK_ULONG n = capacity();
        g_slots[c].p = present() ? guarded(n, 0x11, "input bytes") : NULL;
        if (g_slots[c].p) freeze(g_slots[c].p);
        g_slots[c + 1].ul = n;
        c += 2;
        break;
      }
      case CRATON_ARG_OUT_BYTES: {
        CK_ULONG n = capacity();
        g_slots[c].p = present() ? guarded(n, g_fill, "output buffer") : NULL;
        CK_ULONG *len = present() ? guarded(sizeof(CK_ULONG), g_fill, "output length") : NULL;
        if (len) *len = n;
        g_slots[c + 1].p = len;
        c += 2;
        break;
      }
      case CRATON_ARG_OUT_FIXED: {
        CK_ULONG n = capacity();
        g_slots[c].p = present() ? guarded(n, g_fill, "fixed output buffer") : NULL;
        g_slots[c + 1].ul = n;
        c += 2;
        break;
      }
      case CRATON_ARG_OUT_ULONG:
      case CRATON_ARG_OUT_STRUCT: {
        size_t size = arg->kind == CRATON_ARG_OUT_ULONG ? sizeof(CK_ULONG) : craton_structs[arg->aux].size;
        g_slots[c++].p = present() ? guarded(size, g_fill, arg->kind == CRATON_ARG_OUT_ULONG ? "CK_ULONG out" : "out structure") : NULL;
        break;
      }
      case CRATON_ARG_OUT_ULONGS: {
        CK_ULONG n = g_full ? 8 : below(6);
        g_slots[c].p = present() ? guarded(n * sizeof(CK_ULONG), g_fill, "CK_ULONG array") : NULL;
        CK_ULONG *count = present() ? guarded(sizeof(CK_ULONG), g_fill, "array count") : NULL;
        if (count) *count = n;
        g_slots[c + 1].p = count;
        c += 2;
        break;
      }
      case CRATON_ARG_OUT_HANDLE_ARRAY: {
        CK_ULONG n = g_full ? 8 : below(6);
        g_slots[c].p = present() ? guarded(n * sizeof(CK_ULONG), g_fill, "handle array") : NULL;
        g_slots[c + 1].ul = n;
        g_slots[c + 2].p = present() ? guarded(sizeof(CK_ULONG), g_fill, "handle count") : NULL;
        c += 3;
        break;
      }
      case CRATON_ARG_IN_TEMPLATE: {
        CK_ULONG n = g_full ? 1 : below(3);
        CK_ATTRIBUTE *t = present() ? build_in_template(n) : NULL;
        g_slots[c].p = t;
        g_slots[c + 1].ul = n;
        c += 2;
        break;
      }
      case CRATON_ARG_GET_TEMPLATE: {
        CK_ULONG n = g_full ? 4 : below(5);
        g_slots[c].p = present() ? build_get_template(n, 0) : NULL;
        g_slots[c + 1].ul = n;
        c += 2;
        break;
      }
      case CRATON_ARG_MECHANISM: {
        CK_MECHANISM *m = present() ? guarded(sizeof *m, 0, "CK_MECHANISM") : NULL;
        if (m) {
          if (g_full || chance(75)) {
            const craton_mech_struct *ms = pick_param_mechanism();
            m->mechanism = ms->mechanism;
            if (g_full || chance(85)) {
              m->pParameter = build_struct(ms->struct_id, 0);
              m->ulParameterLen = craton_structs[ms->struct_id].size - (!g_full && chance(10) ? 1 : 0);
            }
          } else {
            m->mechanism = 0x250; /* CKM_SHA256, no parameter */
            if (chance(30)) {
              m->ulParameterLen = capacity();
              m->pParameter = guarded(m->ulParameterLen, 0x33, "raw mechanism parameter");
              freeze(m->pParameter);
            }
          }
          freeze(m);
        }
        g_slots[c++].p = m;
        break;
      }
      case CRATON_ARG_MSG_PARAM: {
        int which = g_full ? 0 : (int)below(3); /* GCM, CCM, or no mechanism recorded */
        if (which < 2) {
          g_msg_mech_set = 1;
          g_msg_mech = which == 0 ? 0x1087UL : 0x1088UL;
          int id = which == 0 ? CRATON_STRUCT_CK_GCM_MESSAGE_PARAMS : CRATON_STRUCT_CK_CCM_MESSAGE_PARAMS;
          g_slots[c].p = present() ? build_struct(id, 0) : NULL;
          g_slots[c + 1].ul = craton_structs[id].size - (!g_full && chance(10) ? 1 : 0);
        } else {
          CK_ULONG n = capacity();
          g_slots[c].p = present() ? guarded(n, 0x44, "raw message parameter") : NULL;
          if (g_slots[c].p) freeze(g_slots[c].p);
          g_slots[c + 1].ul = n;
        }
        c += 2;
        break;
      }
      case CRATON_ARG_IN_LABEL32:
      case CRATON_ARG_OPAQUE_PTR: {
        void *p = present() ? guarded(32, 0x55, "opaque/label") : NULL;
        if (p) freeze(p);
        g_slots[c++].p = p;
        break;
      }
      case CRATON_ARG_INIT_ARGS: {
        void *p = present() ? guarded(sizeof(CK_C_INITIALIZE_ARGS), 0, "CK_C_INITIALIZE_ARGS") : NULL;
        if (p) freeze(p);
        g_slots[c++].p = p;
        break;
      }
      default: c++; break;
    }
  }
  memcpy(g_slots_before, g_slots, sizeof g_slots);
}

static void check_caller_state(void) {
  if (memcmp(g_slots, g_slots_before, sizeof g_slots) != 0) die("caller state", "an argument value changed");
  for (int i = 0; i < g_ntmpls; i++) {
    tmpl_ref *r = &g_tmpls[i];
    for (CK_ULONG j = 0; j < r->n; j++) {
      if (r->t[j].pValue != r->before[j].pValue) die("caller state", "a template entry's pValue changed");
      if (!r->nested && r->t[j].type != r->before[j].type) die("caller state", "a top-level template entry's type changed");
    }
  }
}

static size_t g_nfuncs;
static const craton_function_desc *g_funcs[128];

static void init_functions(void) {
  if (g_nfuncs) return;
  for (uint32_t id = 1; id <= CRATON_FN_C_MessageVerifyFinal; id++)
    if (craton_functions[id].arg_count && craton_functions[id].args) g_funcs[g_nfuncs++] = &craton_functions[id];
}

#define REQUEST_ID 0x01020304u

static void put_header(uint8_t *h, uint32_t function_id, uint8_t iface, uint32_t payload_len) {
  craton_buf b;
  craton_buf_init(&b);
  craton_header hdr = {CRATON_FRAME_REPLY, iface, REQUEST_ID, function_id, payload_len};
  craton_write_header(&b, &hdr);
  memcpy(h, b.data, CRATON_WIRE_HEADER_SIZE);
  craton_buf_free(&b);
}

/* Runs one input; returns the decoder's CK_RV. */
static CK_RV run_one(const uint8_t *data, size_t size) {
  init_functions();
  if (size < 10) return CRATON_RV_DEVICE_ERROR;
  const craton_function_desc *fn = g_funcs[data[0] % g_nfuncs];
  uint8_t flags = data[1];
  g_rng = 0;
  for (int i = 0; i < 8; i++) g_rng = (g_rng << 8) | data[2 + i];
  g_full = (flags & 4) != 0;
  g_fill = g_full ? 0 : (chance(50) ? 0xA5 : 0); /* the caller's buffers hold garbage, or zeros */
  void *argv[MAX_C_ARGS];
  build_args(fn, argv);

  const uint8_t *rest = data + 10;
  size_t rest_len = size - 10;
  size_t frame_len = (flags & 1) ? rest_len : CRATON_WIRE_HEADER_SIZE + rest_len;
  uint8_t *frame = malloc(frame_len ? frame_len : 1); /* exact size: ASan sees over-reads */
  if (flags & 1) {
    memcpy(frame, rest, rest_len);
  } else {
    put_header(frame, fn->id, (flags & 2) ? 1 : 0, (uint32_t)rest_len);
    memcpy(frame + CRATON_WIRE_HEADER_SIZE, rest, rest_len);
  }
  CK_RV rv = craton_decode_reply(frame, frame_len, fn, argv, REQUEST_ID);
  free(frame);
  check_caller_state();
  check_and_free_blocks();
  return rv;
}

#ifndef CRATON_FUZZ_SEEDGEN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  run_one(data, size);
  return 0;
}

#else /* ------------------------------------------------ seed generation */

static void enc_reply_args(craton_buf *b, const craton_function_desc *fn);

static void enc_slots(craton_buf *b, const CK_ATTRIBUTE *t, CK_ULONG n, int nested) {
  for (CK_ULONG i = 0; i < n; i++) {
    const CK_ATTRIBUTE *a = &t[i];
    CK_ULONG type = nested ? 0x3 /* CKA_LABEL */ : a->type;
    if (nested) craton_buf_u64(b, type);
    uint8_t kind = CRATON_ATTR_RAW;
    for (size_t k = 0; k < craton_attribute_kind_count; k++)
      if (craton_attribute_kinds[k].type == type) kind = craton_attribute_kinds[k].kind;
    switch (kind) {
      case CRATON_ATTR_ULONG:
        craton_buf_u64(b, sizeof(CK_ULONG));
        craton_buf_u8(b, 1);
        craton_buf_u64(b, 0x4 /* CKO_SECRET_KEY */);
        break;
      case CRATON_ATTR_MECHS:
        craton_buf_u64(b, 2 * sizeof(CK_ULONG));
        craton_buf_u8(b, 1);
        craton_buf_u64(b, 2);
        craton_buf_u64(b, 0x1087);
        craton_buf_u64(b, 0x250);
        break;
      case CRATON_ATTR_ATTRS: {
        CK_ULONG inner = a->ulValueLen / sizeof(CK_ATTRIBUTE);
        craton_buf_u64(b, inner * sizeof(CK_ATTRIBUTE));
        craton_buf_u8(b, 1);
        craton_buf_u64(b, inner);
        enc_slots(b, a->pValue, inner, 1);
        break;
      }
      default: {
        CK_ULONG len = a->ulValueLen < 5 ? a->ulValueLen : 5;
        craton_buf_u64(b, len);
        craton_buf_u8(b, 1);
        craton_buf_bytes(b, "craton", len);
      }
    }
  }
}

static void enc_reply_args(craton_buf *b, const craton_function_desc *fn) {
  size_t c = 0;
  for (size_t i = 0; i < fn->arg_count; i++) {
    const craton_arg_desc *arg = &fn->args[i];
    switch (arg->kind) {
      case CRATON_ARG_ULONG: case CRATON_ARG_BBOOL: case CRATON_ARG_OPAQUE_PTR:
      case CRATON_ARG_IN_LABEL32: case CRATON_ARG_INIT_ARGS: c += 1; break;
      case CRATON_ARG_IN_BYTES: case CRATON_ARG_IN_TEMPLATE: c += 2; break;
      case CRATON_ARG_OUT_BYTES: case CRATON_ARG_OUT_FIXED: {
        CK_ULONG n = 16;
        craton_buf_u8(b, 2);
        craton_buf_u64(b, arg->kind == CRATON_ARG_OUT_FIXED ? g_slots[c + 1].ul : n);
        for (CK_ULONG j = 0; j < (arg->kind == CRATON_ARG_OUT_FIXED ? g_slots[c + 1].ul : n); j++) craton_buf_u8(b, (uint8_t)j);
        c += 2;
        break;
      }
      case CRATON_ARG_OUT_ULONG: craton_buf_u8(b, 1); craton_buf_u64(b, 42); c += 1; break;
      case CRATON_ARG_OUT_ULONGS: case CRATON_ARG_OUT_HANDLE_ARRAY:
        craton_buf_u8(b, 2);
        craton_buf_u64(b, 3);
        for (int j = 0; j < 3; j++) craton_buf_u64(b, 100 + j);
        c += arg->kind == CRATON_ARG_OUT_ULONGS ? 2 : 3;
        break;
      case CRATON_ARG_GET_TEMPLATE:
        craton_buf_u8(b, 1);
        enc_slots(b, g_slots[c].p, g_slots[c + 1].ul, 0);
        c += 2;
        break;
      case CRATON_ARG_MECHANISM: case CRATON_ARG_MSG_PARAM: {
        /* One write-back into field 0 (pIv of the GCM structures) when it is in/out. */
        const void *param = arg->kind == CRATON_ARG_MECHANISM ? ((CK_MECHANISM *)g_slots[c].p)->pParameter : g_slots[c].p;
        int writeback = param != NULL;
        craton_buf_u32(b, writeback ? 1 : 0);
        if (writeback) {
          craton_buf_u16(b, 0);
          craton_buf_u64(b, 4);
          craton_buf_bytes(b, "\x01\x02\x03\x04", 4);
        }
        c += arg->kind == CRATON_ARG_MECHANISM ? 1 : 2;
        break;
      }
      case CRATON_ARG_OUT_STRUCT: {
        const craton_struct_desc *s = &craton_structs[arg->aux];
        craton_buf_u8(b, 1);
        for (size_t f = 0; f < s->field_count; f++) {
          switch (s->fields[f].form) {
            case CRATON_FIELD_ULONG: craton_buf_u64(b, 7); break;
            case CRATON_FIELD_VERSION: craton_buf_u8(b, 3); craton_buf_u8(b, 0); break;
            case CRATON_FIELD_CHARS: for (int j = 0; j < s->fields[f].aux; j++) craton_buf_u8(b, ' '); break;
            default: break;
          }
        }
        c += 1;
        break;
      }
      default: c += 1; break;
    }
  }
}

/* Regression input for a bug found by this harness: the runtime's reply names
 * the type of each entry of a nested template (C_GetAttributeValue of
 * CKA_WRAP_TEMPLATE...), and the shim derives the value kind from that type,
 * not from what the caller's buffer is. A reply that calls a raw inner buffer
 * CKA_WRAP_TEMPLATE makes the shim read the caller's bytes as CK_ATTRIBUTEs
 * and memcpy through the "pValue" pointers found in them. */
static int write_nested_type_regression(const char *dir) {
  size_t fi = 0;
  while (fi < g_nfuncs && g_funcs[fi]->id != CRATON_FN_C_GetAttributeValue) fi++;
  for (uint32_t seed = 1; seed < 2000000; seed++) {
    uint8_t head[10] = {(uint8_t)fi, 0, 0, 0, 0, 0, (uint8_t)(seed >> 24), (uint8_t)(seed >> 16), (uint8_t)(seed >> 8), (uint8_t)seed};
    g_rng = 0;
    for (int k = 0; k < 8; k++) g_rng = (g_rng << 8) | head[2 + k];
    g_full = 0;
    g_fill = chance(50) ? 0xA5 : 0;
    void *args[MAX_C_ARGS];
    build_args(g_funcs[fi], args);
    CK_ATTRIBUTE *t = g_slots[2].p;
    CK_ULONG n = g_slots[3].ul, target = n;
    for (CK_ULONG i = 0; t && i < n && target == n; i++) {
      CK_ATTRIBUTE *in = t[i].pValue;
      if (g_fill == 0xA5 && t[i].type == 0x40000211UL && in && t[i].ulValueLen >= sizeof(CK_ATTRIBUTE) &&
          t[i].ulValueLen % sizeof(CK_ATTRIBUTE) == 0 && in[0].pValue && in[0].ulValueLen == 48 &&
          ((uint8_t *)in[0].pValue)[0] == 0xA5)
        target = i;
    }
    if (target == n) {
      check_and_free_blocks();
      continue;
    }
    craton_buf b;
    craton_buf_init(&b);
    craton_buf_u64(&b, 0);
    craton_buf_u8(&b, 1);
    for (CK_ULONG i = 0; i < n; i++) {
      if (i != target) {
        craton_buf_u64(&b, 0);
        craton_buf_u8(&b, 0);
        continue;
      }
      craton_buf_u64(&b, sizeof(CK_ATTRIBUTE));
      craton_buf_u8(&b, 1);
      craton_buf_u64(&b, 1);
      craton_buf_u64(&b, 0x40000211UL); /* inner[0] "is" CKA_WRAP_TEMPLATE */
      craton_buf_u64(&b, 48);
      craton_buf_u8(&b, 1);
      craton_buf_u64(&b, 2);
      for (int k = 0; k < 2; k++) {
        craton_buf_u64(&b, 0x3);
        craton_buf_u64(&b, 4);
        craton_buf_u8(&b, 1);
        craton_buf_bytes(&b, "evil", 4);
      }
    }
    check_and_free_blocks();
    char path[4096];
    snprintf(path, sizeof path, "%s/nested-template-type", dir);
    FILE *f = fopen(path, "wb");
    if (!f) {
      perror(path);
      return 1;
    }
    fwrite(head, 1, 10, f);
    fwrite(b.data, 1, b.len, f);
    fclose(f);
    craton_buf_free(&b);
    printf("wrote %s (caller seed %u)\n", path, seed);
    return 0;
  }
  fprintf(stderr, "no caller seed found for the nested-template regression\n");
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s <corpus dir> | --regressions <dir>\n", argv[0]);
    return 2;
  }
  init_functions();
  if (strcmp(argv[1], "--regressions") == 0 && argc > 2) return write_nested_type_regression(argv[2]);
  int written = 0, bad = 0;
  for (size_t i = 0; i < g_nfuncs; i++) {
    uint8_t head[10] = {(uint8_t)i, 4 /* full caller */, 0, 0, 0, 0, 0, 0, 0, (uint8_t)(i + 1)};
    /* Rebuild the caller run_one will build, to encode a reply that fits it. */
    g_rng = 0;
    for (int k = 0; k < 8; k++) g_rng = (g_rng << 8) | head[2 + k];
    g_full = 1;
    g_fill = 0;
    void *args[MAX_C_ARGS];
    build_args(g_funcs[i], args);
    craton_buf b;
    craton_buf_init(&b);
    craton_buf_u64(&b, 0); /* CKR_OK */
    enc_reply_args(&b, g_funcs[i]);
    check_and_free_blocks();
    size_t n = 10 + b.len;
    uint8_t *input = malloc(n);
    memcpy(input, head, 10);
    memcpy(input + 10, b.data, b.len);
    CK_RV rv = run_one(input, n);
    if (rv != CRATON_RV_OK) {
      fprintf(stderr, "seed for %s does not decode (rv 0x%lx)\n", g_funcs[i]->name, (unsigned long)rv);
      bad++;
    } else {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[1], g_funcs[i]->name);
      FILE *f = fopen(path, "wb");
      if (!f || fwrite(input, 1, n, f) != n) {
        perror(path);
        return 1;
      }
      fclose(f);
      written++;
    }
    free(input);
    craton_buf_free(&b);
  }
  printf("%d seeds written, %d did not decode\n", written, bad);
  return bad ? 1 : 0;
}
#endif
