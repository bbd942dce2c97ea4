/*
 * serial.c — the simulated UART: a pseudo-terminal whose slave side (/dev/pts/N) the PC side opens.
 *
 * The host keeps a slave descriptor open itself, so the master never reports EIO or HUP when a
 * client closes. Bytes written while no client is there are dropped, as on a UART with nothing on
 * the line: writes never block on the PTY, and every open of the slave (seen with inotify on its
 * inode) first flushes what is waiting in it, so a client only ever reads what was written after
 * it opened. (inotify merges identical consecutive events, so the count of clients kept from the
 * open/close events is only a hint; a full PTY with no client counted is checked against /proc
 * before its bytes are dropped, and a client's full PTY is waited on for up to 2 s.)
 *
 * JavaScript:
 *   sim_serial_write(data: ArrayBuffer | Uint8Array)        writes every byte (or drops them all)
 *   sim_serial_on_receive(cb: (data: ArrayBuffer) => void)  the receiver of bytes from the PC
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <dirent.h>

#include "xsmc.h"
#include "host.h"

#define SIM_SERIAL_CHUNK 4096
#define SIM_SERIAL_WRITE_TIMEOUT_MS 2000

static int master_fd = -1;
static int slave_fd = -1;
static int notify_fd = -1;   /* -1: no inotify, a client is assumed to be there */
static int clients;          /* opens minus closes of the slave seen since start-up (a hint) */
static int have_receiver;
static xsSlot receiver;

static void set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int sim_serial_open(char *name, size_t cap)
{
	struct termios tio;
	const char *path;
	master_fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master_fd < 0 || grantpt(master_fd) != 0 || unlockpt(master_fd) != 0 || !(path = ptsname(master_fd))) {
		fprintf(stderr, "wim-sim: cannot create a pseudo-terminal: %s\n", strerror(errno));
		return -1;
	}
	if (strlen(path) >= cap) {
		fprintf(stderr, "wim-sim: pseudo-terminal name too long\n");
		return -1;
	}
	strcpy(name, path);
	slave_fd = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave_fd < 0 || tcgetattr(slave_fd, &tio) != 0) {
		fprintf(stderr, "wim-sim: cannot open %s: %s\n", name, strerror(errno));
		return -1;
	}
	cfmakeraw(&tio);
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(slave_fd, TCSANOW, &tio) != 0) {
		fprintf(stderr, "wim-sim: cannot set %s to raw mode: %s\n", name, strerror(errno));
		return -1;
	}
	set_nonblocking(master_fd);
	notify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (notify_fd >= 0 && inotify_add_watch(notify_fd, name, IN_OPEN | IN_CLOSE) < 0) {
		close(notify_fd);
		notify_fd = -1;
	}
	if (notify_fd < 0)
		fprintf(stderr, "wim-sim: warning: cannot watch %s; writes go out even with no client\n", name);
	if (sim_control_open() != 0) /* the button and LED's control socket (control.c), if asked for */
		return -1;
	return sim_ble_open(); /* the BLE radio model's socket (ble.c), if asked for */
}

static int client_present(void)
{
	return notify_fd < 0 || clients > 0;
}

int sim_serial_pollfds(struct pollfd *fds)
{
	int n = 0;
	if (notify_fd >= 0) {
		fds[n].fd = notify_fd;
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		n++;
	}
	if (master_fd >= 0 && have_receiver) {
		fds[n].fd = master_fd;
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		n++;
	}
	if (sim_control_fd() >= 0) {
		fds[n].fd = sim_control_fd();
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		n++;
	}
	if (sim_ble_fd() >= 0) {
		fds[n].fd = sim_ble_fd();
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		n++;
	}
	return n;
}

static void drain_notifications(void)
{
	char buffer[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(notify_fd, buffer, sizeof(buffer));
		char *p;
		if (n <= 0)
			return;
		int opened = 0;
		for (p = buffer; p < buffer + n; p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len) {
			const struct inotify_event *event = (const struct inotify_event *)p;
			if (event->mask & IN_OPEN) {
				clients++;
				opened = 1;
			}
			if ((event->mask & IN_CLOSE) && clients > 0)
				clients--;
		}
		if (opened)
			tcflush(slave_fd, TCIFLUSH); /* written before this client opened: not for it */
	}
}

static void deliver(xsMachine *machine, const uint8_t *bytes, size_t length)
{
	xsBeginHost(machine);
	int v = xsmcVars(3);
	xsTry {
		xsmcSetArrayBuffer(xsVar(v), (void *)bytes, (xsIntegerValue)length);
		xsCallFunction1(receiver, xsUndefined, xsVar(v));
	}
	xsCatch {
		sim_report_exception(the, "serial receive callback", v);
	}
	xsEndHost(machine);
	sim_run_jobs(machine);
}

void sim_serial_service(xsMachine *machine, const struct pollfd *fds, int count)
{
	int i;
	for (i = 0; i < count; i++)
		if (fds[i].fd == notify_fd && fds[i].revents)
			drain_notifications();
	for (i = 0; i < count; i++)
		if (fds[i].fd == sim_control_fd() && fds[i].revents)
			sim_control_service(machine);
	for (i = 0; i < count; i++)
		if (fds[i].fd == sim_ble_fd() && fds[i].revents)
			sim_ble_service(machine);
	for (i = 0; i < count; i++) {
		if (fds[i].fd == master_fd && (fds[i].revents & POLLIN) && have_receiver) {
			uint8_t buffer[SIM_SERIAL_CHUNK];
			ssize_t n = read(master_fd, buffer, sizeof(buffer));
			if (n > 0)
				deliver(machine, buffer, (size_t)n);
			else if (n < 0 && errno != EAGAIN && errno != EINTR && errno != EIO)
				fprintf(stderr, "wim-sim: serial read: %s\n", strerror(errno));
		}
	}
}

/* Whether a process other than this one has the slave open: a look through /proc/<pid>/fd, made only
 * when the PTY is full and the open/close count says nobody is there. The count can be wrong low:
 * inotify merges identical consecutive events, and a client that opens the slave twice in a row (Node's
 * TTY handle reopens the path it was given, then closes the first descriptor: OPEN, OPEN, CLOSE) is
 * counted as gone while it reads. Processes of other users are not visible to it, as they cannot be a
 * client of this user's PTY either unless its mode allows. */
static int slave_open_elsewhere(void)
{
	struct stat own;
	if (slave_fd < 0 || fstat(slave_fd, &own) != 0)
		return 0;
	DIR *proc = opendir("/proc");
	if (!proc)
		return 1; /* cannot tell: assume the client is there, as without inotify */
	int found = 0;
	pid_t self = getpid();
	struct dirent *p;
	while (!found && (p = readdir(proc))) {
		char *end;
		long pid = strtol(p->d_name, &end, 10);
		if (*end || pid <= 0 || pid == self)
			continue;
		char dir[64];
		snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
		DIR *fds = opendir(dir);
		if (!fds)
			continue;
		struct dirent *f;
		while (!found && (f = readdir(fds))) {
			struct stat st;
			if (f->d_name[0] != '.' && fstatat(dirfd(fds), f->d_name, &st, 0) == 0 && S_ISCHR(st.st_mode) &&
			    st.st_rdev == own.st_rdev)
				found = 1;
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
}

/* Writes all of bytes, waiting up to timeout_ms for the client to read when the PTY is full; then
 * drops the rest (and says so if a client seemed to be there). With no client counted, a full PTY
 * is checked once more against /proc before its bytes are dropped. */
static void write_all(const uint8_t *bytes, size_t length, int timeout_ms)
{
	while (length > 0) {
		ssize_t n = write(master_fd, bytes, length);
		if (n > 0) {
			bytes += n;
			length -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { master_fd, POLLOUT, 0 };
			if (timeout_ms == 0 && slave_open_elsewhere())
				timeout_ms = SIM_SERIAL_WRITE_TIMEOUT_MS;
			if (timeout_ms > 0 && poll(&pfd, 1, timeout_ms) > 0)
				continue;
			if (timeout_ms > 0)
				fprintf(stderr, "wim-sim: serial: the client is not reading; %zu bytes dropped\n", length);
			return;
		}
		fprintf(stderr, "wim-sim: serial write: %s; %zu bytes dropped\n", n < 0 ? strerror(errno) : "no progress", length);
		return;
	}
}

void sim_serial_write(xsMachine *the)
{
	void *data;
	xsUnsignedValue length;
	if (xsmcArgc < 1)
		xsTypeError("sim_serial_write: expected an ArrayBuffer or a Uint8Array");
	xsmcGetBufferReadable(xsArg(0), &data, &length);
	if (notify_fd >= 0)
		drain_notifications();
	if (master_fd < 0 || length == 0)
		return;
	/* write_all calls no JavaScript: the buffer cannot move meanwhile */
	write_all(data, length, client_present() ? SIM_SERIAL_WRITE_TIMEOUT_MS : 0);
}

/* sim_serial_pending(): bytes the PC has sent that the device has not read yet (a running command
 * sees them here: the event loop does not run until the command returns). */
void sim_serial_pending(xsMachine *the)
{
	int count = 0;
	if (master_fd >= 0 && ioctl(master_fd, FIONREAD, &count) != 0)
		count = 0;
	xsmcSetInteger(xsResult, count);
}

void sim_serial_on_receive(xsMachine *the)
{
	if (xsmcArgc < 1 || !xsmcIsCallable(xsArg(0)))
		xsTypeError("sim_serial_on_receive: expected a function");
	if (have_receiver)
		xsForget(receiver);
	receiver = xsArg(0);
	xsRemember(receiver);
	have_receiver = 1;
}
