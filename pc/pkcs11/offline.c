/*
 * offline.c — what the module answers when it cannot reach the agent. Instead of "no slots", which
 * looks like a module that does not work, it shows one slot without a token (WIM_NO_AGENT_SLOT)
 * whose description says why and what to do; the slot names no path, uid or serial. Calls on that
 * slot that need a token answer CKR_TOKEN_NOT_PRESENT; calls on any other slot or on a session find
 * the device gone (CKR_DEVICE_REMOVED: the agent held them). The next call tries the agent again.
 */
#include <string.h>

#include "wim_internal.h"

/* The slot's description (at most 64 bytes: CK_SLOT_INFO.slotDescription), by reason. */
static const char *description(enum wim_offline why)
{
  switch (why) {
  case WIM_OFFLINE_REFUSED:
    return "WIM: agent socket refused (the reason is on stderr)";
  case WIM_OFFLINE_STALE:
    return "WIM: no agent listening (stale socket; start wim agent)";
  case WIM_OFFLINE_HUNG_UP:
    return "WIM: agent hung up (journalctl --user -u wim-agent)";
  case WIM_OFFLINE_VERSION:
    return "WIM: agent speaks another protocol (update wim)";
  case WIM_OFFLINE_NO_AGENT:
    break;
  }
  return "WIM: no agent (systemctl --user start wim-agent.socket)";
}

/* Blank-padded text into a B reply item (PKCS#11 text fields are not NUL-terminated). */
static void put_text(const wim_arg *a, const char *text)
{
  size_t n = strlen(text);
  if (n > a->n)
    n = a->n;
  memcpy((void *)a->p, text, n);
  memset((char *)a->p + n, ' ', a->n - n);
}

/* A U reply item: a CK_ULONG, or one byte (the CK_VERSION fields). */
static void put_ulong(const wim_arg *a, CK_ULONG v)
{
  if (a->n == 1)
    *(CK_BYTE *)a->p = (CK_BYTE)v;
  else
    *(CK_ULONG *)a->p = v;
}

static CK_RV slot_list(CK_BBOOL token_present, const wim_arg *out)
{
  CK_ULONG count = token_present ? 0 : 1, capacity = out->n;
  *out->pn = count;
  if (!out->p || count == 0)
    return CKR_OK;
  if (capacity < count)
    return CKR_BUFFER_TOO_SMALL;
  ((CK_SLOT_ID *)out->p)[0] = WIM_NO_AGENT_SLOT;
  return CKR_OK;
}

static CK_RV slot_info(wim_arg *const *rep)
{
  put_text(rep[0], description(wim_conn_offline_reason()));
  put_text(rep[1], "WIM project");
  put_ulong(rep[2], CKF_REMOVABLE_DEVICE | CKF_HW_SLOT); /* no CKF_TOKEN_PRESENT */
  for (int i = 3; i < 7; i++)
    put_ulong(rep[i], 0); /* hardware and firmware versions: unknown without the device */
  return CKR_OK;
}

CK_RV wim_offline_answer(enum wim_fn fn, wim_arg *const *req, wim_arg *const *rep)
{
  switch (fn) {
  case WIM_FN_GetSlotList:
    return slot_list(req[0]->n != CK_FALSE, req[1]);
  case WIM_FN_GetSlotInfo:
    return req[0]->n == WIM_NO_AGENT_SLOT ? slot_info(rep) : CKR_DEVICE_REMOVED;
  case WIM_FN_CloseAllSessions: /* no sessions there; CKR_TOKEN_NOT_PRESENT is not among its codes */
    return req[0]->n == WIM_NO_AGENT_SLOT ? CKR_OK : CKR_DEVICE_REMOVED;
  case WIM_FN_GetTokenInfo:
  case WIM_FN_GetMechanismList:
  case WIM_FN_GetMechanismInfo:
  case WIM_FN_InitToken:
  case WIM_FN_OpenSession:
    return req[0]->n == WIM_NO_AGENT_SLOT ? CKR_TOKEN_NOT_PRESENT : CKR_DEVICE_REMOVED;
  default:
    return CKR_DEVICE_REMOVED; /* a session: the agent held it */
  }
}
