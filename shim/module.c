/* The module's C face: the interface lists, the runtime's lifecycle
 * (C_Initialize starts it, C_Finalize stops it), fork safety, and the one
 * path every other call takes: encode, send, decode. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "generated/craton_constants.h"
#include "marshal.h"
#include "transport.h"

#define TRANSPORT_EMBEDDED 1
#define TRANSPORT_PROCESS 2

static pthread_mutex_t g_init_lock = PTHREAD_MUTEX_INITIALIZER; /* serialises C_Initialize/C_Finalize */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;      /* guards the fields below */
static pthread_cond_t g_idle = PTHREAD_COND_INITIALIZER;
static craton_transport *g_transport;
static int g_transport_dead;
static unsigned g_calls_in_flight;
static uint32_t g_next_request_id = 1;
static int g_forked;           /* this process is a fork() child of one that used the module */
static int g_embedded_started; /* libnode ran in this process, so a fork() child must not embed it */
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

/* ------------------------------------------------------- message mechanisms */
/* The 3.0 message functions pass a parameter whose C type depends on the
 * mechanism given to C_Message*Init; the shim remembers it per session. */
typedef struct message_mech {
  CK_ULONG session;
  int op;
  CK_ULONG mechanism;
} message_mech;
static message_mech *g_message_mechs;
static size_t g_message_mech_count;

static void remember_message_mechanism(CK_ULONG session, int op, CK_ULONG mechanism) {
  pthread_mutex_lock(&g_lock);
  for (size_t i = 0; i < g_message_mech_count; i++) {
    if (g_message_mechs[i].session == session && g_message_mechs[i].op == op) {
      g_message_mechs[i].mechanism = mechanism;
      pthread_mutex_unlock(&g_lock);
      return;
    }
  }
  message_mech *grown = realloc(g_message_mechs, (g_message_mech_count + 1) * sizeof *grown);
  if (grown) {
    g_message_mechs = grown;
    g_message_mechs[g_message_mech_count++] = (message_mech){session, op, mechanism};
  }
  pthread_mutex_unlock(&g_lock);
}

int craton_message_mechanism(CK_ULONG session, int op, CK_ULONG *mechanism) {
  int found = 0;
  pthread_mutex_lock(&g_lock);
  for (size_t i = 0; i < g_message_mech_count && !found; i++) {
    if (g_message_mechs[i].session == session && g_message_mechs[i].op == op) {
      *mechanism = g_message_mechs[i].mechanism;
      found = 1;
    }
  }
  pthread_mutex_unlock(&g_lock);
  return found;
}

static void forget_message_mechanisms(void) {
  free(g_message_mechs);
  g_message_mechs = NULL;
  g_message_mech_count = 0;
}

/* ------------------------------------------------------------------- fork */

static void after_fork_in_child(void) {
  /* Only this thread survives the fork: locks may be held by threads that no
   * longer exist, and the runtime belongs to the parent. Start from scratch. */
  pthread_mutex_init(&g_init_lock, NULL);
  pthread_mutex_init(&g_lock, NULL);
  pthread_cond_init(&g_idle, NULL);
  if (g_transport) {
    g_transport->abandon(g_transport);
    g_transport = NULL;
    g_forked = 1;
  }
  if (g_embedded_started) g_forked = 1;
  g_transport_dead = 0;
  g_calls_in_flight = 0;
  forget_message_mechanisms();
}

static void install_atfork(void) { pthread_atfork(NULL, NULL, after_fork_in_child); }

/* ------------------------------------------------------------------ paths */

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static void find_paths(craton_paths *p) {
  Dl_info info;
  char dir[4096] = ".";
  memset(p, 0, sizeof *p);
  /* A static function's address: an exported one (C_GetFunctionList) may be
   * resolved to another module's, p11-kit's proxy for one, in the host. */
  if (dladdr((void *)&find_paths, &info) && info.dli_fname) {
    if (!realpath(info.dli_fname, p->module_path)) snprintf(p->module_path, sizeof p->module_path, "%s", info.dli_fname);
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", p->module_path);
    snprintf(dir, sizeof dir, "%s", dirname(copy));
  }
  const char *runtime = getenv("CRATON_HSM_RUNTIME_JS");
  if (runtime && *runtime) {
    snprintf(p->runtime_js, sizeof p->runtime_js, "%s", runtime);
  } else {
    /* Installed layout first (runtime beside the library), then the build tree. */
    snprintf(p->runtime_js, sizeof p->runtime_js, "%s/craton-hsm/runtime.js", dir);
    if (!file_exists(p->runtime_js)) snprintf(p->runtime_js, sizeof p->runtime_js, "%s/../dist/runtime.js", dir);
  }
  const char *embedder = getenv("CRATON_HSM_EMBEDDER");
  snprintf(p->embedder_lib, sizeof p->embedder_lib, "%s", embedder && *embedder ? embedder : "");
  if (!*p->embedder_lib) snprintf(p->embedder_lib, sizeof p->embedder_lib, "%s/libcraton_embedder.so", dir);
}

/* ------------------------------------------------------------- round trip */

static uint32_t next_request_id(void) { return __atomic_fetch_add(&g_next_request_id, 1, __ATOMIC_RELAXED); }

static CK_RV round_trip(craton_transport *t, const craton_function_desc *fn, void **argv, int iface) {
  craton_buf req;
  craton_buf_init(&req);
  uint32_t id = next_request_id();
  CK_RV rv = craton_encode_request(&req, fn, argv, (uint8_t)iface, id);
  if (rv != CRATON_RV_OK) {
    craton_buf_free(&req);
    return rv;
  }
  uint8_t *reply = NULL;
  size_t reply_len = 0;
  int rc = t->call(t, req.data, req.len, &reply, &reply_len);
  craton_buf_free(&req);
  if (rc != 0) {
    pthread_mutex_lock(&g_lock);
    g_transport_dead = 1;
    pthread_mutex_unlock(&g_lock);
    return CRATON_RV_DEVICE_ERROR;
  }
  rv = craton_decode_reply(reply, reply_len, fn, argv, id);
  explicit_bzero(reply, reply_len);
  free(reply);
  return rv;
}

/* Tells the runtime about the caller's C ABI, so it can size values in the caller's units. */
static int send_hello(craton_transport *t, int transport_kind, const craton_paths *paths) {
  craton_buf b;
  craton_buf_init(&b);
  uint32_t id = next_request_id();
  craton_header h = {CRATON_FRAME_REQUEST, 0, id, CRATON_FN_HELLO, 0};
  craton_write_header(&b, &h);
  craton_buf_u8(&b, (uint8_t)sizeof(CK_ULONG));
  craton_buf_u8(&b, (uint8_t)sizeof(void *));
  craton_buf_u16(&b, (uint16_t)sizeof(CK_ATTRIBUTE));
  craton_buf_u32(&b, (uint32_t)getpid());
  craton_buf_u8(&b, (uint8_t)transport_kind);
  craton_buf_u32(&b, (uint32_t)strlen(paths->module_path));
  craton_buf_bytes(&b, paths->module_path, strlen(paths->module_path));
  craton_finish_frame(&b);
  uint8_t *reply = NULL;
  size_t reply_len = 0;
  int ok = !b.failed && t->call(t, b.data, b.len, &reply, &reply_len) == 0;
  craton_buf_free(&b);
  if (!ok) return -1;
  craton_header rh;
  craton_reader r;
  ok = reply_len >= CRATON_WIRE_HEADER_SIZE && craton_parse_header(reply, &rh) == 0 && rh.request_id == id;
  if (ok) {
    craton_reader_init(&r, reply + CRATON_WIRE_HEADER_SIZE, reply_len - CRATON_WIRE_HEADER_SIZE);
    ok = craton_rd_u64(&r) == 0 && !r.failed;
  }
  free(reply);
  return ok ? 0 : -1;
}

static int host_is_node(void) { return dlsym(RTLD_DEFAULT, "napi_module_register") != NULL; }

/* The one configuration key the shim needs before a runtime exists:
 * [runtime] mode = "auto" | "embedded" | "process". The runtime validates the
 * whole file; this only looks for that line, in the file the runtime will read. */
static void config_runtime_mode(char *mode, size_t size) {
  char path[4096];
  const char *env = getenv("CRATON_HSM_CONFIG");
  const char *xdg = getenv("XDG_CONFIG_HOME");
  const char *home = getenv("HOME");
  if (env && *env) snprintf(path, sizeof path, "%s", env);
  else if (xdg && *xdg) snprintf(path, sizeof path, "%s/craton-hsm/craton_hsm.toml", xdg);
  else snprintf(path, sizeof path, "%s/.config/craton-hsm/craton_hsm.toml", home ? home : "");
  FILE *f = fopen(path, "r");
  if (!f && !(env && *env)) f = fopen("/etc/craton-hsm/craton_hsm.toml", "r");
  if (!f) return;
  char line[512], section[64] = "";
  while (fgets(line, sizeof line, f)) {
    char value[32];
    if (sscanf(line, " [%63[^]]]", section) == 1) continue;
    if (strcmp(section, "runtime") == 0 && sscanf(line, " mode = \"%31[a-z]\"", value) == 1) {
      snprintf(mode, size, "%s", value);
    }
  }
  fclose(f);
}

/* Starts the runtime, or returns NULL with *rv saying why. may_create_threads
 * is false when the caller's C_Initialize set CKF_LIBRARY_CANT_CREATE_OS_THREADS:
 * the embedded runtime needs a thread of its own in the caller's process, the
 * process transport creates none. */
static craton_transport *start_runtime(int may_create_threads, CK_RV *rv) {
  craton_paths paths;
  char err[512] = "";
  find_paths(&paths);
  char configured[32] = "auto";
  config_runtime_mode(configured, sizeof configured);
  const char *choice = getenv("CRATON_HSM_RUNTIME");
  if (!choice || !*choice) choice = configured;
  *rv = CRATON_RV_GENERAL_ERROR;
  if (!may_create_threads && strcmp(choice, "embedded") == 0) {
    *rv = CKR_NEED_TO_CREATE_THREADS;
    return NULL;
  }
  /* libnode cannot start again in a fork() child, whatever was asked for. */
  int want_embedded = may_create_threads && !g_forked &&
                      (strcmp(choice, "embedded") == 0 || (strcmp(choice, "auto") == 0 && !host_is_node()));
  craton_transport *t = NULL;
  int kind = TRANSPORT_PROCESS;
  if (want_embedded) {
    t = craton_embedded_transport_open(&paths, err, sizeof err);
    if (t) {
      kind = TRANSPORT_EMBEDDED;
      g_embedded_started = 1;
    } else if (strcmp(choice, "embedded") == 0) {
      fprintf(stderr, "craton-hsm: embedded runtime unavailable: %s\n", err);
      return NULL;
    }
  }
  if (!t) t = craton_process_transport_open(&paths, err, sizeof err);
  if (!t) {
    fprintf(stderr, "craton-hsm: cannot start the runtime: %s\n", err);
    return NULL;
  }
  if (send_hello(t, kind, &paths) != 0) {
    fprintf(stderr, "craton-hsm: the runtime (%s) did not answer; is %s built?\n", t->name, paths.runtime_js);
    t->close(t);
    return NULL;
  }
  return t;
}

/* Detaches the transport and waits until no other thread is using it. */
static craton_transport *detach_transport(unsigned own_refs) {
  pthread_mutex_lock(&g_lock);
  craton_transport *t = g_transport;
  g_transport = NULL;
  g_transport_dead = 0;
  while (g_calls_in_flight > own_refs) pthread_cond_wait(&g_idle, &g_lock);
  forget_message_mechanisms();
  pthread_mutex_unlock(&g_lock);
  return t;
}

static craton_transport *acquire(void) {
  pthread_mutex_lock(&g_lock);
  craton_transport *t = g_transport;
  if (t) g_calls_in_flight++;
  pthread_mutex_unlock(&g_lock);
  return t;
}

static void release(void) {
  pthread_mutex_lock(&g_lock);
  g_calls_in_flight--;
  pthread_cond_broadcast(&g_idle);
  pthread_mutex_unlock(&g_lock);
}

/* C_Initialize's one argument is CK_C_INITIALIZE_ARGS_PTR, possibly NULL. */
static int may_create_threads(void **argv) {
  const CK_C_INITIALIZE_ARGS *args = *(CK_C_INITIALIZE_ARGS *const *)argv[0];
  return !args || !(args->flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS);
}

static CK_RV initialize(const craton_function_desc *fn, void **argv, int iface) {
  pthread_mutex_lock(&g_init_lock);
  pthread_mutex_lock(&g_lock);
  craton_transport *t = g_transport;
  int dead = g_transport_dead;
  pthread_mutex_unlock(&g_lock);
  if (t && dead) {
    /* The runtime died: this C_Initialize starts a fresh one. */
    detach_transport(0)->close(t);
    t = NULL;
  }
  CK_RV rv;
  if (t) {
    /* Already running: the runtime answers (CKR_CRYPTOKI_ALREADY_INITIALIZED). */
    rv = round_trip(t, fn, argv, iface);
  } else if (!(t = start_runtime(may_create_threads(argv), &rv))) {
    /* rv says why */
  } else {
    rv = round_trip(t, fn, argv, iface);
    /* A runtime that refuses with CKR_GENERAL_ERROR (a failed self-test, a bad
     * configuration) stays attached and answers every later call itself, so
     * an error state lasts until the process ends. */
    if (rv == CRATON_RV_OK || rv == CRATON_RV_GENERAL_ERROR) {
      pthread_mutex_lock(&g_lock);
      g_transport = t;
      pthread_mutex_unlock(&g_lock);
    } else {
      t->close(t);
    }
  }
  pthread_mutex_unlock(&g_init_lock);
  return rv;
}

static CK_RV finalize(const craton_function_desc *fn, void **argv, int iface) {
  pthread_mutex_lock(&g_init_lock);
  craton_transport *t = acquire();
  if (!t) {
    pthread_mutex_unlock(&g_init_lock);
    return CRATON_RV_CRYPTOKI_NOT_INITIALIZED;
  }
  CK_RV rv = round_trip(t, fn, argv, iface);
  if (rv == CRATON_RV_OK || rv == CRATON_RV_DEVICE_ERROR) {
    /* The runtime has answered every waiting call; once they return, stop it. */
    detach_transport(1);
    release();
    t->close(t);
    if (rv == CRATON_RV_DEVICE_ERROR) rv = CRATON_RV_OK;
  } else {
    release();
  }
  pthread_mutex_unlock(&g_init_lock);
  return rv;
}

CK_RV craton_call(const craton_function_desc *fn, void **argv, int iface) {
  pthread_once(&g_atfork_once, install_atfork);
  if (fn->id == CRATON_FN_C_Initialize) return initialize(fn, argv, iface);
  if (fn->id == CRATON_FN_C_Finalize) return finalize(fn, argv, iface);
  craton_transport *t = acquire();
  if (!t) return CRATON_RV_CRYPTOKI_NOT_INITIALIZED;
  CK_RV rv = round_trip(t, fn, argv, iface);
  if (rv == CRATON_RV_OK && fn->msg_init >= 0) {
    const CK_MECHANISM *m = *(CK_MECHANISM **)argv[1];
    if (m) remember_message_mechanism(*(CK_ULONG *)argv[0], fn->msg_init, m->mechanism);
  }
  release();
  return rv;
}

/* ------------------------------------------------------------- interfaces */

static CK_UTF8CHAR g_interface_name[] = "PKCS 11";
static CK_INTERFACE g_interfaces[] = {
  {g_interface_name, (CK_VOID_PTR)&craton_function_list_3_0, 0},
  {g_interface_name, (CK_VOID_PTR)&craton_function_list_2_40, 0},
};
#define INTERFACE_COUNT (sizeof g_interfaces / sizeof g_interfaces[0])

CRATON_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST **ppFunctionList) {
  if (!ppFunctionList) return CRATON_RV_ARGUMENTS_BAD;
  *ppFunctionList = (CK_FUNCTION_LIST *)&craton_function_list_2_40;
  return CRATON_RV_OK;
}

CRATON_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount) {
  if (!pulCount) return CRATON_RV_ARGUMENTS_BAD;
  if (!pInterfacesList) {
    *pulCount = INTERFACE_COUNT;
    return CRATON_RV_OK;
  }
  if (*pulCount < INTERFACE_COUNT) {
    *pulCount = INTERFACE_COUNT;
    return CRATON_RV_BUFFER_TOO_SMALL;
  }
  memcpy(pInterfacesList, g_interfaces, sizeof g_interfaces);
  *pulCount = INTERFACE_COUNT;
  return CRATON_RV_OK;
}

CRATON_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                                   CK_INTERFACE_PTR *ppInterface, CK_FLAGS flags) {
  if (!ppInterface) return CRATON_RV_ARGUMENTS_BAD;
  for (size_t i = 0; i < INTERFACE_COUNT; i++) {
    const CK_INTERFACE *candidate = &g_interfaces[i];
    const CK_VERSION *v = (const CK_VERSION *)candidate->pFunctionList;
    if (pInterfaceName && strcmp((const char *)pInterfaceName, (const char *)candidate->pInterfaceName) != 0) continue;
    if (pVersion && (pVersion->major != v->major || pVersion->minor != v->minor)) continue;
    if ((candidate->flags & flags) != flags) continue;
    *ppInterface = &g_interfaces[i];
    return CRATON_RV_OK;
  }
  return CRATON_RV_ARGUMENTS_BAD;
}
