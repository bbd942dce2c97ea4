/*
 * trust.c — the checks before and after connecting to the agent (trust.h). Another local user who
 * could bind the path first, or swap it later, would otherwise receive C_Login's PIN.
 *
 * The rule (pc/agent/paths.ts applies the same one when the agent creates its socket):
 *  - every directory from the socket's up to "/" belongs to this uid or to root;
 *  - the socket's own directory is writable by no one else (group and other write bits clear: a
 *    sticky /tmp still lets anyone create the name first);
 *  - a directory further up may be group/other-writable only if sticky (nobody else can rename
 *    the directory below it away);
 *  - the socket is a socket, not a symbolic link, owned by this uid;
 *  - after connecting, the peer (SO_PEERCRED) runs as this uid — root's agent is not trusted by
 *    another user's module, and no other user's agent by root's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trust.h"

static enum wim_trust refuse(char *why, size_t size, const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  vsnprintf(why, size, format, ap);
  va_end(ap);
  return WIM_TRUST_REFUSED;
}

static int trusted_owner(uid_t owner)
{
  return owner == getuid() || owner == 0;
}

/* Walks `dir` (already resolved, absolute) and its ancestors up to "/". */
static enum wim_trust check_dirs(const char *dir, char *why, size_t why_size)
{
  char walk[PATH_MAX];
  int own_dir = 1;
  if (snprintf(walk, sizeof(walk), "%s", dir) >= (int)sizeof(walk))
    return refuse(why, why_size, "the path is too long");
  for (;;) {
    struct stat st;
    if (stat(walk, &st) != 0)
      return WIM_TRUST_ABSENT;
    if (!S_ISDIR(st.st_mode))
      return refuse(why, why_size, "%s is not a directory", walk);
    if (!trusted_owner(st.st_uid))
      return refuse(why, why_size, "directory %s is owned by uid %lu, not %lu or root", walk,
                    (unsigned long)st.st_uid, (unsigned long)getuid());
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && (own_dir || !(st.st_mode & S_ISVTX)))
      return refuse(why, why_size, "directory %s is writable by other users (mode %04o)", walk,
                    (unsigned)(st.st_mode & 07777));
    if (strcmp(walk, "/") == 0)
      return WIM_TRUST_OK;
    char *slash = strrchr(walk, '/');
    if (slash == walk)
      slash[1] = '\0';
    else
      *slash = '\0';
    own_dir = 0;
  }
}

enum wim_trust wim_trust_path(const char *path, char *resolved, size_t resolved_size, char *why, size_t why_size)
{
  char dir[PATH_MAX], real[PATH_MAX];
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  if (!*base)
    return refuse(why, why_size, "not a socket (the path ends with /)");
  if (!slash)
    snprintf(dir, sizeof(dir), ".");
  else if (slash == path)
    snprintf(dir, sizeof(dir), "/");
  else if ((size_t)(slash - path) < sizeof(dir))
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
  else
    return refuse(why, why_size, "the path is too long");
  if (!realpath(dir, real))
    return WIM_TRUST_ABSENT;
  enum wim_trust t = check_dirs(real, why, why_size);
  if (t != WIM_TRUST_OK)
    return t;
  int n = snprintf(resolved, resolved_size, "%s/%s", strcmp(real, "/") ? real : "", base);
  if (n < 0 || (size_t)n >= resolved_size)
    return refuse(why, why_size, "the path is too long for a unix socket");
  struct stat st;
  if (lstat(resolved, &st) != 0)
    return WIM_TRUST_ABSENT;
  if (S_ISLNK(st.st_mode))
    return refuse(why, why_size, "it is a symbolic link");
  if (!S_ISSOCK(st.st_mode))
    return refuse(why, why_size, "it is not a socket");
  if (st.st_uid != getuid())
    return refuse(why, why_size, "owned by uid %lu, not %lu", (unsigned long)st.st_uid, (unsigned long)getuid());
  return WIM_TRUST_OK;
}

enum wim_trust wim_trust_peer(int fd, char *why, size_t why_size)
{
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred))
    return refuse(why, why_size, "cannot read the listening process's credentials: %s", strerror(errno));
  if (cred.uid != getuid())
    return refuse(why, why_size, "the listening process (pid %ld) runs as uid %lu, not %lu", (long)cred.pid,
                  (unsigned long)cred.uid, (unsigned long)getuid());
  return WIM_TRUST_OK;
}
