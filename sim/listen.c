/*
 * listen.c — what the simulator's socket services share (the control socket of control.c, the radio
 * model of ble.c): a unix stream socket listening at the path an environment variable names (a stale
 * socket there is replaced, any other file is an error), in an epoll descriptor of its own whose
 * NULL entry is the listening socket; and accepting clients into the service's table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "xsmc.h"
#include "host.h"

int sim_listen_open(const char *variable, const char *what, int *listen_fd, int *epoll_fd)
{
	const char *path = getenv(variable);
	struct sockaddr_un addr;
	struct stat st;
	struct epoll_event event;
	if (!path || !*path)
		return 0;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "wim-sim: %s: path too long: %s\n", variable, path);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "wim-sim: %s: %s exists and is not a socket\n", variable, path);
			return -1;
		}
		unlink(path);
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, path);
	*listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	*epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (*listen_fd < 0 || *epoll_fd < 0 || bind(*listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
			listen(*listen_fd, 4) != 0) {
		fprintf(stderr, "wim-sim: %s %s: %s\n", what, path, strerror(errno));
		return -1;
	}
	event.events = EPOLLIN;
	event.data.ptr = NULL; /* NULL: the listening socket */
	if (epoll_ctl(*epoll_fd, EPOLL_CTL_ADD, *listen_fd, &event) != 0) {
		fprintf(stderr, "wim-sim: %s: epoll: %s\n", what, strerror(errno));
		return -1;
	}
	return 0;
}

void sim_listen_accept(int listen_fd, int epoll_fd, void *(*free_client)(void), void (*adopt)(void *client, int fd))
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event event;
		void *client;
		if (fd < 0)
			return;
		client = free_client();
		if (!client) {
			close(fd); /* too many */
			continue;
		}
		event.events = EPOLLIN;
		event.data.ptr = client;
		if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
			close(fd);
			continue;
		}
		adopt(client, fd);
	}
}
