/*
 * trust.h — which agent socket the module may talk to (trust.c). The PIN travels over that socket
 * in clear, so the module connects only to a socket that its own uid made, in a directory that no
 * other user can write, and served by a process of its own uid (docs/agent-rpc.md, "Which socket").
 */
#ifndef WIM_TRUST_H
#define WIM_TRUST_H

#include <stddef.h>

/* Results of the checks: go on, or there is no agent (quietly), or a socket is refused (say why). */
enum wim_trust { WIM_TRUST_OK, WIM_TRUST_ABSENT, WIM_TRUST_REFUSED };

/*
 * Checks the socket path before connecting: every directory on the way (symbolic links resolved)
 * belongs to this uid or root; the socket's own directory is writable by nobody else (a sticky
 * bit is not enough there); the socket itself is a socket (not a symbolic link) owned by this uid.
 * On WIM_TRUST_OK `resolved` holds the path to connect to; on WIM_TRUST_REFUSED `why` says why.
 */
enum wim_trust wim_trust_path(const char *path, char *resolved, size_t resolved_size, char *why, size_t why_size);

/* Checks the connected peer (SO_PEERCRED): the listening process runs as this uid. */
enum wim_trust wim_trust_peer(int fd, char *why, size_t why_size);

#endif
