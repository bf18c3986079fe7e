/*
 * Test for libcraton_embedder.so (shim/embedder): starts the embedded Node
 * runtime with echo.js, checks replies (sync, setImmediate, promise paths),
 * concurrent callers, error paths (script throws / exits at load, handler
 * throws, process.exit in a handler), stop with a pending call, fork safety,
 * 100 start/stop cycles (threads, fds, RSS) and measures round trips/s.
 *
 * Usage: craton_embedder_test [test_dir]   (defaults to the source test dir)
 * Env:   CRATON_EMBEDDER_CYCLES (default 100), CRATON_EMBEDDER_BENCH_MS (default 1000)
 * Exit code 0 on success; last line "N passed, N failed".
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "craton_embedder.h"

#ifndef CRATON_EMBEDDER_TEST_DIR
#define CRATON_EMBEDDER_TEST_DIR "test/embedder"
#endif

static int passed, failed;
static char dir[4096];

#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (cond) {                                            \
      passed++;                                            \
    } else {                                               \
      failed++;                                            \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fprintf(stderr, "\n");                               \
    }                                                      \
  } while (0)

static const char *script(const char *name) {
  static char buf[8][4200];
  static int i;
  char *b = buf[i++ % 8];
  snprintf(b, sizeof buf[0], "%s/%s", dir, name);
  return b;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int count_dir(const char *path) {
  DIR *d = opendir(path);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - (strcmp(path, "/proc/self/fd") == 0 ? 1 : 0); /* the DIR's own fd */
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &v) == 1) break;
  fclose(f);
  return v;
}

/* One echo round trip; returns 1 if the reply is 0xA5 || req. */
static int echo_ok(const uint8_t *req, size_t len) {
  uint8_t *rep = NULL;
  size_t rlen = 0;
  if (craton_embedder_call(req, len, &rep, &rlen) != 0) return 0;
  int ok = rep && rlen == len + 1 && rep[0] == 0xA5 && memcmp(rep + 1, req, len) == 0;
  craton_embedder_free(rep);
  return ok;
}

/* ---- concurrent callers */
struct worker {
  int id;
  long iters;        /* fixed count, or 0 for time-bound */
  double until;      /* time bound */
  long done;
  long bad;
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  uint8_t req[16];
  for (long i = 0;; i++) {
    if (w->iters ? i >= w->iters : ((i & 255) == 0 && now_s() >= w->until)) break;
    memset(req, 0, sizeof req);
    req[0] = 'S';
    req[1] = (uint8_t)w->id;
    memcpy(req + 2, &i, sizeof i);
    if (!echo_ok(req, sizeof req)) w->bad++;
    w->done++;
  }
  return NULL;
}

static double bench(int nthreads, double seconds, long *bad) {
  pthread_t th[8];
  struct worker w[8];
  double t0 = now_s();
  for (int i = 0; i < nthreads; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].id = i;
    w[i].until = t0 + seconds;
    pthread_create(&th[i], NULL, worker_main, &w[i]);
  }
  long total = 0;
  *bad = 0;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(th[i], NULL);
    total += w[i].done;
    *bad += w[i].bad;
  }
  return total / (now_s() - t0);
}

/* ---- callers hammering until the runtime is stopped under them */
struct hammer {
  long ok, bad;
};
static void *hammer_main(void *arg) {
  struct hammer *h = arg;
  uint8_t req[8] = {'S', 1, 2, 3, 4, 5, 6, 7};
  for (;;) {
    uint8_t *rep = NULL;
    size_t rlen = 0;
    req[1] = (uint8_t)h->ok;
    req[2] = (uint8_t)(h->ok & 1 ? 'A' : 'S');
    if (craton_embedder_call(req, sizeof req, &rep, &rlen) != 0) break;
    if (rlen == 9 && rep[0] == 0xA5 && memcmp(rep + 1, req, 8) == 0)
      h->ok++;
    else
      h->bad++;
    craton_embedder_free(rep);
  }
  return NULL;
}

/* ---- a call that blocks until stop() */
static int hang_rc = 99;
static void *hang_main(void *arg) {
  (void)arg;
  uint8_t req[2] = {'H', 1};
  uint8_t *rep = NULL;
  size_t rlen = 0;
  hang_rc = craton_embedder_call(req, sizeof req, &rep, &rlen);
  craton_embedder_free(rep);
  return NULL;
}

static int sig_snapshot(struct sigaction *out) {
  static const int sigs[] = {SIGINT, SIGTERM, SIGPIPE, SIGUSR1, SIGSEGV, SIGCHLD, SIGHUP};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], NULL, &out[i]);
  return (int)(sizeof sigs / sizeof sigs[0]);
}

static void on_usr2(int s) { (void)s; }

int main(int argc, char **argv) {
  snprintf(dir, sizeof dir, "%s", argc > 1 ? argv[1] : CRATON_EMBEDDER_TEST_DIR);
  int cycles = getenv("CRATON_EMBEDDER_CYCLES") ? atoi(getenv("CRATON_EMBEDDER_CYCLES")) : 100;
  double bench_s = (getenv("CRATON_EMBEDDER_BENCH_MS") ? atoi(getenv("CRATON_EMBEDDER_BENCH_MS")) : 1000) / 1000.0;
  setvbuf(stdout, NULL, _IOLBF, 0);

  /* The host owns signals: install a handler and check node leaves it alone. */
  signal(SIGUSR2, on_usr2);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction before[8], after[8];
  int nsig = sig_snapshot(before);
  char err[1024];
  uint8_t *rep;
  size_t rlen;

  printf("before first start: threads %d fds %d rss %ld kB\n", count_dir("/proc/self/task"),
         count_dir("/proc/self/fd"), rss_kb());

  /* ---- calls before any start fail */
  CHECK(craton_embedder_call((const uint8_t *)"x", 1, &rep, &rlen) == -1, "call before start must fail");

  /* ---- load-time failures must not kill the process */
  CHECK(craton_embedder_start(script("throws.js"), err, sizeof err) == -1, "throws.js must fail");
  printf("throws.js      -> %.160s\n", err);
  CHECK(strstr(err, "bundle failed to load") != NULL, "error text carries the JS message: %s", err);
  CHECK(craton_embedder_start(script("exits.js"), err, sizeof err) == -1, "exits.js must fail");
  printf("exits.js       -> %.160s\n", err);
  CHECK(strstr(err, "code 3") != NULL, "exit code reported: %s", err);
  CHECK(craton_embedder_start(script("async_throw.js"), err, sizeof err) == -1, "async_throw.js must fail");
  printf("async_throw.js -> %.160s\n", err);
  CHECK(strstr(err, "async failure") != NULL, "async error text: %s", err);
  CHECK(craton_embedder_start(script("no_handler.js"), err, sizeof err) == -1, "no_handler.js must fail");
  printf("no_handler.js  -> %.160s\n", err);
  CHECK(craton_embedder_start(script("does_not_exist.js"), err, sizeof err) == -1, "missing script must fail");
  printf("missing        -> %.160s\n", err);

  {
    double t0 = now_s();
    setenv("CRATON_EMBEDDER_START_TIMEOUT_MS", "500", 1);
    CHECK(craton_embedder_start(script("hangs.js"), err, sizeof err) == -1, "hangs.js must time out");
    unsetenv("CRATON_EMBEDDER_START_TIMEOUT_MS");
    printf("hangs.js       -> %.160s (%.0f ms)\n", err, (now_s() - t0) * 1e3);
    CHECK(strstr(err, "timed out") != NULL, "timeout message: %s", err);
  }

  /* ---- async registration */
  CHECK(craton_embedder_start(script("async_ready.js"), err, sizeof err) == 0, "async_ready.js: %s", err);
  rep = NULL;
  CHECK(craton_embedder_call((const uint8_t *)"abc", 3, &rep, &rlen) == 0 && rlen == 2 && rep[0] == 0x42 &&
            rep[1] == 3,
        "async_ready reply");
  craton_embedder_free(rep);
  craton_embedder_stop();

  /* ---- echo */
  CHECK(craton_embedder_start(script("echo.js"), err, sizeof err) == 0, "start echo.js: %s", err);
  CHECK(craton_embedder_start(script("echo.js"), err, sizeof err) == -1, "second start must fail (running)");
  nsig = sig_snapshot(after);
  for (int i = 0; i < nsig; i++)
    CHECK(before[i].sa_handler == after[i].sa_handler, "signal disposition #%d changed by node", i);

  CHECK(echo_ok((const uint8_t *)"Shello", 6), "sync echo");
  CHECK(echo_ok((const uint8_t *)"Aimmediate", 10), "setImmediate echo");
  CHECK(echo_ok((const uint8_t *)"Ppromise", 8), "promise echo");
  CHECK(echo_ok((const uint8_t *)"", 0), "empty frame");
  {
    size_t big = 1 << 20;
    uint8_t *b = malloc(big);
    for (size_t i = 0; i < big; i++) b[i] = (uint8_t)(i * 7 + 3);
    b[0] = 'S';
    CHECK(echo_ok(b, big), "1 MiB echo");
    free(b);
  }
  CHECK(craton_embedder_call((const uint8_t *)"Tthrow", 6, &rep, &rlen) == -1, "handler throw -> -1");
  CHECK(echo_ok((const uint8_t *)"Sstill alive", 12), "runtime survives a handler throw");

  /* ---- 2 threads concurrently, mixed with async replies from the main thread */
  {
    pthread_t th[2];
    struct worker w[2];
    for (int i = 0; i < 2; i++) {
      memset(&w[i], 0, sizeof w[i]);
      w[i].id = i;
      w[i].iters = 20000;
      pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    int async_ok = 1;
    for (int i = 0; i < 200; i++) async_ok &= echo_ok((const uint8_t *)(i & 1 ? "Aasync" : "Ppromise"), 6);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK(w[0].bad == 0 && w[1].bad == 0 && w[0].done == 20000 && w[1].done == 20000, "concurrent: bad %ld/%ld",
          w[0].bad, w[1].bad);
    CHECK(async_ok, "async replies interleaved with concurrent callers");
  }

  /* ---- throughput */
  {
    long bad;
    double r1 = bench(1, bench_s, &bad);
    CHECK(bad == 0, "bench 1 thread bad replies %ld", bad);
    double r2 = bench(2, bench_s, &bad);
    CHECK(bad == 0, "bench 2 threads bad replies %ld", bad);
    printf("round trips/s (16-byte frame, sync JS handler): 1 thread %.0f, 2 threads %.0f\n", r1, r2);
  }

  /* ---- stop with a pending call: the caller gets -1 */
  {
    pthread_t th;
    hang_rc = 99;
    pthread_create(&th, NULL, hang_main, NULL);
    usleep(100 * 1000);
    double t0 = now_s();
    craton_embedder_stop();
    pthread_join(th, NULL);
    CHECK(hang_rc == -1, "pending call after stop returned %d", hang_rc);
    printf("stop with a pending call took %.1f ms\n", (now_s() - t0) * 1e3);
  }
  CHECK(craton_embedder_call((const uint8_t *)"Sx", 2, &rep, &rlen) == -1, "call after stop must fail");
  craton_embedder_stop(); /* idempotent */

  /* ---- process.exit from a handler kills only the runtime */
  CHECK(craton_embedder_start(script("echo.js"), err, sizeof err) == 0, "restart: %s", err);
  CHECK(craton_embedder_call((const uint8_t *)"Xexit", 5, &rep, &rlen) == -1, "process.exit in handler -> -1");
  CHECK(craton_embedder_call((const uint8_t *)"Safter", 6, &rep, &rlen) == -1, "runtime gone after exit");
  CHECK(craton_embedder_start(script("echo.js"), err, sizeof err) == 0, "start after runtime died: %s", err);
  CHECK(echo_ok((const uint8_t *)"Sback", 5), "echo after restart");

  /* ---- fork: the child must fail cleanly, not hang */
  {
    pid_t pid = fork();
    if (pid == 0) {
      alarm(10);
      char e[256];
      uint8_t *r;
      size_t rl;
      int c = craton_embedder_call((const uint8_t *)"Sx", 2, &r, &rl);
      int s = craton_embedder_start(script("echo.js"), e, sizeof e);
      _exit(c == -1 && s == -1 ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "forked child: status 0x%x", st);
    CHECK(echo_ok((const uint8_t *)"Sparent", 7), "parent still works after fork");
  }
  craton_embedder_stop();

  /* ---- start/stop cycles: threads, fds, RSS must not grow */
  {
    int t_first = 0, f_first = 0, t_mid = 0, f_mid = 0;
    long r_first = 0, r_mid = 0, hammer_calls = 0;
    double t0 = now_s();
    int ok = 1;
    for (int c = 1; c <= cycles; c++) {
      if (craton_embedder_start(script("echo.js"), err, sizeof err) != 0) {
        ok = 0;
        fprintf(stderr, "cycle %d start: %s\n", c, err);
        break;
      }
      ok &= echo_ok((const uint8_t *)"Scycle", 6);
      ok &= echo_ok((const uint8_t *)"Acycle", 6);
      /* stop while two threads keep calling: they must all come back with -1 */
      pthread_t hth[2];
      struct hammer hs[2];
      memset(hs, 0, sizeof hs);
      for (int i = 0; i < 2; i++) pthread_create(&hth[i], NULL, hammer_main, &hs[i]);
      usleep(1000 + (c % 7) * 300);
      craton_embedder_stop();
      for (int i = 0; i < 2; i++) {
        pthread_join(hth[i], NULL);
        if (hs[i].bad) ok = 0, fprintf(stderr, "cycle %d: %ld bad replies under stop\n", c, hs[i].bad);
        hammer_calls += hs[i].ok;
      }
      int t = count_dir("/proc/self/task"), f = count_dir("/proc/self/fd");
      long r = rss_kb();
      if (c == 1) t_first = t, f_first = f, r_first = r;
      if (c == (cycles >= 20 ? 10 : 1)) t_mid = t, f_mid = f, r_mid = r;
      if (c == 1 || c == 10 || c % 25 == 0 || c == cycles)
        printf("cycle %3d: threads %d fds %d rss %ld kB\n", c, t, f, r);
      if (c == cycles) {
        CHECK(t == t_first && t == t_mid, "threads grew: first %d mid %d last %d", t_first, t_mid, t);
        CHECK(f == f_first && f == f_mid, "fds grew: first %d mid %d last %d", f_first, f_mid, f);
        long per = cycles > 10 ? (r - r_mid) / (cycles - 10) : 0;
        printf("rss growth cycle 10 -> %d: %ld kB (%ld kB/cycle); cycle 1 -> %d: %ld kB\n", cycles, r - r_mid, per,
               cycles, r - r_first);
        CHECK(per < 256, "RSS grows %ld kB per cycle", per);
      }
    }
    CHECK(ok, "start/stop cycles");
    printf("%d start/stop cycles in %.2f s (%ld calls answered while stopping under load)\n", cycles, now_s() - t0,
           hammer_calls);
  }

  nsig = sig_snapshot(after);
  for (int i = 0; i < nsig; i++)
    CHECK(before[i].sa_handler == after[i].sa_handler, "signal disposition #%d changed at the end", i);

  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
