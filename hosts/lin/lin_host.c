/*
 * lin_host.c — the Linux check target's half of the C Env (hosts/lin): a pseudo-terminal as the
 * serial port, a file as the key store's flash (NOR semantics, 4 KiB sectors), randomness from
 * getrandom(). Built only by mcconfig -p x-cli-lin (mk/moddable.mk); the device uses
 * hosts/esp32/wim_host.c, the simulator sim/.
 *
 * It defines the two host functions hosts/esp32/native.js binds (wim_host_random, wim_host_serial),
 * so the same binding module serves both targets, plus the PTY functions of hosts/lin/serial.js.
 *
 * Environment: WIM_LIN_FLASH (default ./wim-lin-flash.bin, 256 KiB), WIM_LIN_SERIAL (default
 * LIN000000000000). The PTY's path is printed on stdout as one line "pty=/dev/pts/N".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <glib-unix.h>

#include "xsmc.h"
#include "wim_env.h"

#define LIN_FLASH_SIZE (256 * 1024)
#define LIN_SECTOR 4096

/* ---- flash: a file, NOR semantics (erase to 0xFF, a write only clears bits) ---- */

static int flash_fd = -1;

static int flash_read(void *ctx, uint32_t offset, void *buf, uint32_t len)
{
	(void)ctx;
	if (offset > LIN_FLASH_SIZE || len > LIN_FLASH_SIZE - offset)
		return WIM_E_ARG;
	return pread(flash_fd, buf, len, offset) == (ssize_t)len ? WIM_OK : WIM_E_FLASH;
}

static int flash_write(void *ctx, uint32_t offset, const void *buf, uint32_t len)
{
	uint8_t old[256];
	const uint8_t *src = buf;
	(void)ctx;
	if (offset > LIN_FLASH_SIZE || len > LIN_FLASH_SIZE - offset)
		return WIM_E_ARG;
	while (len) {
		uint32_t n = len < sizeof(old) ? len : (uint32_t)sizeof(old), i;
		if (pread(flash_fd, old, n, offset) != (ssize_t)n)
			return WIM_E_FLASH;
		for (i = 0; i < n; i++)
			old[i] &= src[i];
		if (pwrite(flash_fd, old, n, offset) != (ssize_t)n)
			return WIM_E_FLASH;
		offset += n;
		src += n;
		len -= n;
	}
	return fdatasync(flash_fd) == 0 ? WIM_OK : WIM_E_FLASH;
}

static int flash_erase(void *ctx, uint32_t sector_offset)
{
	uint8_t ones[LIN_SECTOR];
	(void)ctx;
	if (sector_offset % LIN_SECTOR || sector_offset >= LIN_FLASH_SIZE)
		return WIM_E_ARG;
	memset(ones, 0xff, sizeof(ones));
	return pwrite(flash_fd, ones, sizeof(ones), sector_offset) == (ssize_t)sizeof(ones) ? WIM_OK : WIM_E_FLASH;
}

static wim_flash flash = { 0, LIN_FLASH_SIZE, LIN_SECTOR, flash_read, flash_write, flash_erase };

const wim_flash *wim_host_flash(void)
{
	if (flash_fd < 0) {
		const char *path = getenv("WIM_LIN_FLASH");
		off_t size;
		if (!path)
			path = "wim-lin-flash.bin";
		flash_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (flash_fd < 0)
			return 0;
		size = lseek(flash_fd, 0, SEEK_END);
		if (size != LIN_FLASH_SIZE) {
			uint32_t o;
			if (ftruncate(flash_fd, LIN_FLASH_SIZE) != 0)
				return 0;
			for (o = 0; o < LIN_FLASH_SIZE; o += LIN_SECTOR)
				if (flash_erase(0, o) != WIM_OK)
					return 0;
		}
	}
	return &flash;
}

/* ---- randomness ---- */

static int fill_random(uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = getrandom(buf, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return WIM_E_RNG;
		}
		buf += n;
		len -= (size_t)n;
	}
	return WIM_OK;
}

static int rng_fill(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	return fill_random(buf, len);
}

static const wim_rng rng = { 0, rng_fill };

const wim_rng *wim_host_rng(void)
{
	return &rng;
}

/* wim_host_random(buffer): fills an ArrayBuffer (or a byte view) from the OS. */
void wim_host_random(xsMachine *the)
{
	void *data;
	xsUnsignedValue len;
	if (xsmcArgc < 1 || xsmcTypeOf(xsArg(0)) != xsReferenceType)
		xsTypeError("wim_host_random: want an ArrayBuffer");
	xsmcGetBufferWritable(xsArg(0), &data, &len);
	if (fill_random(data, len) != WIM_OK)
		xsUnknownError("wim_host_random: getrandom failed");
}

/* wim_host_serial(): "LIN" and 12 hex digits, from WIM_LIN_SERIAL or a constant. */
void wim_host_serial(xsMachine *the)
{
	const char *serial = getenv("WIM_LIN_SERIAL");
	xsmcSetString(xsResult, (char *)(serial && *serial ? serial : "LIN000000000000"));
}

/* ---- the serial port: a pseudo-terminal ---- */

static int master_fd = -1, slave_fd = -1, notify_fd = -1;
static xsMachine *receiver_machine;
static xsSlot receiver;

static gboolean on_notify(gint fd, GIOCondition condition, gpointer data)
{
	char buffer[1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	int opened = 0;
	ssize_t n;
	char *p;
	(void)condition;
	(void)data;
	while ((n = read(fd, buffer, sizeof(buffer))) > 0)
		for (p = buffer; p < buffer + n; p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len)
			if (((struct inotify_event *)p)->mask & IN_OPEN)
				opened = 1;
	if (opened)
		tcflush(slave_fd, TCIFLUSH); /* written before this client opened: not for it */
	return G_SOURCE_CONTINUE;
}

static gboolean on_readable(gint fd, GIOCondition condition, gpointer data)
{
	uint8_t bytes[4096];
	ssize_t n = read(fd, bytes, sizeof(bytes));
	xsMachine *machine = receiver_machine;
	(void)condition;
	(void)data;
	if (n <= 0)
		return G_SOURCE_CONTINUE;
	xsBeginHost(machine);
	{
		xsmcVars(1);
		xsTry {
			xsmcSetArrayBuffer(xsVar(0), bytes, (xsIntegerValue)n);
			xsCallFunction1(receiver, xsUndefined, xsVar(0));
		}
		xsCatch {
			xsmcGet(xsVar(0), xsException, xsID("message"));
			fprintf(stderr, "serial receiver threw: %s\n", xsmcToString(xsVar(0)));
		}
	}
	xsEndHost(machine);
	return G_SOURCE_CONTINUE;
}

/* lin_serial_open(receiver: (bytes: ArrayBuffer) => void): string — creates the PTY, returns its path. */
void lin_serial_open(xsMachine *the)
{
	struct termios tio;
	const char *path;
	if (master_fd >= 0)
		xsUnknownError("lin_serial_open: already open");
	if (xsmcArgc < 1 || !xsmcIsInstanceOf(xsArg(0), xsFunctionPrototype))
		xsTypeError("lin_serial_open: want a function");
	master_fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (master_fd < 0 || grantpt(master_fd) || unlockpt(master_fd) || !(path = ptsname(master_fd)))
		xsUnknownError("lin_serial_open: no pseudo-terminal");
	slave_fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC); /* kept open: no EIO/HUP when a client closes */
	if (slave_fd < 0 || tcgetattr(slave_fd, &tio))
		xsUnknownError("lin_serial_open: cannot open the slave");
	cfmakeraw(&tio);
	tcsetattr(slave_fd, TCSANOW, &tio);
	notify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (notify_fd >= 0 && inotify_add_watch(notify_fd, path, IN_OPEN) >= 0)
		g_unix_fd_add(notify_fd, G_IO_IN, on_notify, NULL);
	receiver = xsArg(0);
	xsRemember(receiver);
	receiver_machine = the;
	g_unix_fd_add(master_fd, G_IO_IN, on_readable, NULL);
	printf("pty=%s\n", path);
	fflush(stdout);
	xsmcSetString(xsResult, (char *)path);
}

/* lin_serial_write(bytes: ArrayBuffer | Uint8Array) — all bytes, or dropped if nobody reads for 2 s. */
void lin_serial_write(xsMachine *the)
{
	void *data;
	xsUnsignedValue len, done = 0;
	if (xsmcArgc < 1 || xsmcTypeOf(xsArg(0)) != xsReferenceType)
		xsTypeError("lin_serial_write: want bytes");
	xsmcGetBufferReadable(xsArg(0), &data, &len);
	while (done < len) {
		ssize_t n = write(master_fd, (uint8_t *)data + done, len - done);
		if (n > 0) {
			done += (xsUnsignedValue)n;
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { master_fd, POLLOUT, 0 };
			if (poll(&p, 1, 2000) > 0)
				continue;
		}
		break; /* nothing on the line: the rest is dropped, as on a UART */
	}
}

/* lin_serial_pending(): bytes from the PC not yet read. */
void lin_serial_pending(xsMachine *the)
{
	int n = 0;
	if (master_fd < 0 || ioctl(master_fd, FIONREAD, &n) != 0)
		n = 0;
	xsmcSetInteger(xsResult, n);
}
