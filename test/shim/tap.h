/*
 * The reporting the C test programs share: TAP-like "ok N" / "FAIL N" lines
 * per check (the vitest wrappers read them), named sections, and a watchdog
 * that fails the run instead of letting it hang.
 */
#ifndef CRATON_TEST_TAP_H
#define CRATON_TEST_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static int g_passed, g_failed, g_n;
static const char *g_section = "";

static int check(int cond, const char *fmt, ...) {
  va_list ap;
  g_n++;
  printf("%s %d - [%s] ", cond ? "ok" : "FAIL", g_n, g_section);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
  if (cond) g_passed++;
  else g_failed++;
  return cond;
}

/* rv == want, printing both on failure. */
#define EXPECT_RV(rv, want, what)                                                                                   \
  do {                                                                                                              \
    CK_RV rv_ = (rv);                                                                                               \
    check(rv_ == (want), "%s -> 0x%lx (want %s 0x%lx)", what, (unsigned long)rv_, #want, (unsigned long)(want));    \
  } while (0)

static void section(const char *name) {
  g_section = name;
  printf("# %s\n", name);
  fflush(stdout);
}

/* Installed with signal(SIGALRM, on_alarm): nothing may hang the test run. */
static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "FAIL watchdog: the test hung (alarm fired)\n";
  ssize_t w = write(1, msg, sizeof msg - 1);
  (void)w;
  _exit(3);
}

#endif
