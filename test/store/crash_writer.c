/* crash_writer: the C half of test/store/crash.test.ts.
 *
 *   crash_writer <libcraton_hsm.so> verify
 *   crash_writer <libcraton_hsm.so> run <first n> <seed>
 *
 * Both modes first list every data object on the first token through the
 * module and check each is whole: all eleven attributes of a data object,
 * CKA_TOKEN true, CKA_PRIVATE false, CKA_APPLICATION "crash", a label
 * "obj-<n>" or "obj-<n>-r<k>" and a CKA_VALUE equal to pattern(n, k). One line
 * per object: "obj <n> <k> <unique id>", or "bad <n> <reason>" when it is not
 * whole. Then "ready <count>".
 *
 * `run` then changes the token until it is killed: it creates obj-<n>, obj-<n+1>,
 * ... and now and then rewrites an earlier object's label and value together
 * (revision k+1) or destroys one. Each change is announced before the call
 * ("begin create 17", "begin set 5 2", "begin destroy 3") and acknowledged only
 * after the call returned CKR_OK ("created 17", "set 5 2", "destroyed 3"), every
 * line flushed at once. A call that fails prints "error ..." and exits 1.
 * No login: the objects are public token objects. */
#include "p11util.h"

#include <stdint.h>

#define MAX_OBJECTS 200000

struct live {
  unsigned long n, k;
  CK_ULONG handle;
};

static struct live *g_live;
static size_t g_count;

static uint64_t g_rng;
static uint64_t rnd(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

static int parse_label(const char *label, unsigned long *n, unsigned long *k) {
  char tail;
  if (sscanf(label, "obj-%lu-r%lu%c", n, k, &tail) == 2) return 1;
  *k = 0;
  if (sscanf(label, "obj-%lu%c", n, &tail) == 1) return 1;
  return 0;
}

/* Lists and checks every data object (one C_GetAttributeValue per object);
 * returns how many are not whole. */
static int verify(CK_ULONG h) {
  static CK_ULONG handles[MAX_OBJECTS];
  CK_ULONG cls = CKO_DATA;
  CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}};
  CK_RV rv;
  long found = p11_find(h, t, 1, handles, MAX_OBJECTS, &rv);
  if (found < 0) {
    say("error find rv=0x%lx", (unsigned long)rv);
    exit(1);
  }
  int bad = 0;
  unsigned char expect[4096];
  for (long i = 0; i < found; i++) {
    CK_ULONG obj = handles[i];
    CK_ULONG klass = ~0UL;
    CK_BBOOL token = 9, priv = 9, modifiable = 9, copyable = 9, destroyable = 9;
    char label[128], app[64], oid[64], uid[128];
    unsigned char value[4096];
    CK_ATTRIBUTE a[] = {
        {CKA_CLASS, &klass, sizeof klass},
        {CKA_TOKEN, &token, 1},
        {CKA_PRIVATE, &priv, 1},
        {CKA_MODIFIABLE, &modifiable, 1},
        {CKA_COPYABLE, &copyable, 1},
        {CKA_DESTROYABLE, &destroyable, 1},
        {CKA_LABEL, label, sizeof label - 1},
        {CKA_UNIQUE_ID, uid, sizeof uid - 1},
        {CKA_APPLICATION, app, sizeof app},
        {CKA_OBJECT_ID, oid, sizeof oid},
        {CKA_VALUE, value, sizeof value},
    };
    rv = F->C_GetAttributeValue(h, obj, a, sizeof a / sizeof a[0]);
    unsigned long n = 0, k = 0;
    const char *why = NULL;
    if (rv == CKR_OK) {
      label[a[6].ulValueLen] = 0;
      uid[a[7].ulValueLen] = 0;
    } else {
      label[0] = 0;
    }
    if (rv != CKR_OK) why = "C_GetAttributeValue of the eleven data-object attributes failed";
    else if (!parse_label(label, &n, &k)) why = "label not obj-<n>[-r<k>]";
    else if (a[10].ulValueLen != pattern_len(n, k) || (pattern_fill(n, k, expect), memcmp(value, expect, a[10].ulValueLen) != 0))
      why = "CKA_VALUE does not match the label";
    else if (a[0].ulValueLen != sizeof klass || klass != CKO_DATA) why = "CKA_CLASS wrong";
    else if (token != 1 || priv != 0 || modifiable != 1 || copyable != 1 || destroyable != 1) why = "a boolean attribute is wrong";
    else if (a[8].ulValueLen != 5 || memcmp(app, "crash", 5) != 0) why = "CKA_APPLICATION wrong";
    else if (a[9].ulValueLen != 0) why = "CKA_OBJECT_ID wrong";
    else if (a[7].ulValueLen == 0) why = "CKA_UNIQUE_ID empty";
    if (why) {
      say("bad %lu %s (rv 0x%lx, label \"%s\")", n, why, (unsigned long)rv, label);
      bad++;
    } else {
      say("obj %lu %lu %s", n, k, uid);
      if (g_count < MAX_OBJECTS) g_live[g_count++] = (struct live){n, k, obj};
    }
  }
  say("ready %ld", found);
  return bad;
}

static void fail(const char *what, unsigned long n, CK_RV rv) {
  say("error %s %lu rv=0x%lx", what, n, (unsigned long)rv);
  exit(1);
}

static void run(CK_ULONG h, unsigned long n) {
  static unsigned char value[4096];
  static const char app[] = "crash";
  char label[64];
  for (;; n++) {
    uint64_t r = rnd() % 10;
    if (g_count > 300 && r < 5) {
      /* Keep the token near 300 objects so a verify pass stays quick. */
      size_t i = rnd() % g_count;
      struct live o = g_live[i];
      say("begin destroy %lu", o.n);
      CK_RV rv = F->C_DestroyObject(h, o.handle);
      if (rv != CKR_OK) fail("destroy", o.n, rv);
      g_live[i] = g_live[--g_count];
      say("destroyed %lu", o.n);
      continue; /* no create this round (n is simply skipped) */
    } else if (g_count >= 8 && r >= 6 && r < 8) {
      /* Rewrite an earlier object: label and value together, one call. */
      struct live *o = &g_live[rnd() % g_count];
      unsigned long k = o->k + 1;
      snprintf(label, sizeof label, "obj-%lu-r%lu", o->n, k);
      pattern_fill(o->n, k, value);
      CK_ATTRIBUTE t[] = {{CKA_LABEL, label, strlen(label)}, {CKA_VALUE, value, pattern_len(o->n, k)}};
      say("begin set %lu %lu", o->n, k);
      CK_RV rv = F->C_SetAttributeValue(h, o->handle, t, 2);
      if (rv != CKR_OK) fail("set", o->n, rv);
      o->k = k;
      say("set %lu %lu", o->n, k);
    } else if (g_count >= 8 && r >= 8) {
      size_t i = rnd() % g_count;
      struct live o = g_live[i];
      say("begin destroy %lu", o.n);
      CK_RV rv = F->C_DestroyObject(h, o.handle);
      if (rv != CKR_OK) fail("destroy", o.n, rv);
      g_live[i] = g_live[--g_count];
      say("destroyed %lu", o.n);
    }
    /* And one create every round. */
    snprintf(label, sizeof label, "obj-%lu", n);
    pattern_fill(n, 0, value);
    CK_ULONG cls = CKO_DATA;
    CK_BBOOL yes = 1, no = 0;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof cls},        {CKA_TOKEN, &yes, 1},
        {CKA_PRIVATE, &no, 1},                {CKA_LABEL, label, strlen(label)},
        {CKA_APPLICATION, (void *)app, 5},    {CKA_VALUE, value, pattern_len(n, 0)},
    };
    CK_ULONG obj = 0;
    say("begin create %lu", n);
    CK_RV rv = F->C_CreateObject(h, t, 6, &obj);
    if (rv != CKR_OK) fail("create", n, rv);
    if (g_count < MAX_OBJECTS) g_live[g_count++] = (struct live){n, 0, obj};
    say("created %lu", n);
  }
}

int main(int argc, char **argv) {
  if (argc < 3 || (strcmp(argv[2], "run") == 0 && argc < 5)) {
    fprintf(stderr, "usage: %s <module> verify | run <first n> <seed>\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  g_live = calloc(MAX_OBJECTS, sizeof *g_live);
  p11_load(argv[1]);
  CK_ULONG h = p11_session(p11_slot());
  int bad = verify(h);
  if (strcmp(argv[2], "verify") == 0) {
    F->C_CloseAllSessions(p11_slot());
    F->C_Finalize(NULL);
    return bad ? 1 : 0;
  }
  if (bad) return 1;
  g_rng = strtoull(argv[4], NULL, 10) * 2654435761ULL + 88172645463325252ULL;
  run(h, strtoul(argv[3], NULL, 10));
  return 0;
}
