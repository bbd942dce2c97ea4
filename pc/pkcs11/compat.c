/*
 * compat.c — what the module does differently for a client that cannot take a standard answer.
 *
 * OpenSSL's libp11 up to 0.4.16 (Debian 12 ships 0.4.12, statically inside the OpenSSL engine
 * engines-3/pkcs11.so) enumerates every private key when it looks one up; a key of a type it does
 * not know (CKK_EC_EDWARDS, CKK_EC_MONTGOMERY) makes it drop the whole list ("Unable to enumerate
 * private keys"), so one Ed25519 key on the token hides its RSA and EC keys too. For such a client
 * C_FindObjects leaves the EdDSA and Montgomery keys out of its results (docs/clients.md). Reporting
 * another key type instead would be false and break the clients that do take Ed25519.
 *
 * WIM_HIDE_EDDSA=1 hides them always, WIM_HIDE_EDDSA=0 never; unset, they are hidden when libp11 is
 * loaded in the process (the engine, the provider or the library, by file name). libp11 0.4.17 and
 * later take CKK_EC_EDWARDS: their users who want Ed25519 keys through it set WIM_HIDE_EDDSA=0.
 */
#define _GNU_SOURCE
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "wim_internal.h"

static pthread_once_t decided = PTHREAD_ONCE_INIT;
static int hide_eddsa;

/* Whether a loaded object is libp11 or embeds it: libp11.so.*, the engine pkcs11.so under an
 * OpenSSL engines directory, or libp11's OpenSSL provider (pkcs11prov.so). */
static int is_libp11(const char *name)
{
  const char *base = strrchr(name, '/');
  base = base ? base + 1 : name;
  if (strncmp(base, "libp11.so", 9) == 0 || strncmp(base, "pkcs11prov.so", 13) == 0) return 1;
  return strcmp(base, "pkcs11.so") == 0 && strstr(name, "/engines-") != NULL;
}

static int find_libp11(struct dl_phdr_info *info, size_t size, void *found)
{
  (void)size;
  if (info->dlpi_name && is_libp11(info->dlpi_name)) *(int *)found = 1;
  return *(int *)found;
}

static void decide(void)
{
  const char *setting = getenv("WIM_HIDE_EDDSA");
  if (setting && *setting) {
    hide_eddsa = strcmp(setting, "0") != 0;
    return;
  }
  int found = 0;
  dl_iterate_phdr(find_libp11, &found);
  hide_eddsa = found;
}

int wim_hides_eddsa(void)
{
  pthread_once(&decided, decide);
  return hide_eddsa;
}

/* Whether the object is a key of a type that is hidden. An object without CKA_KEY_TYPE (a
 * certificate, a data object) or one whose type cannot be read is kept: only a key the token
 * says is EdDSA or Montgomery goes. */
static int hidden(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object)
{
  CK_KEY_TYPE type = 0;
  CK_ATTRIBUTE query = { CKA_KEY_TYPE, &type, sizeof type };
  if (C_GetAttributeValue(session, object, &query, 1) != CKR_OK) return 0;
  return type == CKK_EC_EDWARDS || type == CKK_EC_MONTGOMERY;
}

/* C_FindObjects with the hidden keys left out. A batch whose objects were all hidden is followed
 * by the next one, so that a count of 0 still means "no more objects" (the caller stops there). */
CK_RV wim_find_objects(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE_PTR objects, CK_ULONG max,
                       CK_ULONG_PTR count)
{
  if (!wim_hides_eddsa() || !objects || !count || max == 0)
    return wim_forward_find_objects(session, objects, max, count);
  for (;;) {
    CK_ULONG found = 0, kept = 0;
    CK_RV rv = wim_forward_find_objects(session, objects, max, &found);
    if (rv != CKR_OK) return rv;
    for (CK_ULONG i = 0; i < found && i < max; i++)
      if (!hidden(session, objects[i])) objects[kept++] = objects[i];
    if (kept > 0 || found == 0) {
      *count = kept;
      return CKR_OK;
    }
  }
}
