/*
 * fake_agent.h — a tiny stand-in for the wim agent, living in the test program: a thread
 * serving the unix socket, decoding each request per docs/agent-rpc.md into a readable
 * line ("u:5 b:616263 o:1:256") that the test compares with what it expects, and sending
 * the reply the test scripted.
 */
#ifndef FAKE_AGENT_H
#define FAKE_AGENT_H

#include <stddef.h>
#include <stdint.h>

/* A reply's items, built by the test. */
typedef struct reply_items {
  uint8_t d[8192];
  size_t n;
} reply_items;

void ri_u64(reply_items *r, uint64_t v);
void ri_u32(reply_items *r, uint32_t v);
void ri_raw(reply_items *r, const void *p, size_t n);
void ri_bytes(reply_items *r, const void *p, uint32_t n); /* u32 length + bytes */
void ri_text(reply_items *r, const char *s);               /* a B item from a string */

int fake_start(const char *path);
void fake_stop(void);

/* Scripts the next request: its function number, its decoded form, and the reply
 * (rv, then the items; items may be NULL). With drop set, the fake closes the connection
 * instead of replying. */
void fake_expect(unsigned fn, const char *decoded, uint64_t rv, const reply_items *items);
void fake_expect_drop(unsigned fn, const char *decoded);

/* 1 when exactly one request arrived since fake_expect and it matched. */
int fake_served_ok(void);
int fake_requests(void);        /* non-hello requests since the start */
int fake_hellos(void);          /* hello requests since the start */
int fake_eofs(void);            /* connections the module closed */
int fake_protocol_errors(void); /* malformed requests, or a request before hello */

/* Echo mode for the thread test: C_GetSessionInfo(h) is answered with slot h, state h+1. */
/* The protocol version hello answers (0: the module's, 1). */
void fake_set_hello_version(uint64_t version);
void fake_set_echo(int on);
int fake_echo_errors(void);

#endif
