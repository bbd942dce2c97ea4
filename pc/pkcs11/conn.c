/*
 * conn.c — the connection to the agent: one unix stream socket per process, opened lazily,
 * greeted with `hello`, reopened after a fork (getpid() changed) or after it was lost.
 * One request at a time: the whole exchange runs under one mutex.
 * Only a trusted socket is used (trust.c): a refused one is reported once on stderr and answers
 * like an absent agent.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "trust.h"
#include "wim_internal.h"

#define WIM_PROTOCOL_VERSION 1
#define WIM_MAX_REPLY (64u * 1024 * 1024)

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static int conn_fd = -1;
static pid_t conn_pid;

/* ── the socket path: $WIM_AGENT_SOCKET, $XDG_RUNTIME_DIR/wim-agent.sock, /tmp/wim-<uid>/agent.sock
 * (the last a private directory, mode 0700, that the agent creates; pc/agent/paths.ts agrees). */

static int socket_path(char *out, size_t size)
{
  const char *env = getenv("WIM_AGENT_SOCKET");
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  int n;
  if (env && *env)
    n = snprintf(out, size, "%s", env);
  else if (xdg && *xdg)
    n = snprintf(out, size, "%s/wim-agent.sock", xdg);
  else
    n = snprintf(out, size, "/tmp/wim-%lu/agent.sock", (unsigned long)getuid());
  return n > 0 && (size_t)n < size;
}

/* Says once per process why a socket was refused (the application sees only "no agent"). */
static void report_refusal(const char *path, const char *why)
{
  static int said;
  if (said)
    return;
  said = 1;
  fprintf(stderr, "wim-pkcs11: refusing agent socket %s: %s\n", path, why);
}

/* ── whole-buffer I/O ────────────────────────────────────────────────────────────────── */

static int write_all(int fd, const uint8_t *p, size_t n)
{
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return 0;
    p += w;
    n -= (size_t)w;
  }
  return 1;
}

static int read_all(int fd, uint8_t *p, size_t n)
{
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return 0;
    p += r;
    n -= (size_t)r;
  }
  return 1;
}

/* Sends `request` (length patched in) and reads one reply frame's body into `reply`. */
static enum wim_io exchange_frame(int fd, wim_buf *request, wim_buf *reply)
{
  uint8_t head[4];
  wim_patch_u32(request, 0, (uint32_t)(request->len - 4));
  if (!write_all(fd, request->data, request->len) || !read_all(fd, head, 4))
    return WIM_IO_OFFLINE;
  uint32_t len = (uint32_t)head[0] | (uint32_t)head[1] << 8 | (uint32_t)head[2] << 16 |
                 (uint32_t)head[3] << 24;
  if (len < 8 || len > WIM_MAX_REPLY)
    return WIM_IO_PROTOCOL;
  if (!wim_buf_resize(reply, len))
    return WIM_IO_PROTOCOL;
  if (!read_all(fd, reply->data, len))
    return WIM_IO_OFFLINE;
  reply->len = len;
  return WIM_IO_OK;
}

/* ── connecting ──────────────────────────────────────────────────────────────────────── */

static void close_locked(void)
{
  if (conn_fd >= 0)
    close(conn_fd);
  conn_fd = -1;
}

static int hello(int fd)
{
  wim_buf request = { 0 }, reply = { 0 };
  wim_put_u32_later(&request);
  wim_put_u32(&request, WIM_FN_HELLO);
  enum wim_io io = request.failed ? WIM_IO_PROTOCOL : exchange_frame(fd, &request, &reply);
  int ok = 0;
  if (io == WIM_IO_OK) {
    wim_reader r = { reply.data, reply.len, 0 };
    uint64_t rv = wim_get_u64(&r), version = wim_get_u64(&r);
    ok = !r.failed && r.left == 0 && rv == CKR_OK && version == WIM_PROTOCOL_VERSION;
  }
  wim_buf_free(&request);
  wim_buf_free(&reply);
  return ok;
}

/* A new trusted, greeted connection to the agent; -1 if there is none. */
static int open_agent(void)
{
  char path[4096], why[512];
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (!socket_path(path, sizeof(path)))
    return -1;
  enum wim_trust t = wim_trust_path(path, addr.sun_path, sizeof(addr.sun_path), why, sizeof(why));
  if (t == WIM_TRUST_REFUSED)
    report_refusal(path, why);
  if (t != WIM_TRUST_OK)
    return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  int r;
  do
    r = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
  while (r < 0 && errno == EINTR);
  if (r == 0 && wim_trust_peer(fd, why, sizeof(why)) != WIM_TRUST_OK) {
    report_refusal(path, why);
    r = -1; /* not one byte goes to a stranger */
  }
  if (r < 0 || !hello(fd)) {
    close(fd);
    return -1;
  }
  return fd;
}

static int connect_locked(void)
{
  int fd = open_agent();
  if (fd < 0)
    return 0;
  conn_fd = fd;
  conn_pid = getpid();
  return 1;
}

int wim_conn_open(void)
{
  return open_agent();
}

enum wim_io wim_conn_exchange(int fd, wim_buf *request, wim_buf *reply)
{
  return exchange_frame(fd, request, reply);
}

enum wim_io wim_conn_transact(wim_buf *request, wim_buf *reply)
{
  enum wim_io io;
  pthread_mutex_lock(&conn_lock);
  if (conn_fd >= 0 && conn_pid != getpid())
    close_locked(); /* a forked child: the parent keeps its connection, the child opens its own */
  if (conn_fd < 0 && !connect_locked()) {
    io = WIM_IO_OFFLINE;
  } else {
    io = exchange_frame(conn_fd, request, reply);
    if (io != WIM_IO_OK)
      close_locked(); /* lost or out of step: the next call reconnects */
  }
  pthread_mutex_unlock(&conn_lock);
  return io;
}

void wim_conn_close(void)
{
  pthread_mutex_lock(&conn_lock);
  close_locked();
  pthread_mutex_unlock(&conn_lock);
}

/* fork() while another thread holds the lock must not leave the child's copy locked. */
static void before_fork(void) { pthread_mutex_lock(&conn_lock); }
static void after_fork(void) { pthread_mutex_unlock(&conn_lock); }
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void register_fork_handlers(void) { pthread_atfork(before_fork, after_fork, after_fork); }

void wim_conn_setup_fork_handlers(void)
{
  pthread_once(&fork_once, register_fork_handlers);
}
