/* craton_api_test: drives libcraton_hsm.so the way a real PKCS#11 consumer
 * does (dlopen + C_GetFunctionList / C_GetInterface) and checks the parts of
 * the API contract that live at the C boundary: interface lists, the
 * C_Initialize/C_Finalize life cycle, NULL-pointer and output-buffer rules,
 * threads, leaks over many init/finalize cycles, and (process transport) a
 * runtime that dies.
 *
 * Usage: craton_api_test <path to libcraton_hsm.so>
 * Transport: CRATON_HSM_RUNTIME (process|embedded). Without CRATON_HSM_CONFIG
 * the program writes a throw-away config + token directory of its own.
 * Output: one "ok N - ..." / "FAIL N - ..." line per check, then
 * "N passed, M failed"; the exit code is non-zero if anything failed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cryptoki_abi.h"
#include "generated/craton_constants.h"
#include "generated/craton_table.h"
#include "tap.h"

/* ------------------------------------------------------- the module under test */

static CK_FUNCTION_LIST_3_0 *F3; /* the 3.0 list, used for most calls */
static CK_FUNCTION_LIST *F2;     /* the 2.40 list (C_GetFunctionList) */
static int g_process;            /* CRATON_HSM_RUNTIME=process */
static void watchdog(unsigned seconds) { alarm(seconds); }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* --------------------------------------------------------------- sandbox */

static char g_tmpdir[256];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return remove(path);
}

static void make_sandbox(void) {
  const char *cfg = getenv("CRATON_HSM_CONFIG");
  if (cfg && *cfg) return;
  snprintf(g_tmpdir, sizeof g_tmpdir, "%s/craton-api-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(g_tmpdir)) {
    perror("mkdtemp");
    exit(2);
  }
  char path[512];
  snprintf(path, sizeof path, "%s/craton_hsm.toml", g_tmpdir);
  FILE *f = fopen(path, "w");
  if (!f) {
    perror("config");
    exit(2);
  }
  fprintf(f, "[storage]\npath = \"%s/tokens\"\n", g_tmpdir);
  fclose(f);
  setenv("CRATON_HSM_CONFIG", path, 1);
}

static void remove_sandbox(void) {
  if (g_tmpdir[0]) nftw(g_tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* --------------------------------------------------------- /proc helpers */

static int count_dir(const char *path) {
  DIR *d = opendir(path);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - (strcmp(path, "/proc/self/fd") == 0 ? 1 : 0); /* opendir's own fd */
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Children of this process: pids (up to max) and whether each is a zombie. */
static int children(pid_t *pids, char *states, int max) {
  DIR *d = opendir("/proc");
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  pid_t me = getpid();
  while ((e = readdir(d)) && n < max) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 0) continue;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = 0;
    char *rp = strrchr(buf, ')'); /* comm may contain spaces */
    if (!rp) continue;
    char state;
    long ppid;
    if (sscanf(rp + 2, "%c %ld", &state, &ppid) != 2) continue;
    if (ppid == me) {
      pids[n] = (pid_t)pid;
      states[n] = state;
      n++;
    }
  }
  closedir(d);
  return n;
}

/* The one live (non-zombie) child: the runtime of the process transport. */
static pid_t runtime_child(void) {
  pid_t pids[16];
  char states[16];
  int n = children(pids, states, 16);
  pid_t found = 0;
  for (int i = 0; i < n; i++) {
    if (states[i] == 'Z') continue;
    if (found) return -1; /* ambiguous */
    found = pids[i];
  }
  return found;
}

static int zombie_children(void) {
  pid_t pids[16];
  char states[16];
  int n = children(pids, states, 16), z = 0;
  for (int i = 0; i < n; i++) z += states[i] == 'Z';
  return z;
}

/* ------------------------------------------------------------- fixtures */

static const char SO_PIN[] = "12345678";
static const char USER_PIN[] = "1234";
static CK_ULONG g_slot;


static CK_ULONG open_session(void) {
  CK_ULONG h = 0;
  CK_RV rv = F3->C_OpenSession(g_slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
  if (rv != CKR_OK) {
    check(0, "C_OpenSession -> 0x%lx", (unsigned long)rv);
    return 0;
  }
  return h;
}

/* SHA-256("abc") */
static const unsigned char SHA256_ABC[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                             0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                             0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};

static CK_RV digest_abc(CK_ULONG h, unsigned char out[32]) {
  CK_MECHANISM m = {CKM_SHA256, NULL, 0};
  CK_RV rv = F3->C_DigestInit(h, &m);
  if (rv != CKR_OK) return rv;
  CK_ULONG len = 32;
  rv = F3->C_Digest(h, (CK_BYTE_PTR) "abc", 3, out, &len);
  if (rv == CKR_OK && (len != 32 || memcmp(out, SHA256_ABC, 32) != 0)) return CKR_GENERAL_ERROR;
  return rv;
}

/* Does the module still answer sensibly? */
static int module_works(CK_ULONG h) {
  CK_INFO info;
  unsigned char d[32];
  return F3->C_GetInfo(&info) == CKR_OK && digest_abc(h, d) == CKR_OK;
}

static CK_ULONG create_data_object(CK_ULONG h, const char *label, const char *value) {
  CK_ULONG cls = CKO_DATA;
  CK_BBOOL no = 0;
  CK_ATTRIBUTE t[] = {
      {CKA_CLASS, &cls, sizeof cls},
      {CKA_TOKEN, &no, sizeof no},
      {CKA_LABEL, (void *)label, strlen(label)},
      {CKA_VALUE, (void *)value, strlen(value)},
  };
  CK_ULONG obj = 0;
  CK_RV rv = F3->C_CreateObject(h, t, 4, &obj);
  if (rv != CKR_OK) check(0, "C_CreateObject(data) -> 0x%lx", (unsigned long)rv);
  return obj;
}

/* ------------------------------------------------------- 1. interfaces */

static void test_interfaces(void *lib) {
  section("interfaces");
  CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
  CK_C_GetInterfaceList gil = (CK_C_GetInterfaceList)dlsym(lib, "C_GetInterfaceList");
  CK_C_GetInterface gi = (CK_C_GetInterface)dlsym(lib, "C_GetInterface");
  if (!check(gfl && gil && gi, "C_GetFunctionList, C_GetInterfaceList, C_GetInterface exported")) exit(1);

  EXPECT_RV(gfl(NULL), CKR_ARGUMENTS_BAD, "C_GetFunctionList(NULL)");
  EXPECT_RV(gfl(&F2), CKR_OK, "C_GetFunctionList(&list)");
  check(F2 && F2->version.major == 2 && F2->version.minor == 40, "C_GetFunctionList version %d.%d", F2 ? F2->version.major : -1,
        F2 ? F2->version.minor : -1);

  CK_ULONG count = 99;
  EXPECT_RV(gil(NULL, &count), CKR_OK, "C_GetInterfaceList(NULL, &count)");
  check(count == 2, "interface count %lu (want 2)", count);
  EXPECT_RV(gil(NULL, NULL), CKR_ARGUMENTS_BAD, "C_GetInterfaceList(NULL, NULL)");
  CK_INTERFACE list[3];
  memset(list, 0xA5, sizeof list);
  count = 1;
  EXPECT_RV(gil(list, &count), CKR_BUFFER_TOO_SMALL, "C_GetInterfaceList(list, 1)");
  check(count == 2, "too small a list reports count %lu (want 2)", count);
  unsigned char pattern[sizeof list[0]];
  memset(pattern, 0xA5, sizeof pattern);
  check(memcmp(&list[0], pattern, sizeof pattern) == 0, "too small a list is not written");
  count = 3;
  EXPECT_RV(gil(list, &count), CKR_OK, "C_GetInterfaceList(list, 3)");
  check(count == 2, "interface count %lu (want 2)", count);
  check(memcmp(&list[2], pattern, sizeof pattern) == 0, "entries past the count are not written");
  for (int i = 0; i < 2; i++) {
    const CK_VERSION *v = list[i].pFunctionList;
    int want_major = i == 0 ? 3 : 2, want_minor = i == 0 ? 0 : 40;
    check(list[i].pInterfaceName && strcmp((char *)list[i].pInterfaceName, "PKCS 11") == 0 && v && v->major == want_major &&
              v->minor == want_minor && list[i].flags == 0,
          "interface %d is \"PKCS 11\" %d.%d (got \"%s\" %d.%d flags %lu)", i, want_major, want_minor,
          list[i].pInterfaceName ? (char *)list[i].pInterfaceName : "(null)", v ? v->major : -1, v ? v->minor : -1, list[i].flags);
  }

  CK_INTERFACE *iface = NULL;
  EXPECT_RV(gi(NULL, NULL, &iface, 0), CKR_OK, "C_GetInterface(NULL, NULL)");
  const CK_VERSION *v = iface ? iface->pFunctionList : NULL;
  check(v && v->major == 3 && v->minor == 0, "default interface is 3.0 (got %d.%d)", v ? v->major : -1, v ? v->minor : -1);
  F3 = iface ? iface->pFunctionList : NULL;

  CK_VERSION v240 = {2, 40};
  iface = NULL;
  EXPECT_RV(gi((CK_UTF8CHAR_PTR) "PKCS 11", &v240, &iface, 0), CKR_OK, "C_GetInterface(\"PKCS 11\", 2.40)");
  v = iface ? iface->pFunctionList : NULL;
  check(v && v->major == 2 && v->minor == 40, "interface by version is 2.40 (got %d.%d)", v ? v->major : -1, v ? v->minor : -1);
  check(iface && (void *)iface->pFunctionList == (void *)F2, "the 2.40 interface is C_GetFunctionList's list");

  CK_VERSION v30 = {3, 0};
  iface = NULL;
  EXPECT_RV(gi(NULL, &v30, &iface, 0), CKR_OK, "C_GetInterface(NULL, 3.0)");
  check(iface && iface->pFunctionList == (void *)F3, "3.0 by version is the default list");

  iface = NULL;
  CK_RV rv = gi((CK_UTF8CHAR_PTR) "Vendor Craton", NULL, &iface, 0);
  check(rv != CKR_OK && iface == NULL, "C_GetInterface(unknown name) fails (0x%lx)", (unsigned long)rv);
  CK_VERSION v99 = {9, 9};
  rv = gi(NULL, &v99, &iface, 0);
  check(rv != CKR_OK && iface == NULL, "C_GetInterface(unknown version 9.9) fails (0x%lx)", (unsigned long)rv);
  rv = gi(NULL, NULL, &iface, 0x1 /* CKF_INTERFACE_FORK_SAFE */);
  check(rv != CKR_OK && iface == NULL, "C_GetInterface(flags the module lacks) fails (0x%lx)", (unsigned long)rv);
  EXPECT_RV(gi(NULL, NULL, NULL, 0), CKR_ARGUMENTS_BAD, "C_GetInterface(ppInterface NULL)");

  if (!F3) {
    check(0, "no 3.0 function list: cannot go on");
    exit(1);
  }
  check(F3->C_GetInterfaceList != NULL && F3->C_GetInterface != NULL && F3->C_MessageVerifyFinal != NULL,
        "the 3.0 list has the 3.0 entry points");
  CK_FUNCTION_LIST *via3 = NULL;
  check(F3->C_GetFunctionList && F3->C_GetFunctionList(&via3) == CKR_OK && via3 == F2,
        "C_GetFunctionList through the 3.0 list gives the 2.40 list");
}

static void test_getinfo_versions(void) {
  section("C_GetInfo per interface");
  CK_INFO info;
  EXPECT_RV(F3->C_Initialize(NULL), CKR_OK, "C_Initialize(NULL)");
  memset(&info, 0, sizeof info);
  EXPECT_RV(F3->C_GetInfo(&info), CKR_OK, "3.0 list C_GetInfo");
  check(info.cryptokiVersion.major == 3 && info.cryptokiVersion.minor == 0, "3.0 list reports cryptokiVersion %d.%d",
        info.cryptokiVersion.major, info.cryptokiVersion.minor);
  memset(&info, 0, sizeof info);
  EXPECT_RV(F2->C_GetInfo(&info), CKR_OK, "2.40 list C_GetInfo");
  check(info.cryptokiVersion.major == 2 && info.cryptokiVersion.minor == 40, "2.40 list reports cryptokiVersion %d.%d",
        info.cryptokiVersion.major, info.cryptokiVersion.minor);
  int blank_ok = 1;
  for (int i = 0; i < 32; i++) blank_ok &= info.manufacturerID[i] != 0 && info.libraryDescription[i] != 0;
  check(blank_ok, "CK_INFO text fields are blank padded, no NULs");
  EXPECT_RV(F3->C_Finalize(NULL), CKR_OK, "C_Finalize(NULL)");
}

/* ------------------------------------------------------- 2. life cycle */

static pthread_mutex_t g_mutex_calls_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_mutex_calls;
static CK_RV my_create(CK_VOID_PTR *pp) {
  pthread_mutex_t *m = malloc(sizeof *m);
  if (!m) return CKR_HOST_MEMORY;
  pthread_mutex_init(m, NULL);
  *pp = m;
  pthread_mutex_lock(&g_mutex_calls_lock);
  g_mutex_calls++;
  pthread_mutex_unlock(&g_mutex_calls_lock);
  return CKR_OK;
}
static CK_RV my_destroy(CK_VOID_PTR p) {
  pthread_mutex_destroy(p);
  free(p);
  return CKR_OK;
}
static CK_RV my_lock(CK_VOID_PTR p) { return pthread_mutex_lock(p) ? CKR_GENERAL_ERROR : CKR_OK; }
static CK_RV my_unlock(CK_VOID_PTR p) { return pthread_mutex_unlock(p) ? CKR_GENERAL_ERROR : CKR_OK; }

static void expect_not_running(const char *after) {
  CK_INFO info;
  EXPECT_RV(F3->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED, after);
  if (g_process) check(runtime_child() == 0, "%s: no runtime child left running", after);
}

static void test_lifecycle(void) {
  section("life cycle");
  CK_INFO info;
  CK_ULONG count = 0, h = 0;
  EXPECT_RV(F3->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED, "C_GetInfo before C_Initialize");
  EXPECT_RV(F3->C_GetSlotList(0, NULL, &count), CKR_CRYPTOKI_NOT_INITIALIZED, "C_GetSlotList before C_Initialize");
  EXPECT_RV(F3->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_CRYPTOKI_NOT_INITIALIZED,
            "C_OpenSession before C_Initialize");
  EXPECT_RV(F3->C_CloseAllSessions(0), CKR_CRYPTOKI_NOT_INITIALIZED, "C_CloseAllSessions before C_Initialize");
  EXPECT_RV(F2->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED, "2.40 C_GetInfo before C_Initialize");
  EXPECT_RV(F3->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED, "C_Finalize before C_Initialize");
  if (g_process) check(runtime_child() == 0, "no runtime child before C_Initialize");

  EXPECT_RV(F3->C_Initialize(NULL), CKR_OK, "C_Initialize(NULL)");
  EXPECT_RV(F3->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED, "C_Initialize again");
  EXPECT_RV(F2->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED, "C_Initialize again (2.40 list)");
  EXPECT_RV(F3->C_GetInfo(&info), CKR_OK, "C_GetInfo after the repeated C_Initialize");
  EXPECT_RV(F3->C_Finalize((void *)&info), CKR_ARGUMENTS_BAD, "C_Finalize(non-NULL pReserved)");
  EXPECT_RV(F3->C_GetInfo(&info), CKR_OK, "still initialised after the bad C_Finalize");
  EXPECT_RV(F3->C_Finalize(NULL), CKR_OK, "C_Finalize(NULL)");
  EXPECT_RV(F3->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED, "C_Finalize twice");
  expect_not_running("after C_Finalize");

  CK_C_INITIALIZE_ARGS a;
  memset(&a, 0, sizeof a);
  EXPECT_RV(F3->C_Initialize(&a), CKR_OK, "C_Initialize(all-zero args)");
  EXPECT_RV(F3->C_Finalize(NULL), CKR_OK, "C_Finalize");

  memset(&a, 0, sizeof a);
  a.flags = CKF_OS_LOCKING_OK;
  EXPECT_RV(F3->C_Initialize(&a), CKR_OK, "C_Initialize(CKF_OS_LOCKING_OK)");
  EXPECT_RV(F3->C_GetInfo(&info), CKR_OK, "C_GetInfo");
  EXPECT_RV(F3->C_Finalize(NULL), CKR_OK, "C_Finalize");

  memset(&a, 0, sizeof a);
  a.CreateMutex = my_create;
  a.DestroyMutex = my_destroy;
  a.LockMutex = my_lock;
  a.UnlockMutex = my_unlock;
  EXPECT_RV(F3->C_Initialize(&a), CKR_OK, "C_Initialize(four mutex callbacks)");
  EXPECT_RV(F3->C_GetInfo(&info), CKR_OK, "C_GetInfo");
  EXPECT_RV(F3->C_Finalize(NULL), CKR_OK, "C_Finalize");
  a.flags = CKF_OS_LOCKING_OK;
  EXPECT_RV(F3->C_Initialize(&a), CKR_OK, "C_Initialize(four mutex callbacks + CKF_OS_LOCKING_OK)");
  EXPECT_RV(F3->C_Finalize(NULL), CKR_OK, "C_Finalize");

  memset(&a, 0, sizeof a);
  a.CreateMutex = my_create;
  a.LockMutex = my_lock;
  EXPECT_RV(F3->C_Initialize(&a), CKR_ARGUMENTS_BAD, "C_Initialize(two of four mutex callbacks)");
  expect_not_running("after a rejected C_Initialize");
  a.DestroyMutex = my_destroy;
  EXPECT_RV(F3->C_Initialize(&a), CKR_ARGUMENTS_BAD, "C_Initialize(three of four mutex callbacks)");
  memset(&a, 0, sizeof a);
  a.UnlockMutex = my_unlock;
  a.flags = CKF_OS_LOCKING_OK;
  EXPECT_RV(F3->C_Initialize(&a), CKR_ARGUMENTS_BAD, "C_Initialize(one callback + CKF_OS_LOCKING_OK)");

  memset(&a, 0, sizeof a);
  a.pReserved = &a;
  EXPECT_RV(F3->C_Initialize(&a), CKR_ARGUMENTS_BAD, "C_Initialize(pReserved non-NULL)");
  expect_not_running("after C_Initialize(pReserved)");

  /* The process transport creates no thread in this process; the embedded one must. */
  memset(&a, 0, sizeof a);
  a.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS;
  if (g_process) {
    EXPECT_RV(F3->C_Initialize(&a), CKR_OK, "C_Initialize(CKF_LIBRARY_CANT_CREATE_OS_THREADS), process transport");
    EXPECT_RV(F3->C_Finalize(NULL), CKR_OK, "C_Finalize");
  } else {
    EXPECT_RV(F3->C_Initialize(&a), CKR_NEED_TO_CREATE_THREADS, "C_Initialize(CKF_LIBRARY_CANT_CREATE_OS_THREADS), embedded transport");
    expect_not_running("after CKR_NEED_TO_CREATE_THREADS");
    a.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS | CKF_OS_LOCKING_OK;
    EXPECT_RV(F3->C_Initialize(&a), CKR_NEED_TO_CREATE_THREADS, "C_Initialize(CANT_CREATE_OS_THREADS | OS_LOCKING_OK)");
  }

  EXPECT_RV(F3->C_Initialize(NULL), CKR_OK, "C_Initialize(NULL) after the rejected ones");
  EXPECT_RV(F3->C_Finalize(NULL), CKR_OK, "C_Finalize");
}

/* ------------------------------------------------- 3. C_WaitForSlotEvent */

struct waiter {
  CK_RV rv;
  CK_ULONG slot;
  volatile int done;
};

static void *wait_for_event(void *p) {
  struct waiter *w = p;
  w->rv = F3->C_WaitForSlotEvent(0, &w->slot, NULL);
  __atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static int join_within(pthread_t t, int seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += seconds;
  return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

static void test_wait_for_slot_event(void) {
  section("C_WaitForSlotEvent");
  CK_ULONG slot = 12345;
  EXPECT_RV(F3->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), CKR_CRYPTOKI_NOT_INITIALIZED,
            "C_WaitForSlotEvent before C_Initialize");
  EXPECT_RV(F3->C_Initialize(NULL), CKR_OK, "C_Initialize");
  EXPECT_RV(F3->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), CKR_NO_EVENT, "C_WaitForSlotEvent(CKF_DONT_BLOCK)");
  EXPECT_RV(F3->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL), CKR_ARGUMENTS_BAD, "C_WaitForSlotEvent(pSlot NULL)");
  EXPECT_RV(F3->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, &slot), CKR_ARGUMENTS_BAD,
            "C_WaitForSlotEvent(pReserved non-NULL)");

  static struct waiter w; /* static: a hung thread must not point into a dead frame */
  memset(&w, 0, sizeof w);
  pthread_t t;
  pthread_create(&t, NULL, wait_for_event, &w);
  sleep_ms(300);
  check(!__atomic_load_n(&w.done, __ATOMIC_SEQ_CST), "blocking C_WaitForSlotEvent blocks (returned 0x%lx early)",
        (unsigned long)w.rv);
  CK_INFO info;
  EXPECT_RV(F3->C_GetInfo(&info), CKR_OK, "other calls proceed while a thread waits for a slot event");
  watchdog(30);
  double t0 = now_s();
  EXPECT_RV(F3->C_Finalize(NULL), CKR_OK, "C_Finalize while a thread waits");
  int joined = join_within(t, 10);
  watchdog(0);
  check(joined, "the waiting thread returned within 10 s of C_Finalize (%.2f s)", now_s() - t0);
  if (joined) EXPECT_RV(w.rv, CKR_CRYPTOKI_NOT_INITIALIZED, "the blocked C_WaitForSlotEvent");
  else pthread_detach(t);
}

/* ----------------------------------------------------------- 4. leaks */

static void test_cycles(void) {
  section("100 init/finalize cycles");
  int threads10 = 0, fds10 = 0, threads100 = 0, fds100 = 0;
  long rss10 = 0, rss100 = 0;
  int bad = 0;
  double t0 = now_s();
  for (int i = 1; i <= 100; i++) {
    CK_INFO info;
    CK_RV a = F3->C_Initialize(NULL), b = F3->C_GetInfo(&info), c = F3->C_Finalize(NULL);
    if (a != CKR_OK || b != CKR_OK || c != CKR_OK) {
      if (bad++ < 3) check(0, "cycle %d: C_Initialize 0x%lx, C_GetInfo 0x%lx, C_Finalize 0x%lx", i, a, b, c);
    }
    if (i == 10) {
      threads10 = count_dir("/proc/self/task");
      fds10 = count_dir("/proc/self/fd");
      rss10 = rss_kb();
    }
  }
  threads100 = count_dir("/proc/self/task");
  fds100 = count_dir("/proc/self/fd");
  rss100 = rss_kb();
  double dt = now_s() - t0;
  printf("# leak numbers (%s): after cycle 10: threads %d fds %d rss %ld KiB; after cycle 100: threads %d fds %d rss %ld KiB; "
         "%.1f ms per cycle\n",
         g_process ? "process" : "embedded", threads10, fds10, rss10, threads100, fds100, rss100, dt * 10);
  check(bad == 0, "all 100 cycles succeeded (%d failed)", bad);
  check(threads100 <= threads10, "threads do not grow: %d -> %d", threads10, threads100);
  check(fds100 <= fds10, "fds do not grow: %d -> %d", fds10, fds100);
  /* Allocator and V8 noise: allow 8 MiB over 90 cycles (~90 KiB per cycle). */
  check(rss100 - rss10 <= 8192, "RSS does not grow: %ld KiB -> %ld KiB (%+ld KiB)", rss10, rss100, rss100 - rss10);
  if (g_process) check(zombie_children() == 0 && runtime_child() == 0, "no runtime children or zombies left");
}

/* ------------------------------------------- 5. NULL pointers, handles */

static CK_ULONG g_session, g_object;

static void setup_token(void) {
  section("token set-up");
  EXPECT_RV(F3->C_Initialize(NULL), CKR_OK, "C_Initialize");
  CK_ULONG slots[8], n = 8;
  EXPECT_RV(F3->C_GetSlotList(1, slots, &n), CKR_OK, "C_GetSlotList");
  if (!check(n >= 1, "at least one slot (%lu)", n)) exit(1);
  g_slot = slots[0];
  CK_UTF8CHAR label[32];
  memset(label, ' ', 32);
  memcpy(label, "api-test", 8);
  EXPECT_RV(F3->C_InitToken(g_slot, (CK_BYTE_PTR)SO_PIN, strlen(SO_PIN), label), CKR_OK, "C_InitToken");
  CK_ULONG h = open_session();
  EXPECT_RV(F3->C_Login(h, CKU_SO, (CK_BYTE_PTR)SO_PIN, strlen(SO_PIN)), CKR_OK, "C_Login(SO)");
  EXPECT_RV(F3->C_InitPIN(h, (CK_BYTE_PTR)USER_PIN, strlen(USER_PIN)), CKR_OK, "C_InitPIN");
  EXPECT_RV(F3->C_Logout(h), CKR_OK, "C_Logout");
  EXPECT_RV(F3->C_CloseSession(h), CKR_OK, "C_CloseSession");
  g_session = open_session();
  g_object = create_data_object(g_session, "craton", "hello world");
  check(g_session && g_object, "session %lu, data object %lu", g_session, g_object);
}

static void test_null_pointers(void) {
  section("NULL pointers");
  CK_ULONG h = g_session, n = 4, list[4], obj = 0;
  CK_INFO info;
  CK_SLOT_INFO si;
  CK_TOKEN_INFO ti;
  CK_SESSION_INFO ssi;
  CK_MECHANISM_INFO mi;
  CK_BYTE buf[64];
  CK_ULONG cls = CKO_DATA;
  CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}};
  CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
  CK_UTF8CHAR label[32];
  memset(label, ' ', sizeof label);

  EXPECT_RV(F3->C_GetInfo(NULL), CKR_ARGUMENTS_BAD, "C_GetInfo(NULL)");
  EXPECT_RV(F3->C_GetSlotList(0, NULL, NULL), CKR_ARGUMENTS_BAD, "C_GetSlotList(NULL, NULL count)");
  EXPECT_RV(F3->C_GetSlotList(0, list, NULL), CKR_ARGUMENTS_BAD, "C_GetSlotList(list, NULL count)");
  EXPECT_RV(F3->C_GetSlotInfo(g_slot, NULL), CKR_ARGUMENTS_BAD, "C_GetSlotInfo(NULL)");
  EXPECT_RV(F3->C_GetTokenInfo(g_slot, NULL), CKR_ARGUMENTS_BAD, "C_GetTokenInfo(NULL)");
  EXPECT_RV(F3->C_GetMechanismList(g_slot, NULL, NULL), CKR_ARGUMENTS_BAD, "C_GetMechanismList(NULL count)");
  EXPECT_RV(F3->C_GetMechanismInfo(g_slot, CKM_SHA256, NULL), CKR_ARGUMENTS_BAD, "C_GetMechanismInfo(NULL)");
  EXPECT_RV(F3->C_InitToken(g_slot, NULL, 8, label), CKR_ARGUMENTS_BAD, "C_InitToken(NULL pin, 8)");
  EXPECT_RV(F3->C_InitToken(g_slot, (CK_BYTE_PTR)SO_PIN, 8, NULL), CKR_ARGUMENTS_BAD, "C_InitToken(NULL label)");
  EXPECT_RV(F3->C_OpenSession(g_slot, CKF_SERIAL_SESSION, NULL, NULL, NULL), CKR_ARGUMENTS_BAD,
            "C_OpenSession(NULL phSession)");
  EXPECT_RV(F3->C_GetSessionInfo(h, NULL), CKR_ARGUMENTS_BAD, "C_GetSessionInfo(NULL)");
  EXPECT_RV(F3->C_Login(h, CKU_USER, NULL, 4), CKR_ARGUMENTS_BAD, "C_Login(NULL pin, 4)");
  EXPECT_RV(F3->C_LoginUser(h, CKU_USER, (CK_BYTE_PTR)USER_PIN, 4, NULL, 3), CKR_ARGUMENTS_BAD,
            "C_LoginUser(NULL username, 3)");
  EXPECT_RV(F3->C_InitPIN(h, NULL, 4), CKR_ARGUMENTS_BAD, "C_InitPIN(NULL pin, 4)");
  EXPECT_RV(F3->C_SetPIN(h, NULL, 4, (CK_BYTE_PTR) "5678", 4), CKR_ARGUMENTS_BAD, "C_SetPIN(NULL old pin, 4)");
  EXPECT_RV(F3->C_SetPIN(h, (CK_BYTE_PTR)USER_PIN, 4, NULL, 4), CKR_ARGUMENTS_BAD, "C_SetPIN(NULL new pin, 4)");
  EXPECT_RV(F3->C_CreateObject(h, NULL, 2, &obj), CKR_ARGUMENTS_BAD, "C_CreateObject(NULL template, 2)");
  EXPECT_RV(F3->C_CreateObject(h, tmpl, 1, NULL), CKR_ARGUMENTS_BAD, "C_CreateObject(NULL phObject)");
  EXPECT_RV(F3->C_CopyObject(h, g_object, NULL, 1, &obj), CKR_ARGUMENTS_BAD, "C_CopyObject(NULL template, 1)");
  EXPECT_RV(F3->C_CopyObject(h, g_object, NULL, 0, NULL), CKR_ARGUMENTS_BAD, "C_CopyObject(NULL phNewObject)");
  EXPECT_RV(F3->C_GetObjectSize(h, g_object, NULL), CKR_ARGUMENTS_BAD, "C_GetObjectSize(NULL)");
  EXPECT_RV(F3->C_GetAttributeValue(h, g_object, NULL, 1), CKR_ARGUMENTS_BAD, "C_GetAttributeValue(NULL template, 1)");
  EXPECT_RV(F3->C_SetAttributeValue(h, g_object, NULL, 1), CKR_ARGUMENTS_BAD, "C_SetAttributeValue(NULL template, 1)");
  EXPECT_RV(F3->C_FindObjectsInit(h, NULL, 1), CKR_ARGUMENTS_BAD, "C_FindObjectsInit(NULL template, 1)");
  EXPECT_RV(F3->C_FindObjectsInit(h, NULL, 0), CKR_OK, "C_FindObjectsInit(NULL template, 0)");
  EXPECT_RV(F3->C_FindObjects(h, list, 4, NULL), CKR_ARGUMENTS_BAD, "C_FindObjects(NULL count)");
  EXPECT_RV(F3->C_FindObjects(h, NULL, 4, &n), CKR_ARGUMENTS_BAD, "C_FindObjects(NULL array, 4)");
  EXPECT_RV(F3->C_FindObjectsFinal(h), CKR_OK, "C_FindObjectsFinal");
  /* A NULL mechanism ends the active operation (PKCS#11 3.0), and is harmless without one. */
  EXPECT_RV(F3->C_DigestInit(h, NULL), CKR_OK, "C_DigestInit(NULL mechanism), nothing active");
  EXPECT_RV(F3->C_DigestInit(h, &sha), CKR_OK, "C_DigestInit(SHA256)");
  EXPECT_RV(F3->C_DigestInit(h, NULL), CKR_OK, "C_DigestInit(NULL mechanism) ends it");
  EXPECT_RV(F3->C_DigestUpdate(h, (CK_BYTE_PTR) "abc", 3), CKR_OPERATION_NOT_INITIALIZED, "C_DigestUpdate after the NULL-mechanism C_DigestInit");
  EXPECT_RV(F3->C_DigestInit(h, &sha), CKR_OK, "C_DigestInit(SHA256)");
  EXPECT_RV(F3->C_Digest(h, (CK_BYTE_PTR) "abc", 3, buf, NULL), CKR_ARGUMENTS_BAD, "C_Digest(NULL pulDigestLen)");
  EXPECT_RV(F3->C_DigestInit(h, &sha), CKR_OK, "C_DigestInit(SHA256) after the failed C_Digest");
  n = sizeof buf;
  EXPECT_RV(F3->C_Digest(h, NULL, 3, buf, &n), CKR_ARGUMENTS_BAD, "C_Digest(NULL data, 3)");
  EXPECT_RV(F3->C_DigestInit(h, &sha), CKR_OK, "C_DigestInit(SHA256)");
  EXPECT_RV(F3->C_DigestUpdate(h, NULL, 3), CKR_ARGUMENTS_BAD, "C_DigestUpdate(NULL part, 3)");
  EXPECT_RV(F3->C_DigestInit(h, &sha), CKR_OK, "C_DigestInit(SHA256)");
  EXPECT_RV(F3->C_DigestFinal(h, buf, NULL), CKR_ARGUMENTS_BAD, "C_DigestFinal(NULL pulDigestLen)");
  EXPECT_RV(F3->C_GenerateRandom(h, NULL, 16), CKR_ARGUMENTS_BAD, "C_GenerateRandom(NULL, 16)");
  /* Zero bytes into a NULL buffer: the runtime accepts it (Call.outFixed); either CKR_OK or
   * CKR_ARGUMENTS_BAD is defensible, CKR_DEVICE_ERROR (a protocol fault) is not. */
  CK_RV rv0 = F3->C_GenerateRandom(h, NULL, 0);
  check(rv0 == CKR_OK || rv0 == CKR_ARGUMENTS_BAD, "C_GenerateRandom(NULL, 0) -> 0x%lx (want CKR_OK or CKR_ARGUMENTS_BAD)",
        (unsigned long)rv0);
  EXPECT_RV(F3->C_SeedRandom(h, NULL, 4), CKR_ARGUMENTS_BAD, "C_SeedRandom(NULL, 4)");

  check(module_works(h), "the module still works after the NULL-pointer calls");
  (void)info; (void)si; (void)ti; (void)ssi; (void)mi;
}

static void test_bad_handles(void) {
  section("invalid handles");
  const CK_ULONG bad = 0xDEADBEEF;
  CK_SESSION_INFO ssi;
  CK_SLOT_INFO si;
  CK_TOKEN_INFO ti;
  CK_ULONG n = 0, h = 0, size = 0;
  CK_BYTE buf[16];
  CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
  CK_ATTRIBUTE a = {CKA_LABEL, NULL, 0};

  EXPECT_RV(F3->C_GetSessionInfo(bad, &ssi), CKR_SESSION_HANDLE_INVALID, "C_GetSessionInfo(0xDEADBEEF)");
  EXPECT_RV(F3->C_GetSessionInfo(0, &ssi), CKR_SESSION_HANDLE_INVALID, "C_GetSessionInfo(CK_INVALID_HANDLE)");
  EXPECT_RV(F3->C_CloseSession(bad), CKR_SESSION_HANDLE_INVALID, "C_CloseSession(bad)");
  EXPECT_RV(F3->C_DigestInit(bad, &sha), CKR_SESSION_HANDLE_INVALID, "C_DigestInit(bad session)");
  EXPECT_RV(F3->C_GenerateRandom(bad, buf, sizeof buf), CKR_SESSION_HANDLE_INVALID, "C_GenerateRandom(bad session)");
  EXPECT_RV(F3->C_FindObjectsInit(bad, NULL, 0), CKR_SESSION_HANDLE_INVALID, "C_FindObjectsInit(bad session)");
  EXPECT_RV(F3->C_Login(bad, CKU_USER, (CK_BYTE_PTR)USER_PIN, 4), CKR_SESSION_HANDLE_INVALID, "C_Login(bad session)");
  EXPECT_RV(F3->C_GetAttributeValue(g_session, bad, &a, 1), CKR_OBJECT_HANDLE_INVALID, "C_GetAttributeValue(bad object)");
  EXPECT_RV(F3->C_GetAttributeValue(g_session, 0, &a, 1), CKR_OBJECT_HANDLE_INVALID,
            "C_GetAttributeValue(CK_INVALID_HANDLE)");
  EXPECT_RV(F3->C_DestroyObject(g_session, bad), CKR_OBJECT_HANDLE_INVALID, "C_DestroyObject(bad object)");
  EXPECT_RV(F3->C_GetObjectSize(g_session, bad, &size), CKR_OBJECT_HANDLE_INVALID, "C_GetObjectSize(bad object)");
  EXPECT_RV(F3->C_GetSlotInfo(bad, &si), CKR_SLOT_ID_INVALID, "C_GetSlotInfo(bad slot)");
  EXPECT_RV(F3->C_GetTokenInfo(bad, &ti), CKR_SLOT_ID_INVALID, "C_GetTokenInfo(bad slot)");
  EXPECT_RV(F3->C_GetMechanismList(bad, NULL, &n), CKR_SLOT_ID_INVALID, "C_GetMechanismList(bad slot)");
  EXPECT_RV(F3->C_OpenSession(bad, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_SLOT_ID_INVALID, "C_OpenSession(bad slot)");
  EXPECT_RV(F3->C_CloseAllSessions(bad), CKR_SLOT_ID_INVALID, "C_CloseAllSessions(bad slot)");
  /* A CK_ULONG beyond 2^53 must not alias a valid handle in the runtime's number arithmetic. */
  EXPECT_RV(F3->C_GetSessionInfo(g_session | (1UL << 60), &ssi), CKR_SESSION_HANDLE_INVALID,
            "C_GetSessionInfo(valid handle | 1<<60)");
  EXPECT_RV(F3->C_GetSlotInfo(g_slot | (1UL << 60), &si), CKR_SLOT_ID_INVALID, "C_GetSlotInfo(slot | 1<<60)");
  EXPECT_RV(F3->C_GetAttributeValue(g_session, g_object | (1UL << 60), &a, 1), CKR_OBJECT_HANDLE_INVALID,
            "C_GetAttributeValue(object | 1<<60)");
  check(module_works(g_session), "the module still works after the invalid-handle calls");
}

/* -------------------------------------------------- 6. output buffers */

static void test_output_buffers(void) {
  section("output buffers");
  CK_ULONG h = g_session, len;
  CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
  unsigned char buf[80];

  EXPECT_RV(F3->C_DigestInit(h, &sha), CKR_OK, "C_DigestInit(SHA256)");
  len = 12345;
  EXPECT_RV(F3->C_Digest(h, (CK_BYTE_PTR) "abc", 3, NULL, &len), CKR_OK, "C_Digest(NULL buffer)");
  check(len == 32, "length query gives %lu (want 32)", len);
  memset(buf, 0xA5, sizeof buf);
  len = 10;
  EXPECT_RV(F3->C_Digest(h, (CK_BYTE_PTR) "abc", 3, buf, &len), CKR_BUFFER_TOO_SMALL, "C_Digest(10-byte buffer)");
  check(len == 32, "too small gives the length %lu (want 32)", len);
  int untouched = 1;
  for (size_t i = 0; i < sizeof buf; i++) untouched &= buf[i] == 0xA5;
  check(untouched, "too small a buffer is not written");
  len = 64;
  EXPECT_RV(F3->C_Digest(h, (CK_BYTE_PTR) "abc", 3, buf, &len), CKR_OK, "C_Digest(64-byte buffer) after both");
  check(len == 32 && memcmp(buf, SHA256_ABC, 32) == 0, "digest is SHA-256(\"abc\") (len %lu)", len);
  untouched = 1;
  for (size_t i = 32; i < sizeof buf; i++) untouched &= buf[i] == 0xA5;
  check(untouched, "bytes past the digest are not written");
  len = 64;
  EXPECT_RV(F3->C_Digest(h, (CK_BYTE_PTR) "abc", 3, buf, &len), CKR_OPERATION_NOT_INITIALIZED,
            "C_Digest after success: operation ended");

  /* The multi-part path: C_DigestFinal keeps the operation on length queries too. */
  EXPECT_RV(F3->C_DigestInit(h, &sha), CKR_OK, "C_DigestInit");
  EXPECT_RV(F3->C_DigestUpdate(h, (CK_BYTE_PTR) "ab", 2), CKR_OK, "C_DigestUpdate(\"ab\")");
  EXPECT_RV(F3->C_DigestUpdate(h, (CK_BYTE_PTR) "c", 1), CKR_OK, "C_DigestUpdate(\"c\")");
  len = 0;
  EXPECT_RV(F3->C_DigestFinal(h, NULL, &len), CKR_OK, "C_DigestFinal(NULL)");
  check(len == 32, "length %lu", len);
  len = 31;
  EXPECT_RV(F3->C_DigestFinal(h, buf, &len), CKR_BUFFER_TOO_SMALL, "C_DigestFinal(31 bytes)");
  check(len == 32, "length %lu", len);
  len = 32;
  EXPECT_RV(F3->C_DigestFinal(h, buf, &len), CKR_OK, "C_DigestFinal(32 bytes)");
  check(len == 32 && memcmp(buf, SHA256_ABC, 32) == 0, "multi-part digest is SHA-256(\"abc\")");

  /* C_GenerateRandom writes exactly ulRandomLen bytes. */
  memset(buf, 0xA5, sizeof buf);
  EXPECT_RV(F3->C_GenerateRandom(h, buf + 8, 16), CKR_OK, "C_GenerateRandom(16)");
  untouched = 1;
  for (int i = 0; i < 8; i++) untouched &= buf[i] == 0xA5;
  for (size_t i = 24; i < sizeof buf; i++) untouched &= buf[i] == 0xA5;
  check(untouched, "C_GenerateRandom writes only its 16 bytes");

  /* C_GetSlotList: length query, too small, success. */
  CK_ULONG slots[4] = {99, 99, 99, 99}, n = 0;
  EXPECT_RV(F3->C_GetSlotList(0, NULL, &n), CKR_OK, "C_GetSlotList(NULL)");
  CK_ULONG want = n;
  check(want >= 1, "slot count %lu", want);
  n = want - 1;
  EXPECT_RV(F3->C_GetSlotList(0, slots, &n), CKR_BUFFER_TOO_SMALL, "C_GetSlotList(count - 1)");
  check(n == want, "too small gives the count %lu (want %lu)", n, want);
  n = 4;
  EXPECT_RV(F3->C_GetSlotList(0, slots, &n), CKR_OK, "C_GetSlotList(4)");
  check(n == want && slots[0] == g_slot, "slot list [%lu], count %lu", slots[0], n);

  /* C_GetAttributeValue */
  CK_ULONG cls = 0xA5A5A5A5UL;
  char label[16], value[32];
  CK_ATTRIBUTE t[3] = {{CKA_CLASS, NULL, 0}, {CKA_LABEL, NULL, 0}, {CKA_VALUE, NULL, 0}};
  EXPECT_RV(F3->C_GetAttributeValue(h, g_object, t, 3), CKR_OK, "C_GetAttributeValue(lengths)");
  check(t[0].ulValueLen == sizeof(CK_ULONG), "CKA_CLASS length %lu (want sizeof(CK_ULONG) = %zu)", t[0].ulValueLen,
        sizeof(CK_ULONG));
  check(t[1].ulValueLen == 6 && t[2].ulValueLen == 11, "CKA_LABEL %lu (want 6), CKA_VALUE %lu (want 11)", t[1].ulValueLen,
        t[2].ulValueLen);

  memset(label, 0xA5, sizeof label);
  memset(value, 0xA5, sizeof value);
  CK_ATTRIBUTE small[3] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, label, 3}, {CKA_VALUE, value, sizeof value}};
  EXPECT_RV(F3->C_GetAttributeValue(h, g_object, small, 3), CKR_BUFFER_TOO_SMALL, "C_GetAttributeValue(label buffer 3)");
  check(small[1].ulValueLen == CK_UNAVAILABLE_INFORMATION, "the too-small entry gets CK_UNAVAILABLE_INFORMATION (%lx)",
        small[1].ulValueLen);
  check(label[0] == (char)0xA5 && label[3] == (char)0xA5, "the too-small buffer is not written");
  check(small[0].ulValueLen == sizeof(CK_ULONG) && cls == CKO_DATA, "the other entries are filled: class %lu len %lu", cls,
        small[0].ulValueLen);
  check(small[2].ulValueLen == 11 && memcmp(value, "hello world", 11) == 0 && value[11] == (char)0xA5,
        "CKA_VALUE filled, nothing past its 11 bytes");

  CK_ULONG cls_short = 0;
  CK_ATTRIBUTE short_ulong = {CKA_CLASS, &cls_short, sizeof(CK_ULONG) - 1};
  EXPECT_RV(F3->C_GetAttributeValue(h, g_object, &short_ulong, 1), CKR_BUFFER_TOO_SMALL,
            "C_GetAttributeValue(CKA_CLASS, sizeof(CK_ULONG) - 1)");
  check(short_ulong.ulValueLen == CK_UNAVAILABLE_INFORMATION && cls_short == 0,
        "short CK_ULONG buffer: CK_UNAVAILABLE_INFORMATION, not written");

  cls = 0;
  memset(label, 0, sizeof label);
  CK_ATTRIBUTE ok[2] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, label, sizeof label}};
  EXPECT_RV(F3->C_GetAttributeValue(h, g_object, ok, 2), CKR_OK, "C_GetAttributeValue(ample buffers)");
  check(cls == CKO_DATA && ok[0].ulValueLen == sizeof(CK_ULONG) && ok[1].ulValueLen == 6 && memcmp(label, "craton", 6) == 0,
        "values read back: class %lu, label %.6s", cls, label);

  cls = 0;
  CK_ATTRIBUTE mixed[3] = {{CKA_MODULUS, value, sizeof value}, {CKA_CLASS, &cls, sizeof cls}, {0x8ABCDEF0UL, NULL, 0}};
  EXPECT_RV(F3->C_GetAttributeValue(h, g_object, mixed, 3), CKR_ATTRIBUTE_TYPE_INVALID,
            "C_GetAttributeValue(CKA_MODULUS of a data object, vendor type)");
  check(mixed[0].ulValueLen == CK_UNAVAILABLE_INFORMATION && mixed[2].ulValueLen == CK_UNAVAILABLE_INFORMATION,
        "invalid types get CK_UNAVAILABLE_INFORMATION (%lx, %lx)", mixed[0].ulValueLen, mixed[2].ulValueLen);
  check(cls == CKO_DATA && mixed[1].ulValueLen == sizeof(CK_ULONG), "the valid entry is still filled (class %lu)", cls);

  /* C_FindObjects writes at most ulMaxObjectCount handles. */
  CK_ULONG found[4] = {0, 0xA5A5, 0xA5A5, 0xA5A5}, count = 99;
  CK_ULONG dcls = CKO_DATA;
  CK_ATTRIBUTE ft = {CKA_CLASS, &dcls, sizeof dcls};
  EXPECT_RV(F3->C_FindObjectsInit(h, &ft, 1), CKR_OK, "C_FindObjectsInit(class data)");
  EXPECT_RV(F3->C_FindObjects(h, found, 1, &count), CKR_OK, "C_FindObjects(max 1)");
  check(count == 1 && found[0] == g_object && found[1] == 0xA5A5, "one handle written (%lu, count %lu)", found[0], count);
  EXPECT_RV(F3->C_FindObjectsFinal(h), CKR_OK, "C_FindObjectsFinal");
}

/* ---------------------------------------------------------- 7. threads */

struct worker {
  int id;
  double until;
  unsigned long iterations, failures;
  CK_RV first_error;
  const char *first_where;
};

static void *worker_main(void *p) {
  struct worker *w = p;
  while (now_s() < w->until) {
    CK_ULONG h = 0, found[8], count = 0;
    unsigned char d[32];
    const char *where = "C_OpenSession";
    CK_RV rv = F3->C_OpenSession(g_slot, CKF_SERIAL_SESSION, NULL, NULL, &h);
    if (rv == CKR_OK) {
      where = "digest";
      rv = digest_abc(h, d);
    }
    if (rv == CKR_OK) {
      where = "C_FindObjectsInit";
      rv = F3->C_FindObjectsInit(h, NULL, 0);
    }
    if (rv == CKR_OK) {
      where = "C_FindObjects";
      rv = F3->C_FindObjects(h, found, 8, &count);
    }
    if (rv == CKR_OK) {
      where = "C_FindObjectsFinal";
      rv = F3->C_FindObjectsFinal(h);
    }
    if (h) {
      CK_RV c = F3->C_CloseSession(h);
      if (rv == CKR_OK) {
        where = "C_CloseSession";
        rv = c;
      }
    }
    w->iterations++;
    if (rv != CKR_OK) {
      if (!w->failures) {
        w->first_error = rv;
        w->first_where = where;
      }
      w->failures++;
    }
  }
  return NULL;
}

static void test_threads(void) {
  section("4 threads");
  struct worker w[4];
  pthread_t t[4];
  double until = now_s() + 3.0;
  watchdog(60);
  for (int i = 0; i < 4; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].id = i;
    w[i].until = until;
    pthread_create(&t[i], NULL, worker_main, &w[i]);
  }
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  watchdog(0);
  unsigned long total = 0;
  for (int i = 0; i < 4; i++) {
    total += w[i].iterations;
    check(w[i].failures == 0 && w[i].iterations > 0, "thread %d: %lu loops, %lu failed%s%s (0x%lx)", i, w[i].iterations,
          w[i].failures, w[i].failures ? ", first in " : "", w[i].failures ? w[i].first_where : "", (unsigned long)w[i].first_error);
  }
  printf("# threads: %lu open/digest/find/close loops in 3 s\n", total);
  check(module_works(g_session), "the module still works after the threads");
}

/* ---------------------------------------------- 8. runtime killed */

static void *digest_until_error(void *p) {
  struct waiter *w = p;
  CK_ULONG h = g_session;
  unsigned char d[32];
  CK_RV rv;
  do rv = digest_abc(h, d);
  while (rv == CKR_OK);
  w->rv = rv;
  __atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void test_runtime_killed(void) {
  section("runtime killed (process transport)");
  CK_INFO info;
  pid_t child = runtime_child();
  if (!check(child > 0, "found the runtime child (%d)", (int)child)) return;
  int fds_before = count_dir("/proc/self/fd");

  /* Killed while idle. */
  kill(child, SIGKILL);
  sleep_ms(200);
  EXPECT_RV(F3->C_GetInfo(&info), CKR_DEVICE_ERROR, "C_GetInfo after the runtime was killed (idle)");
  EXPECT_RV(F3->C_GetInfo(&info), CKR_DEVICE_ERROR, "again");
  unsigned char d[32];
  EXPECT_RV(digest_abc(g_session, d), CKR_DEVICE_ERROR, "C_DigestInit after the kill");
  EXPECT_RV(F3->C_Finalize(NULL), CKR_OK, "C_Finalize after the kill");
  check(zombie_children() == 0, "the dead runtime was reaped");
  EXPECT_RV(F3->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED, "C_GetInfo after that C_Finalize");
  EXPECT_RV(F3->C_Initialize(NULL), CKR_OK, "C_Initialize starts a fresh runtime");
  pid_t fresh = runtime_child();
  check(fresh > 0 && fresh != child, "a new runtime child (%d, was %d)", (int)fresh, (int)child);
  EXPECT_RV(F3->C_GetInfo(&info), CKR_OK, "C_GetInfo on the fresh runtime");
  CK_ULONG h = open_session();
  check(h && module_works(h), "sessions and digests work on the fresh runtime");

  /* Killed during calls: one blocked in C_WaitForSlotEvent, one digesting in a loop. */
  g_session = h;
  static struct waiter blocked, busy;
  memset(&blocked, 0, sizeof blocked);
  memset(&busy, 0, sizeof busy);
  pthread_t t1, t2;
  pthread_create(&t1, NULL, wait_for_event, &blocked);
  pthread_create(&t2, NULL, digest_until_error, &busy);
  sleep_ms(300);
  check(!blocked.done && !busy.done, "both calls in flight before the kill");
  kill(fresh, SIGKILL);
  watchdog(30);
  int j1 = join_within(t1, 10), j2 = join_within(t2, 10);
  watchdog(0);
  check(j1 && j2, "calls in flight return after the kill");
  if (j1) EXPECT_RV(blocked.rv, CKR_DEVICE_ERROR, "the blocked C_WaitForSlotEvent");
  if (j2) EXPECT_RV(busy.rv, CKR_DEVICE_ERROR, "the digest loop");
  EXPECT_RV(F3->C_OpenSession(g_slot, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_DEVICE_ERROR, "C_OpenSession after the kill");

  /* C_Initialize without C_Finalize after the runtime died. */
  CK_RV rv = F3->C_Initialize(NULL);
  check(rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED || rv == CKR_DEVICE_ERROR,
        "C_Initialize over a dead runtime -> 0x%lx", (unsigned long)rv);
  if (rv == CKR_OK) EXPECT_RV(F3->C_Finalize(NULL), CKR_OK, "C_Finalize");
  else EXPECT_RV(F3->C_Finalize(NULL), CKR_OK, "C_Finalize after the kill");
  EXPECT_RV(F3->C_Initialize(NULL), CKR_OK, "C_Initialize after C_Finalize");
  EXPECT_RV(F3->C_GetInfo(&info), CKR_OK, "C_GetInfo on the third runtime");
  h = open_session();
  check(h && module_works(h), "the third runtime works");
  g_session = h;
  check(zombie_children() == 0, "no zombies");
  int fds_after = count_dir("/proc/self/fd");
  check(fds_after <= fds_before, "no fds leaked over two kills: %d -> %d", fds_before, fds_after);
}

/* --------------------------------------------------- 9. large replies */

struct big_call {
  CK_ULONG session, object;
  CK_RV random_rv, attr_rv;
  CK_ULONG attr_len;
  unsigned char *random;
  unsigned char *value;
  volatile int done;
};

static void *big_calls(void *p) {
  struct big_call *c = p;
  c->random_rv = F3->C_GenerateRandom(c->session, c->random, 4096);
  CK_ATTRIBUTE a = {CKA_VALUE, c->value, 2000};
  c->attr_rv = F3->C_GetAttributeValue(c->session, c->object, &a, 1);
  c->attr_len = a.ulValueLen;
  __atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

/* Replies longer than the runtime's initial 256-byte frame buffer. Runs in a
 * thread: a reply that never comes must fail this check, not hang the run. */
static void test_large_replies(void) {
  section("large replies");
  static struct big_call c;
  static unsigned char random[4096], value[2000];
  char big[1500];
  memset(big, 'v', sizeof big - 1);
  big[sizeof big - 1] = 0;
  memset(&c, 0, sizeof c);
  c.session = g_session;
  c.object = create_data_object(g_session, "big", big);
  c.random = random;
  c.value = value;
  pthread_t t;
  pthread_create(&t, NULL, big_calls, &c);
  int joined = join_within(t, 15);
  check(joined, "C_GenerateRandom(4096) and C_GetAttributeValue(1499-byte CKA_VALUE) return within 15 s");
  if (joined) {
    EXPECT_RV(c.random_rv, CKR_OK, "C_GenerateRandom(4096)");
    EXPECT_RV(c.attr_rv, CKR_OK, "C_GetAttributeValue(1499-byte CKA_VALUE)");
    check(c.attr_len == 1499 && memcmp(value, big, 1499) == 0, "CKA_VALUE read back (%lu bytes)", c.attr_len);
    CK_INFO info;
    EXPECT_RV(F3->C_GetInfo(&info), CKR_OK, "C_GetInfo after the large replies");
    return;
  }
  if (g_process) {
    /* Unblock the caller the only way there is: the runtime goes, the call fails. */
    pid_t child = runtime_child();
    if (child > 0) kill(child, SIGKILL);
    check(join_within(t, 10), "the stuck call returns once the runtime is killed (rv 0x%lx / 0x%lx)", c.random_rv, c.attr_rv);
    return;
  }
  /* Embedded: the calling thread stays blocked, and C_Finalize would wait for it forever. */
  printf("# the embedded runtime never answered: stopping here\n");
  printf("%d passed, %d failed\n", g_passed, g_failed);
  fflush(stdout);
  remove_sandbox();
  _exit(1);
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s <path to libcraton_hsm.so>\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGALRM, on_alarm);
  signal(SIGPIPE, SIG_DFL); /* the module must not need SIGPIPE ignored */
  const char *rt = getenv("CRATON_HSM_RUNTIME");
  g_process = rt && strcmp(rt, "process") == 0;
  printf("# transport: %s\n", rt && *rt ? rt : "(auto)");
  make_sandbox();

  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    printf("FAIL 1 - dlopen: %s\n0 passed, 1 failed\n", dlerror());
    return 1;
  }
  watchdog(120);
  test_interfaces(lib);
  test_lifecycle();
  test_getinfo_versions();
  test_wait_for_slot_event();
  watchdog(240);
  test_cycles();
  watchdog(120);
  setup_token();
  test_null_pointers();
  test_bad_handles();
  test_output_buffers();
  test_threads();
  watchdog(120);
  if (g_process) test_runtime_killed();
  test_large_replies();
  section("teardown");
  EXPECT_RV(F3->C_Finalize(NULL), CKR_OK, "C_Finalize");
  watchdog(0);
  remove_sandbox();
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
