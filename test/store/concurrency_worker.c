/* concurrency_worker: the C half of test/store/concurrency.test.ts. Loads the
 * module by path; the transport comes from CRATON_HSM_RUNTIME. No login: every
 * object is a public token data object. Any line starting "error " is a failure.
 *
 *   concurrency_worker <module> stress <name> <other> <seconds> [threads]
 *     Prints "ready", waits for a line on stdin, then runs <threads> (2) threads,
 *     each with its own session, for <seconds>: each creates, finds, reads and
 *     destroys its own objects (CKA_APPLICATION "<name>-t<t>", labels
 *     "<name>-t<t>-<i>") and finds and reads the other process's objects
 *     (CKA_APPLICATION "<other>-t0" / "<other>-t1"). A read of another process's
 *     object may meet CKR_OBJECT_HANDLE_INVALID (destroyed in between): counted,
 *     not an error. At the end each thread checks that a find of its own tag
 *     returns exactly its live objects; then "created <label>" / "destroyed <label>"
 *     for every acknowledged change and one "summary ..." line.
 *   concurrency_worker <module> list
 *     Every data object: "label <label>", then "count <n>".
 *   concurrency_worker <module> driver
 *     Reads commands from stdin, answers each with one line:
 *       create <label>            -> "ok <handle>" | "rv 0x.."
 *       find <label>              -> "found <n> <handles...>" | "rv 0x.."
 *       get <handle>              -> "label <label>" | "rv 0x.."
 *       set <handle> <label>      -> "ok" | "rv 0x.."
 *       destroy <handle>          -> "ok" | "rv 0x.."
 *       quit
 *   concurrency_worker <module> open
 *     "ready", waits for a line on stdin, then C_GetTokenInfo (the first use of the
 *     token, which opens its store): "ok <flags>" | "rv 0x..".
 *   concurrency_worker <module> race destroyer|setter <seconds>
 *     destroyer: creates objects (CKA_APPLICATION "race") and destroys each soon after.
 *     setter: keeps finding "race" objects and C_SetAttributeValue on them.
 *     Both print "ready", wait for stdin, and end with a summary line.
 *   concurrency_worker <module> lost-update labeller|tagger <seconds>
 *     Both change one shared object (labeller: CKA_LABEL, tagger: CKA_OBJECT_ID)
 *     and read their own attribute back: "lost <set> <read>" when another
 *     process's write undid it. See lost_update(). */
#include "p11util.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <unistd.h>

#define MAX_LIVE 100000
#define MAX_FOUND 100000

static pthread_mutex_t g_out = PTHREAD_MUTEX_INITIALIZER;
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  va_list ap;
  pthread_mutex_lock(&g_out);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
  pthread_mutex_unlock(&g_out);
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "error watchdog: the worker hung (alarm fired)\n";
  ssize_t w = write(1, msg, sizeof msg - 1);
  (void)w;
  _exit(3);
}

static void wait_for_go(void) {
  char line[64];
  say("ready");
  if (!fgets(line, sizeof line, stdin)) exit(2);
}

static uint64_t xorshift(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* The value stored with label L: L repeated to a length that depends on i. */
static size_t value_for(const char *label, unsigned long i, unsigned char *out) {
  size_t len = 16 + i % 700, ll = strlen(label);
  for (size_t j = 0; j < len; j++) out[j] = (unsigned char)label[j % ll];
  return len;
}

static CK_RV create_object(CK_ULONG h, const char *app, const char *label, const unsigned char *value, size_t vlen, CK_ULONG *obj) {
  CK_ULONG cls = CKO_DATA;
  CK_BBOOL yes = 1, no = 0;
  CK_ATTRIBUTE t[] = {
      {CKA_CLASS, &cls, sizeof cls},        {CKA_TOKEN, &yes, 1},
      {CKA_PRIVATE, &no, 1},                {CKA_LABEL, (void *)label, strlen(label)},
      {CKA_APPLICATION, (void *)app, strlen(app)}, {CKA_VALUE, (void *)value, vlen},
  };
  return F->C_CreateObject(h, t, 6, obj);
}

static long find_by(CK_ULONG h, CK_ULONG type, const char *text, CK_ULONG *out, CK_ULONG max, CK_RV *rv) {
  CK_ULONG cls = CKO_DATA;
  CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {type, (void *)text, strlen(text)}};
  return p11_find(h, t, 2, out, max, rv);
}

/* ----------------------------------------------------------------- stress */

static const char *g_name, *g_other;
static double g_deadline;
static CK_ULONG g_slot;

struct worker {
  int t;
  pthread_t thread;
  CK_ULONG session;
  /* own live objects: index i and handle */
  unsigned long *live_i;
  CK_ULONG *live_h;
  size_t live;
  unsigned long *created, *destroyed;
  size_t ncreated, ndestroyed;
  unsigned long ops, errors, handle_invalid, cross_finds, cross_seen, cross_read;
};

#define FAILED(w, what, rv)                                                                           \
  do {                                                                                               \
    (w)->errors++;                                                                                   \
    say("error %s-t%d %s rv=0x%lx (line %d)", g_name, (w)->t, what, (unsigned long)(rv), __LINE__); \
  } while (0)

static void *stress_thread(void *arg) {
  struct worker *w = arg;
  uint64_t rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)getpid() << 16) ^ (uint64_t)w->t;
  char app[64], label[96], other_app[64];
  unsigned char value[1024], buf[1024];
  CK_ULONG *found = malloc(MAX_FOUND * sizeof *found);
  unsigned long next_i = 0;
  snprintf(app, sizeof app, "%s-t%d", g_name, w->t);
  while (now_s() < g_deadline && w->errors < 20) {
    unsigned r = (unsigned)(xorshift(&rng) % 10);
    CK_RV rv;
    w->ops++;
    if (r < 4 || w->live < 3) {
      unsigned long i = next_i++;
      snprintf(label, sizeof label, "%s-%lu", app, i);
      size_t vlen = value_for(label, i, value);
      CK_ULONG obj = 0;
      rv = create_object(w->session, app, label, value, vlen, &obj);
      if (rv != CKR_OK) {
        FAILED(w, "C_CreateObject", rv);
        continue;
      }
      w->created[w->ncreated++] = i;
      w->live_i[w->live] = i;
      w->live_h[w->live++] = obj;
      /* Visible to this session's next find, exactly once, with the same handle. */
      long n = find_by(w->session, CKA_LABEL, label, found, 4, &rv);
      if (n < 0) FAILED(w, "find after create", rv);
      else if (n != 1 || found[0] != obj) {
        w->errors++;
        say("error %s find after create of %s: %ld objects", app, label, n);
      }
    } else if (r < 6) {
      size_t k = xorshift(&rng) % w->live;
      unsigned long i = w->live_i[k];
      snprintf(label, sizeof label, "%s-%lu", app, i);
      rv = F->C_DestroyObject(w->session, w->live_h[k]);
      if (rv != CKR_OK) {
        FAILED(w, "C_DestroyObject", rv);
        continue;
      }
      w->destroyed[w->ndestroyed++] = i;
      w->live--;
      w->live_i[k] = w->live_i[w->live];
      w->live_h[k] = w->live_h[w->live];
      long n = find_by(w->session, CKA_LABEL, label, found, 4, &rv);
      if (n < 0) FAILED(w, "find after destroy", rv);
      else if (n != 0) {
        w->errors++;
        say("error %s find after destroy of %s: %ld objects", app, label, n);
      }
    } else if (r < 8) {
      size_t k = xorshift(&rng) % w->live;
      unsigned long i = w->live_i[k];
      snprintf(label, sizeof label, "%s-%lu", app, i);
      char got[96];
      CK_ATTRIBUTE a[] = {{CKA_LABEL, got, sizeof got - 1}, {CKA_VALUE, buf, sizeof buf}};
      rv = F->C_GetAttributeValue(w->session, w->live_h[k], a, 2);
      if (rv != CKR_OK) {
        FAILED(w, "C_GetAttributeValue(own)", rv);
        continue;
      }
      got[a[0].ulValueLen] = 0;
      size_t vlen = value_for(label, i, value);
      if (strcmp(got, label) != 0 || a[1].ulValueLen != vlen || memcmp(buf, value, vlen) != 0) {
        w->errors++;
        say("error %s read of %s returned label %s / %lu value bytes", app, label, got, (unsigned long)a[1].ulValueLen);
      }
    } else {
      /* The other process's objects: found by its thread tag, read back. */
      snprintf(other_app, sizeof other_app, "%s-t%d", g_other, (int)(xorshift(&rng) % 2));
      long n = find_by(w->session, CKA_APPLICATION, other_app, found, MAX_FOUND, &rv);
      if (n < 0) {
        FAILED(w, "find (other process)", rv);
        continue;
      }
      w->cross_finds++;
      w->cross_seen += (unsigned long)n;
      for (int j = 0; j < 8 && n > 0; j++) {
        CK_ULONG obj = found[xorshift(&rng) % (unsigned long)n];
        char got[96];
        CK_ATTRIBUTE a[] = {{CKA_LABEL, got, sizeof got - 1}, {CKA_VALUE, buf, sizeof buf}};
        rv = F->C_GetAttributeValue(w->session, obj, a, 2);
        if (rv == CKR_OBJECT_HANDLE_INVALID) {
          w->handle_invalid++;
          continue;
        }
        if (rv != CKR_OK) {
          FAILED(w, "C_GetAttributeValue(other)", rv);
          continue;
        }
        got[a[0].ulValueLen] = 0;
        unsigned long i;
        char tail;
        size_t ol = strlen(other_app);
        if (strncmp(got, other_app, ol) != 0 || sscanf(got + ol, "-%lu%c", &i, &tail) != 1) {
          w->errors++;
          say("error %s read an object of %s labelled %s", app, other_app, got);
          continue;
        }
        size_t vlen = value_for(got, i, value);
        if (a[1].ulValueLen != vlen || memcmp(buf, value, vlen) != 0) {
          w->errors++;
          say("error %s: value of %s is not whole", app, got);
          continue;
        }
        w->cross_read++;
      }
    }
  }
  /* This thread alone changes its tag: a find must return exactly its live objects. */
  CK_RV rv;
  long n = find_by(w->session, CKA_APPLICATION, app, found, MAX_FOUND, &rv);
  if (n < 0) FAILED(w, "final find", rv);
  else if ((size_t)n != w->live) {
    w->errors++;
    say("error %s: final find returned %ld objects, %lu live", app, n, (unsigned long)w->live);
  } else {
    for (size_t k = 0; k < w->live; k++) {
      int hit = 0;
      for (long j = 0; j < n && !hit; j++) hit = found[j] == w->live_h[k];
      if (!hit) {
        w->errors++;
        say("error %s: live object %s-%lu missing from the final find", app, app, w->live_i[k]);
      }
    }
  }
  free(found);
  return NULL;
}

static int stress(const char *name, const char *other, double seconds, int threads) {
  g_name = name;
  g_other = other;
  g_slot = p11_slot();
  struct worker *w = calloc((size_t)threads, sizeof *w);
  for (int t = 0; t < threads; t++) {
    w[t].t = t;
    w[t].session = p11_session(g_slot);
    w[t].live_i = malloc(MAX_LIVE * sizeof(unsigned long));
    w[t].live_h = malloc(MAX_LIVE * sizeof(CK_ULONG));
    w[t].created = malloc(MAX_LIVE * sizeof(unsigned long));
    w[t].destroyed = malloc(MAX_LIVE * sizeof(unsigned long));
  }
  wait_for_go();
  double start = now_s();
  g_deadline = start + seconds;
  for (int t = 0; t < threads; t++) pthread_create(&w[t].thread, NULL, stress_thread, &w[t]);
  for (int t = 0; t < threads; t++) pthread_join(w[t].thread, NULL);
  double elapsed = now_s() - start;
  unsigned long created = 0, destroyed = 0, ops = 0, errors = 0, hinv = 0, finds = 0, seen = 0, reads = 0;
  for (int t = 0; t < threads; t++) {
    for (size_t k = 0; k < w[t].ncreated; k++) say("created %s-t%d-%lu", name, t, w[t].created[k]);
    for (size_t k = 0; k < w[t].ndestroyed; k++) say("destroyed %s-t%d-%lu", name, t, w[t].destroyed[k]);
    created += w[t].ncreated;
    destroyed += w[t].ndestroyed;
    ops += w[t].ops;
    errors += w[t].errors;
    hinv += w[t].handle_invalid;
    finds += w[t].cross_finds;
    seen += w[t].cross_seen;
    reads += w[t].cross_read;
  }
  for (int t = 0; t < threads; t++) F->C_CloseSession(w[t].session);
  CK_RV rv = F->C_Finalize(NULL);
  if (rv != CKR_OK) {
    errors++;
    say("error C_Finalize rv=0x%lx", (unsigned long)rv);
  }
  say("summary name=%s seconds=%.2f ops=%lu created=%lu destroyed=%lu errors=%lu handle_invalid=%lu cross_finds=%lu cross_seen=%lu cross_reads=%lu", name,
      elapsed, ops, created, destroyed, errors, hinv, finds, seen, reads);
  return errors ? 1 : 0;
}

/* ------------------------------------------------------------------- list */

static int list(void) {
  CK_ULONG h = p11_session(p11_slot());
  CK_ULONG *found = malloc(MAX_FOUND * sizeof *found);
  CK_ULONG cls = CKO_DATA;
  CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}};
  CK_RV rv;
  long n = p11_find(h, t, 1, found, MAX_FOUND, &rv);
  if (n < 0) {
    say("error find rv=0x%lx", (unsigned long)rv);
    return 1;
  }
  int errors = 0;
  for (long j = 0; j < n; j++) {
    char label[128];
    CK_ATTRIBUTE a = {CKA_LABEL, label, sizeof label - 1};
    rv = F->C_GetAttributeValue(h, found[j], &a, 1);
    if (rv != CKR_OK) {
      say("error C_GetAttributeValue rv=0x%lx", (unsigned long)rv);
      errors++;
      continue;
    }
    label[a.ulValueLen] = 0;
    say("label %s", label);
  }
  say("count %ld", n);
  F->C_Finalize(NULL);
  return errors ? 1 : 0;
}

/* ----------------------------------------------------------------- driver */

static int driver(void) {
  CK_ULONG h = p11_session(p11_slot());
  char line[512], a1[256], a2[256];
  unsigned char value[1024];
  CK_ULONG *found = malloc(MAX_FOUND * sizeof *found);
  say("ready");
  while (fgets(line, sizeof line, stdin)) {
    CK_RV rv;
    unsigned long obj;
    if (sscanf(line, "create %255s", a1) == 1) {
      CK_ULONG o = 0;
      size_t vlen = value_for(a1, 0, value);
      rv = create_object(h, "driver", a1, value, vlen, &o);
      if (rv == CKR_OK) say("ok %lu", (unsigned long)o);
      else say("rv 0x%lx", (unsigned long)rv);
    } else if (sscanf(line, "find %255s", a1) == 1) {
      long n = find_by(h, CKA_LABEL, a1, found, MAX_FOUND, &rv);
      if (n < 0) {
        say("rv 0x%lx", (unsigned long)rv);
        continue;
      }
      char out[4096];
      int len = snprintf(out, sizeof out, "found %ld", n);
      for (long j = 0; j < n && len < (int)sizeof out - 32; j++) len += snprintf(out + len, sizeof out - (size_t)len, " %lu", (unsigned long)found[j]);
      say("%s", out);
    } else if (sscanf(line, "get %lu", &obj) == 1) {
      char label[256];
      CK_ATTRIBUTE a = {CKA_LABEL, label, sizeof label - 1};
      rv = F->C_GetAttributeValue(h, obj, &a, 1);
      if (rv != CKR_OK) {
        say("rv 0x%lx", (unsigned long)rv);
        continue;
      }
      label[a.ulValueLen] = 0;
      say("label %s", label);
    } else if (sscanf(line, "set %lu %255s", &obj, a2) == 2) {
      CK_ATTRIBUTE a = {CKA_LABEL, a2, strlen(a2)};
      rv = F->C_SetAttributeValue(h, obj, &a, 1);
      if (rv == CKR_OK) say("ok");
      else say("rv 0x%lx", (unsigned long)rv);
    } else if (sscanf(line, "destroy %lu", &obj) == 1) {
      rv = F->C_DestroyObject(h, obj);
      if (rv == CKR_OK) say("ok");
      else say("rv 0x%lx", (unsigned long)rv);
    } else if (strncmp(line, "quit", 4) == 0) {
      break;
    } else {
      say("error unknown command %s", line);
    }
  }
  F->C_Finalize(NULL);
  return 0;
}

/* ------------------------------------------------------------------- open */

static int open_token(void) {
  CK_ULONG slot = p11_slot();
  wait_for_go();
  CK_TOKEN_INFO info;
  CK_RV rv = F->C_GetTokenInfo(slot, &info);
  if (rv != CKR_OK) {
    say("rv 0x%lx", (unsigned long)rv);
    return 1;
  }
  say("ok 0x%lx", (unsigned long)info.flags);
  F->C_Finalize(NULL);
  return 0;
}

/* ------------------------------------------------------------------- race */

static int race(const char *role, double seconds) {
  CK_ULONG h = p11_session(p11_slot());
  CK_ULONG *found = malloc(MAX_FOUND * sizeof *found);
  unsigned char value[1024];
  char label[64];
  unsigned long ok = 0, invalid = 0, errors = 0, rounds = 0;
  uint64_t rng = 0x12345678ULL ^ (uint64_t)getpid();
  wait_for_go();
  double deadline = now_s() + seconds;
  while (now_s() < deadline && errors < 20) {
    CK_RV rv;
    rounds++;
    if (strcmp(role, "destroyer") == 0) {
      CK_ULONG o = 0;
      snprintf(label, sizeof label, "race-%lu", rounds);
      size_t vlen = value_for(label, rounds, value);
      rv = create_object(h, "race", label, value, vlen, &o);
      if (rv != CKR_OK) {
        errors++;
        say("error create rv=0x%lx", (unsigned long)rv);
        continue;
      }
      usleep((useconds_t)(xorshift(&rng) % 3000));
      rv = F->C_DestroyObject(h, o);
      if (rv != CKR_OK) {
        errors++;
        say("error destroy rv=0x%lx", (unsigned long)rv);
        continue;
      }
      ok++;
      say("destroyed %s", label);
    } else {
      long n = find_by(h, CKA_APPLICATION, "race", found, MAX_FOUND, &rv);
      if (n < 0) {
        errors++;
        say("error find rv=0x%lx", (unsigned long)rv);
        continue;
      }
      for (long j = 0; j < n; j++) {
        static const char touched[] = "touched";
        CK_ATTRIBUTE a = {CKA_OBJECT_ID, (void *)touched, sizeof touched - 1};
        rv = F->C_SetAttributeValue(h, found[j], &a, 1);
        if (rv == CKR_OK) ok++;
        else if (rv == CKR_OBJECT_HANDLE_INVALID) invalid++;
        else {
          errors++;
          say("error set rv=0x%lx", (unsigned long)rv);
        }
      }
    }
  }
  /* What is left of the race objects once this side stopped. */
  CK_RV rv;
  long left = find_by(h, CKA_APPLICATION, "race", found, MAX_FOUND, &rv);
  for (long j = 0; j < left; j++) {
    char got[96];
    CK_ATTRIBUTE a = {CKA_LABEL, got, sizeof got - 1};
    if (F->C_GetAttributeValue(h, found[j], &a, 1) == CKR_OK) {
      got[a.ulValueLen] = 0;
      say("left %s", got);
    }
  }
  F->C_Finalize(NULL);
  say("summary role=%s rounds=%lu ok=%lu handle_invalid=%lu errors=%lu left=%ld", role, rounds, ok, invalid, errors, left);
  return errors ? 1 : 0;
}

/* ------------------------------------------------------------ lost update */

/* Two processes change different attributes of one shared object: the
 * labeller only CKA_LABEL, the tagger only CKA_OBJECT_ID. Each reads its own
 * attribute back after every C_SetAttributeValue that returned CKR_OK; since no
 * one else writes that attribute, anything but the value it just set is a lost
 * update ("lost <expected> <got>"). */
static int lost_update(const char *role, double seconds) {
  CK_ULONG h = p11_session(p11_slot());
  CK_ULONG found[4], obj = 0;
  unsigned char value[64];
  int labeller = strcmp(role, "labeller") == 0;
  CK_ULONG type = labeller ? CKA_LABEL : CKA_OBJECT_ID;
  CK_RV rv;
  if (labeller) {
    size_t vlen = value_for("lost-0", 0, value);
    rv = create_object(h, "lost", "lost-0", value, vlen, &obj);
    if (rv != CKR_OK) {
      say("error create rv=0x%lx", (unsigned long)rv);
      return 1;
    }
  }
  wait_for_go();
  while (!labeller) {
    long n = find_by(h, CKA_APPLICATION, "lost", found, 4, &rv);
    if (n == 1) {
      obj = found[0];
      break;
    }
    usleep(1000);
  }
  double deadline = now_s() + seconds;
  unsigned long rounds = 0, lost = 0, errors = 0;
  char want[64], got[64];
  while (now_s() < deadline && errors < 20) {
    rounds++;
    snprintf(want, sizeof want, "%s-%lu", labeller ? "lost" : "tag", rounds);
    CK_ATTRIBUTE a = {type, want, strlen(want)};
    rv = F->C_SetAttributeValue(h, obj, &a, 1);
    if (rv != CKR_OK) {
      errors++;
      say("error set rv=0x%lx", (unsigned long)rv);
      continue;
    }
    usleep(200);
    CK_ATTRIBUTE b = {type, got, sizeof got - 1};
    rv = F->C_GetAttributeValue(h, obj, &b, 1);
    if (rv != CKR_OK) {
      errors++;
      say("error get rv=0x%lx", (unsigned long)rv);
      continue;
    }
    got[b.ulValueLen] = 0;
    if (strcmp(got, want) != 0) {
      lost++;
      if (lost <= 5) say("lost %s %s", want, got);
    }
  }
  F->C_Finalize(NULL);
  say("summary role=%s rounds=%lu lost=%lu errors=%lu", role, rounds, lost, errors);
  return errors ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s <module> stress|list|driver|open|race ...\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGALRM, on_alarm);
  alarm(120);
  const char *mode = argv[2];
  p11_load(argv[1]);
  if (strcmp(mode, "stress") == 0 && argc >= 6) return stress(argv[3], argv[4], atof(argv[5]), argc >= 7 ? atoi(argv[6]) : 2);
  if (strcmp(mode, "list") == 0) return list();
  if (strcmp(mode, "driver") == 0) return driver();
  if (strcmp(mode, "open") == 0) return open_token();
  if (strcmp(mode, "race") == 0 && argc >= 5) return race(argv[3], atof(argv[4]));
  if (strcmp(mode, "lost-update") == 0 && argc >= 5) return lost_update(argv[3], atof(argv[4]));
  fprintf(stderr, "bad arguments\n");
  return 2;
}
