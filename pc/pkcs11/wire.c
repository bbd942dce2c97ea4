/*
 * wire.c — little-endian encoding into a growable buffer and bounds-checked decoding.
 * Errors are sticky: a failed put or get sets `failed` and later calls do nothing, so
 * callers check once at the end.
 */
#include <stdlib.h>
#include <string.h>

#include "wim_internal.h"

void wim_buf_free(wim_buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static int reserve(wim_buf *b, size_t n)
{
  if (b->failed)
    return 0;
  if (n > SIZE_MAX / 2 - b->len) {
    b->failed = 1;
    return 0;
  }
  if (b->len + n <= b->cap)
    return 1;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + n)
    cap *= 2;
  uint8_t *d = realloc(b->data, cap);
  if (!d) {
    b->failed = 1;
    return 0;
  }
  b->data = d;
  b->cap = cap;
  return 1;
}

int wim_buf_resize(wim_buf *b, size_t n)
{
  b->len = 0;
  if (!reserve(b, n))
    return 0;
  b->len = n;
  return 1;
}

void wim_put_raw(wim_buf *b, const void *p, size_t n)
{
  if (n == 0 || !reserve(b, n))
    return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static void put_le(wim_buf *b, uint64_t v, size_t width)
{
  uint8_t tmp[8];
  for (size_t i = 0; i < width; i++)
    tmp[i] = (uint8_t)(v >> (8 * i));
  if (!reserve(b, width))
    return;
  memcpy(b->data + b->len, tmp, width);
  b->len += width;
}

void wim_put_u8(wim_buf *b, uint8_t v) { put_le(b, v, 1); }
void wim_put_u32(wim_buf *b, uint32_t v) { put_le(b, v, 4); }
void wim_put_u64(wim_buf *b, uint64_t v) { put_le(b, v, 8); }

size_t wim_put_u32_later(wim_buf *b)
{
  size_t at = b->len;
  wim_put_u32(b, 0);
  return at;
}

void wim_patch_u32(wim_buf *b, size_t at, uint32_t v)
{
  if (b->failed || at + 4 > b->len)
    return;
  for (size_t i = 0; i < 4; i++)
    b->data[at + i] = (uint8_t)(v >> (8 * i));
}

const uint8_t *wim_get_raw(wim_reader *r, size_t n)
{
  if (r->failed || n > r->left) {
    r->failed = 1;
    return NULL;
  }
  const uint8_t *p = r->p;
  r->p += n;
  r->left -= n;
  return p;
}

static uint64_t get_le(wim_reader *r, size_t width)
{
  const uint8_t *p = wim_get_raw(r, width);
  uint64_t v = 0;
  if (!p)
    return 0;
  for (size_t i = 0; i < width; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

uint8_t wim_get_u8(wim_reader *r) { return (uint8_t)get_le(r, 1); }
uint32_t wim_get_u32(wim_reader *r) { return (uint32_t)get_le(r, 4); }
uint64_t wim_get_u64(wim_reader *r) { return get_le(r, 8); }
