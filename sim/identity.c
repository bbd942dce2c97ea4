/*
 * identity.c — the simulated device's serial number, unique per device and stable for its life.
 *
 * The simulator's counterpart of the ESP32's eFuse MAC (hosts/esp32/wim_host.c): 48 random bits
 * from getrandom(), written once to FLASH.id as "SIM" + 12 upper-case hex digits and a newline
 * (15 characters: CK_TOKEN_INFO.serialNumber holds 16). It is made on the first start of a blank
 * device — before the key store writes anything, outside the flash operations that --cut-after
 * counts — under a temporary name, fsync'ed, then link()ed into place: a crash leaves no identity
 * or the whole one, and two simulators started at once on the same file agree on the first one
 * linked. Formatting the key store or C_InitToken keep it, as they keep a chip's MAC.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "xsmc.h"
#include "identity.h"

#define SERIAL_LEN 15 /* "SIM" + 12 hex digits */

static char identity_path[4096];
static char serial[SERIAL_LEN + 1];

void sim_identity_init(const char *flash_path)
{
	if ((size_t)snprintf(identity_path, sizeof(identity_path), "%s.id", flash_path) >= sizeof(identity_path))
		identity_path[0] = '\0';
}

static int well_formed(const char *text)
{
	int i;
	if (strncmp(text, "SIM", 3) != 0)
		return 0;
	for (i = 3; i < SERIAL_LEN; i++)
		if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'A' && text[i] <= 'F')))
			return 0;
	return 1;
}

/* Reads FLASH.id: 1 (serial set), 0 (absent), -1 (unreadable or malformed: printed). */
static int read_identity(void)
{
	char text[SERIAL_LEN + 2];
	ssize_t n;
	int fd = open(identity_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n != SERIAL_LEN + 1 || text[SERIAL_LEN] != '\n' || (text[SERIAL_LEN] = '\0', !well_formed(text))) {
		fprintf(stderr, "wim-sim: %s is not a device identity (\"SIM\" and 12 hex digits)\n", identity_path);
		return -1;
	}
	memcpy(serial, text, SERIAL_LEN + 1);
	return 1;
}

static int sync_directory(const char *path)
{
	char copy[sizeof(identity_path)];
	int fd, r;
	snprintf(copy, sizeof(copy), "%s", path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

/* Draws a new identity and links it into place unless another one got there first. */
static int make_identity(void)
{
	static const char hex[] = "0123456789ABCDEF";
	char temp[sizeof(identity_path) + 32], text[SERIAL_LEN + 1];
	uint8_t mac[6];
	int fd, i, ok;
	if (sim_random_fill(mac, sizeof(mac)) != 0)
		return -1;
	memcpy(text, "SIM", 3);
	for (i = 0; i < 6; i++) {
		text[3 + 2 * i] = hex[mac[i] >> 4];
		text[4 + 2 * i] = hex[mac[i] & 15];
	}
	text[SERIAL_LEN] = '\n';
	if ((size_t)snprintf(temp, sizeof(temp), "%s.%ld.new", identity_path, (long)getpid()) >= sizeof(temp))
		return -1;
	fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	ok = write(fd, text, sizeof(text)) == (ssize_t)sizeof(text) && fsync(fd) == 0;
	close(fd);
	if (ok && link(temp, identity_path) != 0 && errno != EEXIST)
		ok = 0;
	unlink(temp);
	return ok && sync_directory(identity_path) == 0 ? 0 : -1;
}

void sim_device_serial(xsMachine *the)
{
	if (!serial[0]) {
		int found;
		if (!identity_path[0])
			xsUnknownError("sim_device_serial: no flash file");
		found = read_identity();
		if (found == 0 && (make_identity() != 0 || read_identity() != 1))
			xsUnknownError("sim_device_serial: cannot write %s", identity_path);
		if (found < 0)
			xsUnknownError("sim_device_serial: %s is damaged", identity_path);
	}
	xsmcSetString(xsResult, serial);
}
