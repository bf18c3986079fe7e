// Craton HSM - embedded transport: a Node.js (libnode 18) runtime on its own
// thread, exchanging opaque byte frames with C callers.
//
// Design
//  * Per-process Node/V8 initialisation happens once (InitializeOncePerProcess)
//    and the platform is kept for the life of the process. Each
//    craton_embedder_start() creates a fresh thread with its own uv loop,
//    isolate and Environment (node::CommonEnvironmentSetup); stop() tears them
//    down and joins the thread.
//  * Callers push a stack-allocated Request onto a lock-free MPSC stack
//    (Treiber stack, consumer takes the whole list). Whoever turns the stack
//    from empty to non-empty calls uv_async_send (coalescing). The caller then
//    spins briefly on its Request's state word and parks on a futex.
//  * The loop thread drains the stack in its uv_async callback, calls the JS
//    handler with (Uint8Array copy, request id) inside one napi callback scope
//    (so nextTicks/microtasks run); the handler's return value, or a later
//    bridge.respond(id, reply), completes the Request.
//  * Shutdown: the head is swapped to a CLOSED sentinel; a "senders" counter
//    guarantees no caller is still inside uv_async_send before the async handle
//    is closed. Queued and in-flight requests are failed only after the
//    Environment is freed (so no JS can touch them any more).
//  * process.exit()/uncaught exceptions go through SetProcessExitHandler, which
//    calls node::Stop() instead of exit(): the host process survives.

#include "craton_embedder.h"

#include <errno.h>
#include <immintrin.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <node.h>
#include <node_api.h>
#include <uv.h>

namespace {

// ---------------------------------------------------------------- requests

enum : uint32_t { kPending = 0, kParked = 1, kDone = 2, kFailed = 3 };

struct Request {
  Request *next;
  const uint8_t *data;
  size_t len;
  uint8_t *reply;
  size_t reply_len;
  std::atomic<uint32_t> state;
};
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(int), "futex word");
static_assert(std::atomic<uint32_t>::is_always_lock_free, "futex word");

Request *const kClosed = reinterpret_cast<Request *>(uintptr_t{1});

inline void futex_wait(std::atomic<uint32_t> *w, uint32_t val) {
  syscall(SYS_futex, reinterpret_cast<uint32_t *>(w), FUTEX_WAIT_PRIVATE, val, nullptr, nullptr, 0);
}
inline void futex_wake(std::atomic<uint32_t> *w) {
  syscall(SYS_futex, reinterpret_cast<uint32_t *>(w), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// Completes a request (loop thread, or stop path once the loop thread is gone).
// After the exchange the caller may return and reuse its stack; futex_wake on a
// stale address is harmless (waiters re-check their word).
inline void complete(Request *r, uint32_t st) {
  uint32_t old = r->state.exchange(st, std::memory_order_acq_rel);
  if (old == kParked) futex_wake(&r->state);
}

uint64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// ---------------------------------------------------------------- global state

struct Shared {
  // Hot path, touched by callers.
  alignas(64) std::atomic<Request *> head{kClosed};
  alignas(64) std::atomic<int> senders{0};
  uv_async_t async;  // valid while head != kClosed (see senders protocol)
  std::atomic<bool> forked_child{false};
  std::atomic<pthread_t> loop_tid{0};
  std::atomic<bool> alive{false};  // handler registered and runtime not exiting
  alignas(64) std::atomic<bool> loop_spinning{false};  // loop thread polls head; no need to uv_async_send
  uint64_t spin_ns = 20000;       // caller spin before parking (CRATON_EMBEDDER_SPIN_NS)
  uint64_t loop_spin_ns = 50000;  // loop thread polls for more work after a batch (CRATON_EMBEDDER_LOOP_SPIN_NS)
};
Shared g;

// Lifecycle (start/stop serialised by g_life_mu).
std::mutex g_life_mu;
// Leaked on purpose: a joinable std::thread destroyed at exit would call
// std::terminate(); the atexit hook below normally joins it first.
std::thread &g_thread = *new std::thread();
bool g_thread_running = false;

// node::Stop() from other threads is only safe while the env exists.
std::mutex g_env_mu;
node::Environment *g_env = nullptr;

// Per-process init.
std::once_flag g_init_once;
std::unique_ptr<node::InitializationResult> g_init_result;
node::MultiIsolatePlatform *g_platform = nullptr;
std::string g_init_error;
pid_t g_init_pid = 0;

// Start handshake between craton_embedder_start and the loop thread.
struct StartSync {
  std::mutex mu;
  std::condition_variable cv;
  enum { kWaiting, kReady, kFailed } status = kWaiting;
  std::string error;
};

// Loop-thread-only state for one runtime instance.
struct Runtime {
  std::string script_path;
  StartSync *sync = nullptr;
  node::Environment *env = nullptr;
  napi_env nenv = nullptr;
  napi_ref handler = nullptr;
  napi_ref resource = nullptr;
  napi_async_context async_ctx = nullptr;
  bool ready = false;
  bool load_error = false;
  std::string error;           // first fatal message seen
  int exit_code = -1;          // from process.exit / uncaught exception
  bool async_closed = true;
  uint64_t next_id = 1;
  std::unordered_map<uint64_t, Request *> inflight;
};
Runtime *g_rt = nullptr;  // only dereferenced on the loop thread

void signal_start(Runtime *rt, bool ok, const std::string &msg) {
  if (!rt->sync) return;
  // Notify under the lock: once start() sees the status it returns and its
  // StartSync (on its stack) is gone.
  std::lock_guard<std::mutex> lk(rt->sync->mu);
  if (rt->sync->status == StartSync::kWaiting) {
    rt->sync->status = ok ? StartSync::kReady : StartSync::kFailed;
    rt->sync->error = msg;
  }
  rt->sync->cv.notify_all();
}

void atfork_child() { g.forked_child.store(true, std::memory_order_relaxed); }

// In a fork() child, libuv's exit-time uv_library_shutdown() joins the
// parent's threadpool threads, which do not exist here: a crash at exit once
// the parent's runtime has used the pool. libuv resets its pool on fork, so
// one no-op job on a private loop starts a pool of this process's own, which
// the shutdown then joins.
void renew_uv_pool_in_fork_child() {
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return;
  uv_work_t work;
  if (uv_queue_work(&loop, &work, [](uv_work_t *) {}, [](uv_work_t *, int) {}) == 0) uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}

// ---------------------------------------------------------------- N-API binding

#define NAPI_OK(call)                      \
  do {                                     \
    if ((call) != napi_ok) return nullptr; \
  } while (0)

// Completes in-flight request `id` with the bytes of `value` (a Uint8Array or
// ArrayBuffer). Returns false, with a JS exception pending, if it cannot.
bool complete_with(napi_env env, Runtime *rt, uint64_t id, napi_value value) {
  auto it = rt ? rt->inflight.find(id) : decltype(rt->inflight.end()){};
  if (!rt || it == rt->inflight.end()) {
    napi_throw_error(env, "ERR_CRATON_RESPOND", "craton_bridge: respond() called twice or after the request was cancelled");
    return false;
  }
  void *bytes = nullptr;
  size_t len = 0;
  bool is = false;
  if (napi_is_typedarray(env, value, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t elems, offset;
    napi_value ab;
    if (napi_get_typedarray_info(env, value, &type, &elems, &bytes, &ab, &offset) != napi_ok) return false;
    if (type != napi_uint8_array && type != napi_uint8_clamped_array && type != napi_int8_array) {
      napi_throw_type_error(env, "ERR_CRATON_RESPOND", "craton_bridge: a reply must be a Uint8Array");
      return false;
    }
    len = elems;
  } else if (napi_is_arraybuffer(env, value, &is) == napi_ok && is) {
    if (napi_get_arraybuffer_info(env, value, &bytes, &len) != napi_ok) return false;
  } else {
    napi_throw_type_error(env, "ERR_CRATON_RESPOND", "craton_bridge: a reply must be a Uint8Array");
    return false;
  }
  uint8_t *copy = static_cast<uint8_t *>(malloc(len ? len : 1));
  if (!copy) {
    napi_throw_error(env, "ERR_CRATON_RESPOND", "craton_bridge: out of memory");
    return false;
  }
  if (len) {
    memcpy(copy, bytes, len);
    // A reply may carry secrets (a key value, plaintext): the runtime made it
    // for this call alone, so its copy in the JS heap is wiped here.
    explicit_bzero(bytes, len);
  }
  Request *r = it->second;
  rt->inflight.erase(it);
  r->reply = copy;
  r->reply_len = len;
  complete(r, kDone);
  return true;
}

// bridge.respond(id, reply): the late reply of a handler that returned undefined.
napi_value js_respond(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  double id = -1;
  if (argc < 2 || napi_get_value_double(env, argv[0], &id) != napi_ok || id < 0) {
    napi_throw_type_error(env, "ERR_CRATON_RESPOND", "craton_bridge.respond(id, reply): id must be a request id");
    return nullptr;
  }
  Runtime *rt = g_rt;
  // The last late reply (one that waited for the thread pool) has gone out: run
  // on_async once more, so the loop thread polls for the caller's next request
  // rather than sleeping in epoll and paying a wake-up on it.
  if (complete_with(env, rt, static_cast<uint64_t>(id), argv[1]) && rt->inflight.empty() &&
      g.head.load(std::memory_order_relaxed) != kClosed)
    uv_async_send(&g.async);
  return nullptr;
}

void open_queue() {
  Request *expected = kClosed;
  g.head.compare_exchange_strong(expected, nullptr, std::memory_order_seq_cst);
}

// Closes the queue: later calls fail at once. Requests still queued were never
// seen by JS, so they can be failed right away.
void close_queue() {
  g.alive.store(false);
  Request *list = g.head.exchange(kClosed, std::memory_order_seq_cst);
  while (list && list != kClosed) {
    Request *n = list->next;
    complete(list, kFailed);
    list = n;
  }
}

napi_value js_set_handler(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, "ERR_CRATON_HANDLER", "craton_bridge.setHandler(fn): fn must be a function");
    return nullptr;
  }
  Runtime *rt = g_rt;
  if (rt->handler) napi_delete_reference(env, rt->handler);
  NAPI_OK(napi_create_reference(env, argv[0], 1, &rt->handler));
  if (!rt->ready) {
    rt->ready = true;
    g.alive.store(true);
    uv_ref(reinterpret_cast<uv_handle_t *>(&g.async));  // keep the loop alive from now on
    open_queue();
    signal_start(rt, true, "");
    rt->sync = nullptr;  // start() has returned (or is returning); its StartSync is gone
  }
  return nullptr;
}

std::string value_to_string(napi_env env, napi_value v) {
  napi_value s;
  if (napi_coerce_to_string(env, v, &s) != napi_ok) return "(unprintable)";
  size_t n = 0;
  napi_get_value_string_utf8(env, s, nullptr, 0, &n);
  std::string out(n, '\0');
  napi_get_value_string_utf8(env, s, &out[0], n + 1, &n);
  return out;
}

// _loadError(msg): the bundle threw while being required.
napi_value js_load_error(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Runtime *rt = g_rt;
  rt->load_error = true;
  if (rt->error.empty()) rt->error = argc ? value_to_string(env, argv[0]) : "load error";
  return nullptr;
}

// _fatal(msg): uncaughtExceptionMonitor - remember the message for start()'s err.
napi_value js_fatal(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Runtime *rt = g_rt;
  if (rt->error.empty()) rt->error = argc ? value_to_string(env, argv[0]) : "uncaught exception";
  return nullptr;
}

napi_value binding_init(napi_env env, napi_value exports) {
  Runtime *rt = g_rt;
  rt->nenv = env;
  napi_property_descriptor props[] = {
      {"setHandler", nullptr, js_set_handler, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"respond", nullptr, js_respond, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"_loadError", nullptr, js_load_error, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"_fatal", nullptr, js_fatal, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  NAPI_OK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  napi_value path;
  NAPI_OK(napi_create_string_utf8(env, rt->script_path.c_str(), rt->script_path.size(), &path));
  NAPI_OK(napi_set_named_property(env, exports, "scriptPath", path));
  // Async resource for the callback scope used when dispatching frames.
  napi_value resource, name;
  NAPI_OK(napi_create_object(env, &resource));
  NAPI_OK(napi_create_reference(env, resource, 1, &rt->resource));
  NAPI_OK(napi_create_string_utf8(env, "CratonFrame", NAPI_AUTO_LENGTH, &name));
  NAPI_OK(napi_async_init(env, resource, name, &rt->async_ctx));
  return exports;
}

napi_module g_binding = {
    NAPI_MODULE_VERSION, 0, __FILE__, binding_init, "craton_bridge", nullptr, {nullptr, nullptr, nullptr, nullptr},
};

// ---------------------------------------------------------------- dispatch (loop thread)

void dispatch_one(Runtime *rt, napi_value handler, napi_value recv, Request *r) {
  napi_env env = rt->nenv;
  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) != napi_ok) {
    complete(r, kFailed);
    return;
  }
  uint64_t id = rt->next_id++;
  bool ok = false;
  do {
    void *buf = nullptr;
    napi_value ab, u8, idv;
    if (napi_create_arraybuffer(env, r->len, &buf, &ab) != napi_ok) break;
    if (r->len) memcpy(buf, r->data, r->len);
    if (napi_create_typedarray(env, napi_uint8_array, r->len, ab, 0, &u8) != napi_ok) break;
    if (napi_create_double(env, static_cast<double>(id), &idv) != napi_ok) break;
    rt->inflight.emplace(id, r);
    napi_value argv[2] = {u8, idv};
    napi_value result;
    napi_status st = napi_call_function(env, recv, handler, 2, argv, &result);
    napi_valuetype rtype = napi_undefined;
    if (st == napi_ok) napi_typeof(env, result, &rtype);
    // A synchronous reply is the handler's return value; undefined means bridge.respond(id, ...) follows.
    if (st == napi_ok && rtype != napi_undefined && !complete_with(env, rt, id, result)) st = napi_pending_exception;
    if (st != napi_ok) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value exc;
        napi_get_and_clear_last_exception(env, &exc);
        if (getenv("CRATON_EMBEDDER_DEBUG"))
          fprintf(stderr, "craton_embedder: handler threw: %s\n", value_to_string(env, exc).c_str());
      }
      // If the handler threw before responding, fail this request.
      auto it = rt->inflight.find(id);
      if (it != rt->inflight.end()) {
        rt->inflight.erase(it);
        complete(r, kFailed);
      }
    }
    ok = true;
  } while (0);
  if (!ok) {
    rt->inflight.erase(id);
    complete(r, kFailed);
  }
  napi_close_handle_scope(env, hs);
}

void process_batch(Runtime *rt, Request *list) {
  // Reverse into FIFO order.
  Request *fifo = nullptr;
  while (list) {
    Request *n = list->next;
    list->next = fifo;
    fifo = list;
    list = n;
  }
  napi_env env = rt->nenv;
  napi_handle_scope hs;
  napi_value handler = nullptr, recv = nullptr, resource = nullptr;
  napi_callback_scope cs = nullptr;
  bool ok = rt->handler && napi_open_handle_scope(env, &hs) == napi_ok;
  if (ok) {
    if (napi_get_reference_value(env, rt->handler, &handler) != napi_ok || !handler ||
        napi_get_undefined(env, &recv) != napi_ok || napi_get_reference_value(env, rt->resource, &resource) != napi_ok ||
        napi_open_callback_scope(env, resource, rt->async_ctx, &cs) != napi_ok) {
      napi_close_handle_scope(env, hs);
      ok = false;
    }
  }
  if (!ok) {
    while (fifo) {
      Request *n = fifo->next;
      complete(fifo, kFailed);
      fifo = n;
    }
    return;
  }
  while (fifo) {
    Request *n = fifo->next;  // read before completion: r may vanish after complete()
    dispatch_one(rt, handler, recv, fifo);
    fifo = n;
  }
  // Closing the callback scope runs process.nextTick callbacks and microtasks
  // (async handlers that respond after an await).
  napi_close_callback_scope(env, cs);
  napi_close_handle_scope(env, hs);
}

Request *take_all() {
  Request *list = g.head.load(std::memory_order_acquire);
  do {
    if (list == nullptr || list == kClosed) return nullptr;
  } while (!g.head.compare_exchange_weak(list, nullptr, std::memory_order_acq_rel));
  return list;
}

// uv_async callback. After a batch, if nothing is in flight (all answered
// synchronously or in microtasks), poll the queue for a short while before
// returning to epoll: sequential callers then skip the eventfd write and the
// loop-thread wake-up, which dominate the round trip. Bounded by a 1 ms budget
// per callback so timers/immediates/IO of the JS side are not starved.
void on_async(uv_async_t *) {
  Runtime *rt = g_rt;
  uint64_t start = 0;
  for (;;) {
    if (Request *list = take_all()) process_batch(rt, list);
    if (!g.loop_spin_ns || !rt->inflight.empty() || g.head.load(std::memory_order_relaxed) == kClosed) break;
    uint64_t t = now_ns();
    if (!start) start = t;
    if (t - start > 1000000) break;
    uint64_t deadline = t + g.loop_spin_ns;
    g.loop_spinning.store(true, std::memory_order_seq_cst);
    bool got = false;
    for (unsigned i = 1;; i++) {
      _mm_pause();
      Request *h = g.head.load(std::memory_order_relaxed);
      if (h == kClosed) break;
      if (h) {
        got = true;
        break;
      }
      if ((i & 63) == 0 && now_ns() >= deadline) break;
    }
    g.loop_spinning.store(false, std::memory_order_seq_cst);
    if (!got) {
      // Dekker-style re-check: a caller that saw loop_spinning skipped uv_async_send.
      Request *h = g.head.load(std::memory_order_seq_cst);
      if (!h || h == kClosed) break;
    }
  }
}

// ---------------------------------------------------------------- per-process init

// JS run as the embedder main (a function of (process, require), where require
// is Node's internal builtin require).
const char kMainSource[] =
    "'use strict';\n"
    "const b = process._linkedBinding('craton_bridge');\n"
    "process.on('uncaughtExceptionMonitor', (e) => { try { b._fatal((e && e.stack) || String(e)); } catch {} });\n"
    "const path = require('path');\n"
    "const file = path.resolve(b.scriptPath);\n"
    "try {\n"
    "  require('module').createRequire(file)(file);\n"
    "} catch (e) {\n"
    "  b._loadError((e && e.stack) || String(e));\n"
    "}\n";

void init_once() {
  // Flags: the host (pkcs11-tool, a browser, sshd...) owns signals, stdio and
  // resource limits; NODE_OPTIONS / NODE_DEBUG_NATIVE from the host's
  // environment must not change the behaviour of a crypto module.
  using namespace node::ProcessInitializationFlags;
  uint64_t flags = kNoStdioInitialization | kNoDefaultSignalHandling | kNoAdjustResourceLimits | kNoUseLargePages |
                   kNoPrintHelpOrVersionOutput | kDisableNodeOptionsEnv | kNoParseGlobalDebugVariables;
  // argv for node: program name plus a smaller V8 worker pool (default is 4
  // threads; 2 is plenty for a PKCS#11 runtime and keeps the host lean).
  std::vector<std::string> args = {"craton-hsm", "--v8-pool-size=2"};
  g_init_result = node::InitializeOncePerProcess(args, static_cast<node::ProcessInitializationFlags::Flags>(flags));
  if (!g_init_result || g_init_result->early_return() || g_init_result->exit_code() != 0 ||
      g_init_result->platform() == nullptr) {
    g_init_error = "node per-process initialisation failed";
    if (g_init_result)
      for (auto &e : g_init_result->errors()) g_init_error += ": " + e;
    return;
  }
  g_platform = g_init_result->platform();
  g_init_pid = getpid();
  pthread_atfork(nullptr, nullptr, atfork_child);
  // Hosts often exit() without C_Finalize. Registered after libnode's own
  // static initialisation, so it runs before libnode's destructors.
  atexit([] {
    if (g.forked_child.load(std::memory_order_relaxed)) renew_uv_pool_in_fork_child();
    craton_embedder_stop();
  });
  if (const char *s = getenv("CRATON_EMBEDDER_SPIN_NS")) g.spin_ns = strtoull(s, nullptr, 10);
  if (const char *s = getenv("CRATON_EMBEDDER_LOOP_SPIN_NS")) g.loop_spin_ns = strtoull(s, nullptr, 10);
}

// ---------------------------------------------------------------- loop thread

void on_async_closed(uv_handle_t *) {
  if (g_rt) g_rt->async_closed = true;
}

void process_exit_handler(node::Environment *env, int code) {
  // Never exit() the host: record the code and stop this environment.
  Runtime *rt = g_rt;
  if (rt && rt->exit_code < 0) rt->exit_code = code;
  close_queue();
  node::Stop(env);
}

void runtime_thread(Runtime *rt) {
  g.loop_tid.store(pthread_self());
  g_rt = rt;
  std::vector<std::string> errors;
  std::vector<std::string> args = {"craton-hsm", rt->script_path};
  std::vector<std::string> exec_args;
  using namespace node::EnvironmentFlags;
  // Not kDefaultFlags: that implies kOwnsProcessState (chdir/umask/setuid/
  // process.abort on the host process) and kOwnsInspector (SIGUSR1 handler).
  auto env_flags = static_cast<node::EnvironmentFlags::Flags>(kTrackUnmanagedFds | kNoGlobalSearchPaths |
                                                               kNoCreateInspector);
  std::unique_ptr<node::CommonEnvironmentSetup> setup =
      node::CommonEnvironmentSetup::Create(g_platform, &errors, args, exec_args, env_flags);
  if (!setup) {
    std::string msg = "cannot create node environment";
    for (auto &e : errors) msg += ": " + e;
    signal_start(rt, false, msg);
    g_rt = nullptr;
    g.loop_tid.store(0);
    return;
  }
  v8::Isolate *isolate = setup->isolate();
  node::Environment *env = setup->env();
  rt->env = env;
  std::vector<Request *> to_fail;
  {
    v8::Locker locker(isolate);
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Context::Scope context_scope(setup->context());

    node::AddLinkedBinding(env, g_binding);
    node::SetProcessExitHandler(env, process_exit_handler);
    uv_async_init(setup->event_loop(), &g.async, on_async);
    uv_unref(reinterpret_cast<uv_handle_t *>(&g.async));  // ref'd once the handler is registered
    rt->async_closed = false;
    {
      std::lock_guard<std::mutex> lk(g_env_mu);
      g_env = env;
    }

    v8::MaybeLocal<v8::Value> loaded =
        node::LoadEnvironment(env, [&](const node::StartExecutionCallbackInfo &info) -> v8::MaybeLocal<v8::Value> {
          v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
          v8::Local<v8::String> src =
              v8::String::NewFromUtf8(isolate, kMainSource, v8::NewStringType::kNormal, sizeof kMainSource - 1)
                  .ToLocalChecked();
          v8::Local<v8::String> params[2] = {
              v8::String::NewFromUtf8Literal(isolate, "process"),
              v8::String::NewFromUtf8Literal(isolate, "require"),
          };
          v8::ScriptCompiler::Source source(src);
          v8::Local<v8::Function> fn;
          if (!v8::ScriptCompiler::CompileFunction(ctx, &source, 2, params, 0, nullptr).ToLocal(&fn))
            return v8::MaybeLocal<v8::Value>();
          v8::Local<v8::Value> argv[2] = {info.process_object, info.native_require};
          return fn->Call(ctx, v8::Undefined(isolate), 2, argv);
        });

    bool stopping = rt->exit_code >= 0 || rt->load_error;
    if (loaded.IsEmpty() && !stopping && rt->error.empty()) rt->error = "loading the embedder main script failed";
    if (!rt->load_error && !loaded.IsEmpty() && rt->exit_code < 0) {
      // Run until stopped (stop(), process.exit, uncaught exception) or, before
      // ready, until the script has nothing left to do.
      node::SpinEventLoop(env);
    }

    // Close the queue, fail what is left later (after the env is gone).
    close_queue();
    // No caller may still be inside uv_async_send when the handle is closed.
    while (g.senders.load(std::memory_order_seq_cst) != 0) _mm_pause();
    uv_close(reinterpret_cast<uv_handle_t *>(&g.async), on_async_closed);

    if (rt->nenv) {
      if (rt->async_ctx) napi_async_destroy(rt->nenv, rt->async_ctx);
      if (rt->handler) napi_delete_reference(rt->nenv, rt->handler);
      if (rt->resource) napi_delete_reference(rt->nenv, rt->resource);
      rt->async_ctx = nullptr;
      rt->handler = rt->resource = nullptr;
    }
    node::Stop(env);
    // Let the loop process our close callback (node's own cleanup does not
    // necessarily spin the loop; an open handle would abort uv_loop_close).
    // Node callbacks may run here, so the isolate must still be locked.
    while (!rt->async_closed) uv_run(setup->event_loop(), UV_RUN_NOWAIT);
  }
  {
    std::lock_guard<std::mutex> lk(g_env_mu);
    g_env = nullptr;
  }
  setup.reset();  // FreeEnvironment, dispose isolate, close loop
  rt->env = nullptr;
  rt->nenv = nullptr;

  for (auto &kv : rt->inflight) to_fail.push_back(kv.second);
  rt->inflight.clear();
  for (Request *r : to_fail) complete(r, kFailed);

  if (!rt->ready) {
    std::string msg;
    if (rt->load_error)
      msg = "script threw while loading: " + rt->error;
    else if (rt->exit_code >= 0)
      msg = "runtime exited (code " + std::to_string(rt->exit_code) + ") before setHandler()" +
            (rt->error.empty() ? "" : ": " + rt->error);
    else if (!rt->error.empty())
      msg = rt->error;
    else
      msg = "script finished without calling craton_bridge.setHandler()";
    signal_start(rt, false, msg);
  }
  g_rt = nullptr;
  g.loop_tid.store(0);
}

void copy_err(char *err, size_t errlen, const std::string &msg) {
  if (!err || !errlen) return;
  snprintf(err, errlen, "%s", msg.c_str());
}

void join_locked() {
  if (g_thread.joinable()) g_thread.join();
  g_thread_running = false;
}

}  // namespace

// ---------------------------------------------------------------- C API

extern "C" int craton_embedder_start(const char *script_path, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  if (g.forked_child.load(std::memory_order_relaxed) || (g_init_pid && getpid() != g_init_pid)) {
    copy_err(err, errlen, "craton_embedder: node cannot run in a fork()ed child of a process that initialised it");
    return -1;
  }
  if (!script_path || !*script_path) {
    copy_err(err, errlen, "craton_embedder: no script path");
    return -1;
  }
  std::lock_guard<std::mutex> life(g_life_mu);
  if (g_thread_running) {
    if (g.alive.load()) {
      copy_err(err, errlen, "craton_embedder: already running");
      return -1;
    }
    join_locked();  // a previous runtime died (or is dying) on its own; reap it
  }
  std::call_once(g_init_once, init_once);
  if (!g_platform) {
    copy_err(err, errlen, "craton_embedder: " + g_init_error);
    return -1;
  }

  StartSync sync;
  auto *rt = new Runtime();
  rt->script_path = script_path;
  rt->sync = &sync;
  try {
    g_thread = std::thread(
        [rt]() {
          // The host's signal mask is inherited; block the usual async signals
          // on the runtime thread so the host's handlers run on its own threads.
          sigset_t set;
          sigemptyset(&set);
          sigaddset(&set, SIGINT);
          sigaddset(&set, SIGTERM);
          sigaddset(&set, SIGHUP);
          sigaddset(&set, SIGQUIT);
          sigaddset(&set, SIGUSR1);
          sigaddset(&set, SIGUSR2);
          sigaddset(&set, SIGCHLD);
          sigaddset(&set, SIGALRM);
          pthread_sigmask(SIG_BLOCK, &set, nullptr);
          pthread_setname_np(pthread_self(), "craton-node");
          runtime_thread(rt);
          delete rt;
        });
  } catch (...) {
    delete rt;
    copy_err(err, errlen, "craton_embedder: cannot create runtime thread");
    return -1;
  }
  g_thread_running = true;

  long timeout_ms = 10000;
  if (const char *s = getenv("CRATON_EMBEDDER_START_TIMEOUT_MS")) timeout_ms = strtol(s, nullptr, 10);
  std::unique_lock<std::mutex> lk(sync.mu);
  bool done = sync.cv.wait_for(lk, std::chrono::milliseconds(timeout_ms),
                               [&] { return sync.status != StartSync::kWaiting; });
  if (done && sync.status == StartSync::kReady) return 0;
  std::string msg = done ? sync.error : "timed out waiting for craton_bridge.setHandler()";
  if (!done) sync.status = StartSync::kFailed;  // loop thread must not touch sync after we return
  lk.unlock();
  {
    std::lock_guard<std::mutex> elk(g_env_mu);
    if (g_env) node::Stop(g_env);
  }
  join_locked();
  copy_err(err, errlen, "craton_embedder: " + msg);
  return -1;
}

extern "C" int craton_embedder_call(const uint8_t *req, size_t req_len, uint8_t **reply, size_t *reply_len) {
  if (!reply || !reply_len || (req_len && !req)) return -1;
  *reply = nullptr;
  *reply_len = 0;
  if (g.forked_child.load(std::memory_order_relaxed)) return -1;
  if (pthread_equal(g.loop_tid.load(std::memory_order_relaxed), pthread_self())) return -1;  // would deadlock

  Request r;
  r.data = req;
  r.len = req_len;
  r.reply = nullptr;
  r.reply_len = 0;
  r.state.store(kPending, std::memory_order_relaxed);

  g.senders.fetch_add(1, std::memory_order_seq_cst);
  Request *h = g.head.load(std::memory_order_seq_cst);
  do {
    if (h == kClosed) {
      g.senders.fetch_sub(1, std::memory_order_release);
      return -1;
    }
    r.next = h;
  } while (!g.head.compare_exchange_weak(h, &r, std::memory_order_seq_cst, std::memory_order_seq_cst));
  // empty -> non-empty: wake the loop, unless it is polling the queue anyway.
  if (h == nullptr && !g.loop_spinning.load(std::memory_order_seq_cst)) uv_async_send(&g.async);
  g.senders.fetch_sub(1, std::memory_order_release);

  // Spin briefly (the JS handler usually answers within ~10 us), then park.
  uint32_t s = r.state.load(std::memory_order_acquire);
  if (s == kPending && g.spin_ns) {
    uint64_t deadline = 0;
    for (unsigned i = 0;; i++) {
      _mm_pause();
      s = r.state.load(std::memory_order_acquire);
      if (s != kPending) break;
      if ((i & 63) == 63) {
        uint64_t t = now_ns();
        if (!deadline)
          deadline = t + g.spin_ns;
        else if (t >= deadline)
          break;
      }
    }
  }
  if (s == kPending) {
    uint32_t expected = kPending;
    if (r.state.compare_exchange_strong(expected, kParked, std::memory_order_acq_rel)) {
      while ((s = r.state.load(std::memory_order_acquire)) == kParked) futex_wait(&r.state, kParked);
    } else {
      s = expected;
    }
  }
  if (s != kDone) return -1;
  *reply = r.reply;
  *reply_len = r.reply_len;
  return 0;
}

extern "C" void craton_embedder_free(uint8_t *p) { free(p); }

extern "C" void craton_embedder_stop(void) {
  if (g.forked_child.load(std::memory_order_relaxed)) return;
  if (pthread_equal(g.loop_tid.load(), pthread_self())) {
    // Called from JS (via the host) on the runtime thread: cannot join
    // ourselves. Stop the environment; a later start()/stop() reaps the thread.
    std::lock_guard<std::mutex> elk(g_env_mu);
    if (g_env) node::Stop(g_env);
    return;
  }
  std::lock_guard<std::mutex> life(g_life_mu);
  if (!g_thread_running) return;
  {
    std::lock_guard<std::mutex> elk(g_env_mu);
    if (g_env) node::Stop(g_env);
  }
  join_locked();
}
