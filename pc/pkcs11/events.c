/*
 * events.c — C_WaitForSlotEvent (docs/agent.md, "Slot events"). The agent numbers slot events
 * (a device attached or detached); the module remembers the last one it reported and asks for the
 * next one (the agent request WIM_WaitForSlotEvent, docs/agent-rpc.md) with the time of C_Initialize, so that the
 * first call reports only events after the application started.
 *
 * CKF_DONT_BLOCK asks on the shared connection; a blocking wait asks on a connection of its own, so
 * that the application's other threads go on calling the module meanwhile. C_Finalize shuts those
 * connections down: the waits return CKR_CRYPTOKI_NOT_INITIALIZED. With no agent a blocking wait
 * tries again every second.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wim_internal.h"

#define WIM_MAX_WAITS 32

static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_event; /* the number of the last event reported (0: none) */
static uint64_t since_ms;   /* C_Initialize, ms since the epoch */
static int waits[WIM_MAX_WAITS]; /* fds of blocked waits (0: free slot; fds here are never 0) */

static uint64_t now_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

void wim_events_initialize(void)
{
  pthread_mutex_lock(&events_lock);
  last_event = 0;
  since_ms = now_ms();
  pthread_mutex_unlock(&events_lock);
}

void wim_events_finalize(void)
{
  pthread_mutex_lock(&events_lock);
  for (int i = 0; i < WIM_MAX_WAITS; i++)
    if (waits[i] > 0)
      shutdown(waits[i], SHUT_RDWR); /* the wait's read returns; the waiter closes its fd */
  pthread_mutex_unlock(&events_lock);
}

/* Registers a blocked wait's fd; 0 when too many wait at once or the module was finalized. */
static int add_wait(int fd)
{
  int ok = 0;
  pthread_mutex_lock(&events_lock);
  for (int i = 0; i < WIM_MAX_WAITS && !ok; i++)
    if (waits[i] == 0) {
      waits[i] = fd;
      ok = 1;
    }
  if (ok && !wim_is_initialized()) /* C_Finalize ran before the fd was listed */
    shutdown(fd, SHUT_RDWR);
  pthread_mutex_unlock(&events_lock);
  return ok;
}

static void remove_wait(int fd)
{
  pthread_mutex_lock(&events_lock);
  for (int i = 0; i < WIM_MAX_WAITS; i++)
    if (waits[i] == fd)
      waits[i] = 0;
  pthread_mutex_unlock(&events_lock);
}

/* One request: the next event after `after`; CKR_OK with *slot and *seq, CKR_NO_EVENT, or the
 * connection's failure (*io). */
static CK_RV ask(int fd, uint64_t after, uint64_t since, int block, CK_SLOT_ID *slot, uint64_t *seq,
                 enum wim_io *io)
{
  wim_buf request = { 0 }, reply = { 0 };
  wim_put_u32_later(&request);
  wim_put_u32(&request, WIM_AGENT_WIM_WaitForSlotEvent);
  wim_put_u64(&request, after);
  wim_put_u64(&request, since);
  wim_put_u64(&request, block ? 1 : 0);
  CK_RV rv = CKR_DEVICE_ERROR;
  if (request.failed)
    *io = WIM_IO_PROTOCOL;
  else
    *io = fd < 0 ? wim_conn_transact(&request, &reply) : wim_conn_exchange(fd, &request, &reply);
  if (*io == WIM_IO_OK) {
    wim_reader r = { reply.data, reply.len, 0 };
    rv = (CK_RV)wim_get_u64(&r);
    if (rv == CKR_OK) {
      *slot = (CK_SLOT_ID)wim_get_u64(&r);
      *seq = wim_get_u64(&r);
    }
    if (r.failed || (rv == CKR_OK && r.left))
      rv = CKR_DEVICE_ERROR;
  }
  wim_buf_free(&request);
  wim_buf_free(&reply);
  return rv;
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
  if (!wim_is_initialized())
    return wim_debug_rv("C_WaitForSlotEvent", CKR_CRYPTOKI_NOT_INITIALIZED);
  if (!pSlot || pReserved)
    return wim_debug_rv("C_WaitForSlotEvent", CKR_ARGUMENTS_BAD);
  pthread_mutex_lock(&events_lock);
  uint64_t after = last_event, since = since_ms;
  pthread_mutex_unlock(&events_lock);
  CK_SLOT_ID slot = 0;
  uint64_t seq = 0;
  enum wim_io io;
  CK_RV rv = CKR_NO_EVENT;
  if (flags & CKF_DONT_BLOCK) {
    rv = ask(-1, after, since, 0, &slot, &seq, &io);
    if (io != WIM_IO_OK)
      rv = CKR_NO_EVENT; /* no agent: no device, nothing happened */
  } else {
    for (;;) {
      int fd = wim_conn_open();
      if (fd >= 0 && !add_wait(fd)) {
        close(fd);
        rv = CKR_FUNCTION_FAILED; /* too many threads waiting at once */
        break;
      }
      if (fd >= 0) {
        rv = ask(fd, after, since, 1, &slot, &seq, &io);
        remove_wait(fd);
        close(fd);
      } else {
        io = WIM_IO_OFFLINE;
      }
      if (!wim_is_initialized()) {
        rv = CKR_CRYPTOKI_NOT_INITIALIZED;
        break;
      }
      if (io == WIM_IO_OK && rv != CKR_NO_EVENT)
        break;
      struct timespec second = { 1, 0 }; /* no agent (or it restarted): try again */
      while (nanosleep(&second, &second) < 0 && errno == EINTR)
        ;
      if (!wim_is_initialized()) {
        rv = CKR_CRYPTOKI_NOT_INITIALIZED;
        break;
      }
    }
  }
  if (rv == CKR_FUNCTION_NOT_SUPPORTED && (flags & CKF_DONT_BLOCK))
    rv = CKR_NO_EVENT; /* an agent from before slot events (blocking: CKR_FUNCTION_NOT_SUPPORTED) */
  if (rv == CKR_OK) {
    *pSlot = slot;
    pthread_mutex_lock(&events_lock);
    if (seq > last_event)
      last_event = seq;
    pthread_mutex_unlock(&events_lock);
  }
  return wim_debug_rv("C_WaitForSlotEvent", rv);
}
