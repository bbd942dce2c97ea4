/*
 * fake_agent.c — see fake_agent.h. It knows each function's request items from the generated
 * call table (pc/pkcs11/calls.h, from pc/rpc/calls.table); its item decoder is its own, written
 * from docs/agent-rpc.md, so a module that encodes an item otherwise shows up as a differing
 * decoded line.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "calls.h"
#include "fake_agent.h"

/* Whether a decoded request is the expected one; a `*` in the expectation stands for one item's
 * value (the characters up to the next space), for values the caller cannot know (a time). */
static int matches(const char *got, const char *want)
{
  while (*want) {
    if (*want == '*') {
      while (*got && *got != ' ')
        got++;
      want++;
    } else if (*got++ != *want++)
      return 0;
  }
  return *got == 0;
}

/* Request items per function number, from the call table; NULL for a function the module
 * answers itself. */
#define REQUEST_ITEMS(number, fn, request, reply) [number] = request,
static const char *const request_items[] = { WIM_PKCS11_CALLS(REQUEST_ITEMS) };
#define N_FUNCTIONS (sizeof(request_items) / sizeof(request_items[0]))

/* Function numbers by name: FN_GetSessionInfo, AGENT_hello, AGENT_pair, … */
#define FN_ENUM(number, fn, request, reply) FN_##fn = number,
#define AGENT_ENUM(number, name, request, reply) AGENT_##name = number,
enum { WIM_PKCS11_CALLS(FN_ENUM) WIM_AGENT_REQUESTS(AGENT_ENUM) };

/* The agent's own requests: hello, and the command line's, which the module never sends. */
#define AGENT_NUMBER(number, name, request, reply) number,
static const unsigned agent_requests[] = { WIM_AGENT_REQUESTS(AGENT_NUMBER) };

/* An agent request's items, from the table (NULL: not one). */
#define AGENT_ITEMS(number, name, request, reply) if (fn == (number)) return request;
static const char *agent_request_items(unsigned fn)
{
  WIM_AGENT_REQUESTS(AGENT_ITEMS)
  return NULL;
}

static int is_agent_request(unsigned fn)
{
  for (size_t i = 0; i < sizeof(agent_requests) / sizeof(agent_requests[0]); i++)
    if (agent_requests[i] == fn)
      return 1;
  return 0;
}

#define MAX_CLIENTS 8

static struct {
  pthread_mutex_t lock;
  pthread_t thread;
  int listen_fd, wake[2];
  int clients[MAX_CLIENTS], greeted[MAX_CLIENTS];
  /* the script */
  unsigned want_fn;
  char want[4096];
  uint64_t rv;
  uint8_t reply[8192];
  size_t reply_len;
  int drop;
  /* what happened */
  int served, matched, requests, hellos, eofs, protocol_errors, echo, echo_errors;
  uint64_t hello_version; /* 0: the protocol's, 1 */
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER, .listen_fd = -1 };

/* ── reply items ─────────────────────────────────────────────────────────────────────── */

void ri_raw(reply_items *r, const void *p, size_t n)
{
  if (r->n + n > sizeof(r->d))
    abort();
  memcpy(r->d + r->n, p, n);
  r->n += n;
}

static void le(uint8_t *out, uint64_t v, int width)
{
  for (int i = 0; i < width; i++)
    out[i] = (uint8_t)(v >> (8 * i));
}

void ri_u64(reply_items *r, uint64_t v)
{
  uint8_t b[8];
  le(b, v, 8);
  ri_raw(r, b, 8);
}

void ri_u32(reply_items *r, uint32_t v)
{
  uint8_t b[4];
  le(b, v, 4);
  ri_raw(r, b, 4);
}

void ri_bytes(reply_items *r, const void *p, uint32_t n)
{
  ri_u32(r, n);
  ri_raw(r, p, n);
}

void ri_text(reply_items *r, const char *s) { ri_bytes(r, s, (uint32_t)strlen(s)); }

/* ── decoding a request ──────────────────────────────────────────────────────────────── */

typedef struct cursor {
  const uint8_t *p;
  size_t left;
  int bad;
} cursor;

static uint64_t take(cursor *c, int width)
{
  uint64_t v = 0;
  if (c->bad || c->left < (size_t)width) {
    c->bad = 1;
    return 0;
  }
  for (int i = 0; i < width; i++)
    v |= (uint64_t)c->p[i] << (8 * i);
  c->p += width;
  c->left -= (size_t)width;
  return v;
}

static void out(char *s, size_t size, const char *fmt, unsigned long long v)
{
  size_t n = strlen(s);
  snprintf(s + n, size - n, fmt, v);
}

static void hex(cursor *c, size_t n, char *s, size_t size)
{
  if (c->bad || c->left < n) {
    c->bad = 1;
    return;
  }
  for (size_t i = 0; i < n; i++)
    out(s, size, "%02x", c->p[i]);
  c->p += n;
  c->left -= n;
}

/* u32 length + bytes, 0xFFFFFFFF = NULL */
static void bytes_item(cursor *c, char *s, size_t size)
{
  uint32_t n = (uint32_t)take(c, 4);
  if (n == 0xFFFFFFFFu)
    out(s, size, "NULL", 0);
  else
    hex(c, n, s, size);
}

static void decode_items(const char *items, cursor *c, char *s, size_t size)
{
  for (const char *it = items; *it && !c->bad; it++) {
    if (it != items)
      out(s, size, " ", 0);
    switch (*it) {
    case 'u':
      out(s, size, "u:%llu", take(c, 8));
      break;
    case 'b':
      out(s, size, "b:", 0);
      bytes_item(c, s, size);
      break;
    case 't':
    case 'q': {
      uint32_t count = (uint32_t)take(c, 4);
      out(s, size, *it == 't' ? "t[" : "q[", 0);
      for (uint32_t i = 0; i < count && !c->bad; i++) {
        out(s, size, i ? ",0x%llx" : "0x%llx", take(c, 8));
        if (*it == 't') {
          out(s, size, "=", 0);
          bytes_item(c, s, size);
        } else {
          out(s, size, ":%llu", take(c, 1));
          out(s, size, ":%llu", take(c, 8));
        }
      }
      out(s, size, "]", 0);
      break;
    }
    case 'm': {
      out(s, size, "m:0x%llx:", take(c, 8));
      uint32_t n = (uint32_t)take(c, 4);
      hex(c, n, s, size);
      break;
    }
    case 'o':
    case 'h':
      out(s, size, *it == 'o' ? "o:%llu" : "h:%llu", take(c, 1));
      out(s, size, ":%llu", take(c, 8));
      break;
    default:
      c->bad = 1;
    }
  }
}

/* ── serving ─────────────────────────────────────────────────────────────────────────── */

static int read_full(int fd, uint8_t *p, size_t n)
{
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return 0;
    p += r;
    n -= (size_t)r;
  }
  return 1;
}

static void send_reply(int fd, uint64_t rv, const uint8_t *items, size_t n)
{
  uint8_t *frame = malloc(12 + n);
  le(frame, 8 + n, 4);
  le(frame + 4, rv, 8);
  if (n)
    memcpy(frame + 12, items, n);
  size_t off = 0;
  while (off < 12 + n) {
    ssize_t w = send(fd, frame + off, 12 + n - off, MSG_NOSIGNAL);
    if (w <= 0)
      break;
    off += (size_t)w;
  }
  free(frame);
}

/* Serves one request from client i; returns 0 when the connection ends. */
static int serve(int i)
{
  int fd = fake.clients[i];
  uint8_t head[4];
  if (!read_full(fd, head, 4))
    return 0;
  uint32_t len = (uint32_t)head[0] | (uint32_t)head[1] << 8 | (uint32_t)head[2] << 16 |
                 (uint32_t)head[3] << 24;
  uint8_t *body = malloc(len ? len : 1);
  if (len < 4 || !read_full(fd, body, len)) {
    free(body);
    return 0;
  }
  cursor c = { body + 4, len - 4, 0 };
  unsigned fn = (unsigned)body[0] | (unsigned)body[1] << 8 | (unsigned)body[2] << 16 |
                (unsigned)body[3] << 24;
  int keep = 1;
  pthread_mutex_lock(&fake.lock);
  if (fn == AGENT_hello) {
    fake.hellos++;
    if (len != 4 || fake.greeted[i])
      fake.protocol_errors++;
    fake.greeted[i] = 1;
    uint8_t version[8];
    le(version, fake.hello_version ? fake.hello_version : 1, 8);
    send_reply(fd, 0, version, 8);
  } else {
    char got[4096] = "";
    fake.requests++;
    /* the agent's own requests (calls.h WIM_AGENT_REQUESTS: `wim pair`, `wim attest`, …) are the
       command line's: the module never sends them, so they count as errors here — but
       WIM_WaitForSlotEvent, which is C_WaitForSlotEvent's request */
    const char *items = fn == AGENT_WIM_WaitForSlotEvent ? agent_request_items(fn)
                        : fn < N_FUNCTIONS && !is_agent_request(fn) ? request_items[fn] : NULL;
    if (!fake.greeted[i] || !items)
      fake.protocol_errors++;
    else
      decode_items(items, &c, got, sizeof(got));
    if (c.bad || c.left)
      fake.protocol_errors++;
    if (fake.echo && fn == FN_GetSessionInfo) {
      cursor e = { body + 4, len - 4, 0 };
      uint64_t h = take(&e, 8);
      reply_items r = { .n = 0 };
      ri_u64(&r, h);
      ri_u64(&r, h + 1);
      ri_u64(&r, 0);
      ri_u64(&r, 0);
      send_reply(fd, 0, r.d, r.n);
    } else {
      if (fake.echo)
        fake.echo_errors++;
      fake.served++;
      fake.matched = fn == fake.want_fn && matches(got, fake.want);
      if (!fake.matched)
        fprintf(stderr, "fake agent: request %u \"%s\", expected %u \"%s\"\n", fn, got,
                fake.want_fn, fake.want);
      if (fake.drop)
        keep = 0;
      else
        send_reply(fd, fake.rv, fake.reply, fake.reply_len);
    }
  }
  pthread_mutex_unlock(&fake.lock);
  free(body);
  return keep;
}

static void *fake_main(void *unused)
{
  (void)unused;
  for (;;) {
    struct pollfd p[MAX_CLIENTS + 2];
    int n = 0;
    p[n++] = (struct pollfd){ fake.wake[0], POLLIN, 0 };
    p[n++] = (struct pollfd){ fake.listen_fd, POLLIN, 0 };
    for (int i = 0; i < MAX_CLIENTS; i++)
      p[n++] = (struct pollfd){ fake.clients[i], POLLIN, 0 }; /* fd -1 is ignored */
    if (poll(p, (nfds_t)n, -1) < 0)
      continue;
    if (p[0].revents)
      break;
    if (p[1].revents & POLLIN) {
      int fd = accept(fake.listen_fd, NULL, NULL);
      for (int i = 0; fd >= 0 && i < MAX_CLIENTS; i++)
        if (fake.clients[i] < 0) {
          fake.clients[i] = fd;
          fake.greeted[i] = 0;
          fd = -1;
        }
      if (fd >= 0)
        close(fd);
    }
    for (int i = 0; i < MAX_CLIENTS; i++)
      if (p[i + 2].revents && !serve(i)) {
        pthread_mutex_lock(&fake.lock);
        if (!fake.drop)
          fake.eofs++;
        fake.drop = 0;
        pthread_mutex_unlock(&fake.lock);
        close(fake.clients[i]);
        fake.clients[i] = -1;
      }
  }
  return NULL;
}

int fake_start(const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
  unlink(path);
  fake.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fake.listen_fd < 0 || bind(fake.listen_fd, (struct sockaddr *)&addr, sizeof(addr)) ||
      listen(fake.listen_fd, 8) || pipe(fake.wake))
    return 0;
  for (int i = 0; i < MAX_CLIENTS; i++)
    fake.clients[i] = -1;
  return pthread_create(&fake.thread, NULL, fake_main, NULL) == 0;
}

void fake_stop(void)
{
  if (write(fake.wake[1], "x", 1) != 1)
    return;
  pthread_join(fake.thread, NULL);
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (fake.clients[i] >= 0)
      close(fake.clients[i]);
  close(fake.listen_fd);
}

/* ── the script ──────────────────────────────────────────────────────────────────────── */

static void script(unsigned fn, const char *decoded, uint64_t rv, const reply_items *items,
                   int drop)
{
  pthread_mutex_lock(&fake.lock);
  fake.want_fn = fn;
  snprintf(fake.want, sizeof(fake.want), "%s", decoded);
  fake.rv = rv;
  fake.reply_len = 0;
  if (items) {
    memcpy(fake.reply, items->d, items->n);
    fake.reply_len = items->n;
  }
  fake.drop = drop;
  fake.served = fake.matched = 0;
  pthread_mutex_unlock(&fake.lock);
}

void fake_expect(unsigned fn, const char *decoded, uint64_t rv, const reply_items *items)
{
  script(fn, decoded, rv, items, 0);
}

void fake_expect_drop(unsigned fn, const char *decoded) { script(fn, decoded, 0, NULL, 1); }

#define GETTER(name, expr)                  \
  int name                                  \
  {                                         \
    pthread_mutex_lock(&fake.lock);         \
    int v = (expr);                         \
    pthread_mutex_unlock(&fake.lock);       \
    return v;                               \
  }

GETTER(fake_served_ok(void), fake.served == 1 && fake.matched)
GETTER(fake_requests(void), fake.requests)
GETTER(fake_hellos(void), fake.hellos)
GETTER(fake_eofs(void), fake.eofs)
GETTER(fake_protocol_errors(void), fake.protocol_errors)
GETTER(fake_echo_errors(void), fake.echo_errors)

void fake_set_hello_version(uint64_t version)
{
  pthread_mutex_lock(&fake.lock);
  fake.hello_version = version;
  pthread_mutex_unlock(&fake.lock);
}

void fake_set_echo(int on)
{
  pthread_mutex_lock(&fake.lock);
  fake.echo = on;
  pthread_mutex_unlock(&fake.lock);
}
