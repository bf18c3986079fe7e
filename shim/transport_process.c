/* Process transport: a `node` child running the runtime bundle, connected by
 * a socketpair on the child's fd 3. Many host threads share the socket: each
 * writes its frame whole, then whichever waiting thread holds the reader role
 * reads replies and hands each to the thread whose request id it carries. */
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

extern char **environ;

typedef struct pending_reply {
  uint32_t request_id;
  int done;
  uint8_t *frame;
  size_t len;
  struct pending_reply *next;
} pending_reply;

typedef struct process_transport {
  craton_transport base;
  int fd;
  pid_t child;
  pthread_mutex_t lock;       /* guards everything below and the pending list */
  pthread_mutex_t write_lock; /* one frame at a time on the socket */
  pthread_cond_t changed;     /* a reply arrived, the reader role is free, or the runtime died */
  int reader_busy;
  int dead;
  pending_reply *pending;
} process_transport;

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A reply usually arrives within microseconds: poll briefly before sleeping,
 * because waking an idle CPU costs far more than the call itself. */
static void spin_until_readable(int fd) {
  static long spin_ns = -1;
  if (spin_ns < 0) {
    const char *env = getenv("CRATON_HSM_SPIN_NS");
    spin_ns = env && *env ? atol(env) : 30000;
  }
  uint64_t deadline = now_ns() + (uint64_t)spin_ns;
  uint8_t probe;
  do {
    ssize_t r = recv(fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r != -1 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return;
  } while (now_ns() < deadline);
}

static int read_all(int fd, uint8_t *p, size_t n) {
  spin_until_readable(fd);
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static int read_frame(int fd, uint8_t **frame, size_t *len) {
  uint8_t header[CRATON_WIRE_HEADER_SIZE];
  craton_header h;
  if (read_all(fd, header, sizeof header) != 0 || craton_parse_header(header, &h) != 0) return -1;
  uint8_t *buf = malloc(CRATON_WIRE_HEADER_SIZE + (size_t)h.payload_len);
  if (!buf) return -1;
  memcpy(buf, header, sizeof header);
  if (read_all(fd, buf + sizeof header, h.payload_len) != 0) {
    free(buf);
    return -1;
  }
  *frame = buf;
  *len = CRATON_WIRE_HEADER_SIZE + (size_t)h.payload_len;
  return 0;
}

static void deliver(process_transport *t, uint8_t *frame, size_t len) {
  craton_header h;
  craton_parse_header(frame, &h);
  for (pending_reply *p = t->pending; p; p = p->next) {
    if (p->request_id == h.request_id && !p->done) {
      p->frame = frame;
      p->len = len;
      p->done = 1;
      return;
    }
  }
  free(frame); /* a reply nobody waits for: drop it */
}

static int process_call(craton_transport *base, const uint8_t *req, size_t req_len, uint8_t **reply,
                        size_t *reply_len) {
  process_transport *t = (process_transport *)base;
  craton_header h;
  if (craton_parse_header(req, &h) != 0) return -1;
  pending_reply me = {h.request_id, 0, NULL, 0, NULL};

  pthread_mutex_lock(&t->lock);
  if (t->dead) {
    pthread_mutex_unlock(&t->lock);
    return -1;
  }
  me.next = t->pending;
  t->pending = &me;
  pthread_mutex_unlock(&t->lock);

  pthread_mutex_lock(&t->write_lock);
  int wrote = write_all(t->fd, req, req_len);
  pthread_mutex_unlock(&t->write_lock);

  pthread_mutex_lock(&t->lock);
  if (wrote != 0) t->dead = 1;
  while (!me.done && !t->dead) {
    if (t->reader_busy) {
      pthread_cond_wait(&t->changed, &t->lock);
      continue;
    }
    t->reader_busy = 1;
    pthread_mutex_unlock(&t->lock);
    uint8_t *frame = NULL;
    size_t len = 0;
    int rc = read_frame(t->fd, &frame, &len);
    pthread_mutex_lock(&t->lock);
    t->reader_busy = 0;
    if (rc != 0) t->dead = 1;
    else deliver(t, frame, len);
    pthread_cond_broadcast(&t->changed);
  }
  for (pending_reply **pp = &t->pending; *pp; pp = &(*pp)->next) {
    if (*pp == &me) {
      *pp = me.next;
      break;
    }
  }
  pthread_mutex_unlock(&t->lock);
  if (!me.done) return -1;
  *reply = me.frame;
  *reply_len = me.len;
  return 0;
}

static void free_transport(process_transport *t) {
  pthread_mutex_destroy(&t->lock);
  pthread_mutex_destroy(&t->write_lock);
  pthread_cond_destroy(&t->changed);
  free(t);
}

static void process_close(craton_transport *base) {
  process_transport *t = (process_transport *)base;
  /* Closing our end is the runtime's signal to exit; then reap it. */
  shutdown(t->fd, SHUT_RDWR);
  close(t->fd);
  int status;
  for (int i = 0; i < 500; i++) {
    pid_t r = waitpid(t->child, &status, WNOHANG);
    if (r == t->child || (r < 0 && errno != EINTR)) break;
    usleep(10000);
    if (i == 300) kill(t->child, SIGKILL);
  }
  free_transport(t);
}

static void process_abandon(craton_transport *base) {
  process_transport *t = (process_transport *)base;
  /* The child of a fork closes its copy of the socket; the parent's runtime is untouched. */
  close(t->fd);
  free_transport(t);
}

static const char *node_binary(void) {
  const char *node = getenv("CRATON_HSM_NODE");
  return node && *node ? node : "node";
}

craton_transport *craton_process_transport_open(const craton_paths *paths, char *err, size_t errlen) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    snprintf(err, errlen, "socketpair: %s", strerror(errno));
    return NULL;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, sv[1], 3);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  /* The host's signal dispositions must not leak into the runtime. */
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const char *node = node_binary();
  char *argv[] = {(char *)node, (char *)paths->runtime_js, (char *)"--transport=process", NULL};
  pid_t child;
  int rc = posix_spawnp(&child, node, &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(sv[1]);
  if (rc != 0) {
    snprintf(err, errlen, "cannot start %s: %s", node, strerror(rc));
    close(sv[0]);
    return NULL;
  }
  process_transport *t = calloc(1, sizeof *t);
  if (!t) {
    close(sv[0]);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  t->base.name = "process";
  t->base.call = process_call;
  t->base.close = process_close;
  t->base.abandon = process_abandon;
  t->fd = sv[0];
  t->child = child;
  pthread_mutex_init(&t->lock, NULL);
  pthread_mutex_init(&t->write_lock, NULL);
  pthread_cond_init(&t->changed, NULL);
  return &t->base;
}
