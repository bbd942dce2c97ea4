/*
 * ble.c — the simulator's Bluetooth LE radio model (docs/ble.md, "The radio model's socket"): what
 * lies between the device's BLE stack and a central, stricter than NimBLE on the ESP32.
 *
 * With WIM_SIM_BLE=PATH in its environment, wim-sim listens on a unix stream socket at PATH (a stale
 * socket there is replaced, any other file refused). Each accepted connection is one central; at most
 * one is connected (CONNECT) at a time. Messages both ways: u16 length (LE, of what follows) · u8
 * type · payload. Centrals send SCAN, CONNECT, EXCHANGE_MTU, SUBSCRIBE, WRITE, DISCONNECT, FAULT, each
 * answered in order; the radio sends NOTIFY and DISCONNECTED unsolicited.
 *
 * The link: MTU 23 until the central exchanges it, then min(central's, 256); a write longer than
 * MTU − 3 is refused (ATT error 0x0D). The device's notifications (sim_ble_notify) enter the stack's
 * buffer (4 packets; a notification sent while it is full is dropped silently, as NimBLE drops one it
 * has no mbuf for and Moddable ignores the return code); one packet leaves per connection event, every
 * 2 ms from the connection's start, and reaches the central `delay` ms later (fault 1). Notifications
 * sent before the central subscribed, or longer than MTU − 3, are dropped too (the latter said on
 * stderr: the firmware must never send one). Faults (FAULT): 0 clears all, 1 delay ms, 2 buffer
 * packets, 3 cuts the link after N more notifications reach the central (DISCONNECTED 0x08).
 *
 * All the model's descriptors sit in one epoll descriptor; the event loop polls it (through serial.c)
 * and asks sim_ble_timeout_ms when the next notification is due (sim_ble_run_due delivers it).
 *
 * JavaScript (sim/ble.ts):
 *   sim_ble_available(): boolean                   whether WIM_SIM_BLE is set (the model listens)
 *   sim_ble_advertise(name: string)                 advertises the name (at most 29 bytes, the rest cut)
 *   sim_ble_on_event(cb: (kind, value) => void)     1 connected, 2 disconnected, 3 MTU exchanged (value:
 *                                                   the MTU), 4 notifications on/off (value: boolean),
 *                                                   5 written (value: ArrayBuffer)
 *   sim_ble_notify(data: ArrayBuffer | Uint8Array)  one notification of TX
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <poll.h>
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

#define BLE_CENTRALS 4          /* socket connections (scanning centrals); one of them connected */
#define BLE_FRAME_MAX 4096      /* the longest message taken from a central (a longer one drops it) */
#define BLE_MTU_DEFAULT 23      /* ATT's default MTU */
#define BLE_MTU_DEVICE 256      /* NimBLE's default preferred MTU on the ESP32 */
#define BLE_EVENT_MS 2.0        /* one packet leaves the buffer per connection event */
#define BLE_BUFFER_DEFAULT 4    /* the stack's notification buffer, in packets */
#define BLE_HELD_MAX 256        /* packets in the buffer or on the air (delayed) at once */
#define BLE_NAME_MAX 29         /* a complete-name AD structure in a 31-byte scan response */
#define BLE_SEND_TIMEOUT_MS 2000

enum { /* central → radio */
	BLE_CONNECT = 0x01, BLE_EXCHANGE_MTU = 0x02, BLE_WRITE = 0x03, BLE_SUBSCRIBE = 0x04,
	BLE_DISCONNECT = 0x05, BLE_FAULT = 0x06, BLE_SCAN = 0x07,
};
enum { /* radio → central */
	BLE_CONNECTED = 0x81, BLE_MTU = 0x82, BLE_WRITTEN = 0x83, BLE_SUBSCRIBED = 0x84, BLE_FAULT_SET = 0x86,
	BLE_ADVERTISEMENT = 0x87, BLE_ERROR = 0x8F, BLE_NOTIFY = 0x90, BLE_DISCONNECTED = 0x91,
};
enum { /* events for the firmware */
	EVENT_CONNECTED = 1, EVENT_DISCONNECTED = 2, EVENT_MTU = 3, EVENT_NOTIFY = 4, EVENT_WRITTEN = 5,
};
enum { /* ERROR codes (docs/ble.md) */
	ERROR_BUSY = 1, ERROR_NOT_ADVERTISING = 2, ERROR_UNKNOWN = 3, ERROR_MALFORMED = 4, ERROR_NOT_CONNECTED = 5,
};
#define ATT_INVALID_LENGTH 0x0D
#define ATT_NOT_CONNECTED 0x0E
#define HCI_REMOTE_USER_TERMINATED 0x13
#define HCI_SUPERVISION_TIMEOUT 0x08

typedef struct {
	int fd; /* -1: free */
	size_t used;
	uint8_t in[2 + BLE_FRAME_MAX];
} ble_central;

typedef struct {
	double leave;   /* the connection event at which it leaves the buffer */
	double arrive;  /* when the central gets it */
	uint16_t length;
	uint8_t bytes[BLE_MTU_DEVICE - 3];
} ble_packet;

static int epoll_fd = -1;
static int listen_fd = -1;
static ble_central centrals[BLE_CENTRALS];
static ble_central *connected;          /* NULL: no central connected */
static unsigned mtu = BLE_MTU_DEFAULT;
static int mtu_exchanged, subscribed;
static double origin;                   /* the connection's start: events at origin + k * 2 ms */
static ble_packet held[BLE_HELD_MAX];   /* a ring, in the order sent */
static size_t held_head, held_count;
static double last_leave;
static unsigned fault_delay_ms, fault_buffer = BLE_BUFFER_DEFAULT;
static long fault_cut = -1;             /* notifications to deliver before the cut, -1: none */
static char name[BLE_NAME_MAX + 1];
static int advertising;
static int have_receiver;
static xsSlot receiver;
static unsigned long dropped_full, dropped_unsubscribed, dropped_oversize, delivered;

static void fire(xsMachine *machine, int kind, int number, const uint8_t *bytes, size_t length);
static void link_down(xsMachine *machine, int notify_central, int reason);

int sim_ble_open(void)
{
	int i;
	for (i = 0; i < BLE_CENTRALS; i++)
		centrals[i].fd = -1;
	return sim_listen_open("WIM_SIM_BLE", "BLE radio socket", &listen_fd, &epoll_fd);
}

int sim_ble_fd(void)
{
	return epoll_fd;
}

void sim_ble_report(void)
{
	const char *stats = getenv("WIM_SIM_STATS");
	if (listen_fd >= 0 && stats && !strcmp(stats, "1"))
		fprintf(stderr, "wim-sim: ble: %lu notifications delivered; dropped: %lu buffer full, %lu not subscribed, %lu over MTU - 3\n",
				delivered, dropped_full, dropped_unsubscribed, dropped_oversize);
}

/* ---- the socket ---- */

static void drop_central(xsMachine *machine, ble_central *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->used = 0;
	if (connected == c)
		link_down(machine, 0, HCI_SUPERVISION_TIMEOUT);
}

/* Sends one message; a central that does not read within BLE_SEND_TIMEOUT_MS is dropped (0: sent). */
static int send_frame(xsMachine *machine, ble_central *c, int type, const uint8_t *payload, size_t length)
{
	uint8_t frame[3 + BLE_FRAME_MAX];
	size_t total = 3 + length, done = 0;
	if (c->fd < 0 || length + 1 > BLE_FRAME_MAX)
		return -1;
	frame[0] = (uint8_t)((length + 1) & 0xff);
	frame[1] = (uint8_t)((length + 1) >> 8);
	frame[2] = (uint8_t)type;
	if (length)
		memcpy(frame + 3, payload, length);
	while (done < total) {
		ssize_t n = send(c->fd, frame + done, total - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { c->fd, POLLOUT, 0 };
			if (poll(&pfd, 1, BLE_SEND_TIMEOUT_MS) > 0)
				continue;
		}
		drop_central(machine, c);
		return -1;
	}
	return 0;
}

static void send_byte(xsMachine *machine, ble_central *c, int type, int value)
{
	uint8_t b = (uint8_t)value;
	send_frame(machine, c, type, &b, 1);
}

static void send_u16(xsMachine *machine, ble_central *c, int type, unsigned value)
{
	uint8_t b[2] = { (uint8_t)(value & 0xff), (uint8_t)(value >> 8) };
	send_frame(machine, c, type, b, 2);
}

static void *free_centrals(void)
{
	int i;
	for (i = 0; i < BLE_CENTRALS; i++)
		if (centrals[i].fd < 0)
			return &centrals[i];
	return NULL;
}

static void adopt(void *client, int fd)
{
	ble_central *c = client;
	c->fd = fd;
	c->used = 0;
}

static void accept_centrals(void)
{
	sim_listen_accept(listen_fd, epoll_fd, free_centrals, adopt);
}

/* ---- the link ---- */

static void reset_link(void)
{
	connected = NULL;
	mtu = BLE_MTU_DEFAULT;
	mtu_exchanged = 0;
	subscribed = 0;
	held_head = held_count = 0;
	last_leave = 0;
}

/* The link ends: the central is told (unless it asked or went away), held packets are lost, the firmware
 * hears of it. */
static void link_down(xsMachine *machine, int notify_central, int reason)
{
	ble_central *c = connected;
	if (!c)
		return;
	reset_link();
	if (notify_central)
		send_byte(machine, c, BLE_DISCONNECTED, reason);
	fire(machine, EVENT_DISCONNECTED, 0, NULL, 0);
}

static void clear_faults(void)
{
	fault_delay_ms = 0;
	fault_buffer = BLE_BUFFER_DEFAULT;
	fault_cut = -1;
}

/* Packets still in the stack's buffer at `now` (the ring is in leaving order). */
static size_t in_buffer(double now)
{
	size_t i, n = 0;
	for (i = 0; i < held_count; i++)
		if (held[(held_head + i) % BLE_HELD_MAX].leave > now)
			n++;
	return n;
}

static void handle(xsMachine *machine, ble_central *c, int type, const uint8_t *p, size_t n)
{
	switch (type) {
	case BLE_SCAN: {
		uint8_t adv[1 + BLE_NAME_MAX];
		size_t len = strlen(name);
		adv[0] = advertising && !connected ? 1 : 0;
		memcpy(adv + 1, name, len);
		send_frame(machine, c, BLE_ADVERTISEMENT, adv, 1 + len);
		break;
	}
	case BLE_CONNECT:
		if (connected)
			send_byte(machine, c, BLE_ERROR, ERROR_BUSY);
		else if (!advertising)
			send_byte(machine, c, BLE_ERROR, ERROR_NOT_ADVERTISING);
		else {
			reset_link();
			connected = c;
			origin = sim_now_ms();
			last_leave = origin;
			send_u16(machine, c, BLE_CONNECTED, BLE_MTU_DEFAULT);
			fire(machine, EVENT_CONNECTED, 0, NULL, 0);
		}
		break;
	case BLE_EXCHANGE_MTU: {
		unsigned asked;
		if (connected != c)
			send_byte(machine, c, BLE_ERROR, ERROR_NOT_CONNECTED);
		else if (n != 2 || (asked = (unsigned)p[0] | (unsigned)p[1] << 8) < BLE_MTU_DEFAULT)
			send_byte(machine, c, BLE_ERROR, ERROR_MALFORMED);
		else if (mtu_exchanged)
			send_u16(machine, c, BLE_MTU, mtu); /* once per connection (ATT): a second exchange changes nothing */
		else {
			mtu = asked < BLE_MTU_DEVICE ? asked : BLE_MTU_DEVICE;
			mtu_exchanged = 1;
			send_u16(machine, c, BLE_MTU, mtu);
			fire(machine, EVENT_MTU, (int)mtu, NULL, 0);
		}
		break;
	}
	case BLE_SUBSCRIBE:
		if (connected != c)
			send_byte(machine, c, BLE_ERROR, ERROR_NOT_CONNECTED);
		else if (n != 1 || p[0] > 1)
			send_byte(machine, c, BLE_ERROR, ERROR_MALFORMED);
		else {
			int changed = subscribed != p[0];
			subscribed = p[0];
			send_byte(machine, c, BLE_SUBSCRIBED, 0);
			if (changed)
				fire(machine, EVENT_NOTIFY, subscribed, NULL, 0);
		}
		break;
	case BLE_WRITE:
		if (connected != c)
			send_byte(machine, c, BLE_WRITTEN, ATT_NOT_CONNECTED);
		else if (n > mtu - 3)
			send_byte(machine, c, BLE_WRITTEN, ATT_INVALID_LENGTH);
		else {
			/* The stack answers the write request before the firmware's callback runs (Moddable hands the
			 * value to the XS task and returns). */
			if (send_frame(machine, c, BLE_WRITTEN, (const uint8_t *)"", 1) == 0 && n > 0)
				fire(machine, EVENT_WRITTEN, 0, p, n);
		}
		break;
	case BLE_DISCONNECT:
		if (connected == c)
			link_down(machine, 0, HCI_REMOTE_USER_TERMINATED);
		send_byte(machine, c, BLE_DISCONNECTED, HCI_REMOTE_USER_TERMINATED);
		break;
	case BLE_FAULT: {
		unsigned long value;
		if (n != 5) {
			send_byte(machine, c, BLE_ERROR, ERROR_MALFORMED);
			break;
		}
		value = (unsigned long)p[1] | (unsigned long)p[2] << 8 | (unsigned long)p[3] << 16 | (unsigned long)p[4] << 24;
		if (p[0] == 0)
			clear_faults();
		else if (p[0] == 1)
			fault_delay_ms = value > 60000 ? 60000 : (unsigned)value;
		else if (p[0] == 2)
			fault_buffer = value > BLE_HELD_MAX ? BLE_HELD_MAX : (unsigned)value;
		else if (p[0] == 3)
			fault_cut = (long)(value > 0x7fffffffUL ? 0x7fffffffUL : value);
		else {
			send_byte(machine, c, BLE_ERROR, ERROR_UNKNOWN);
			break;
		}
		send_frame(machine, c, BLE_FAULT_SET, NULL, 0);
		if (fault_cut == 0 && connected) {
			fault_cut = -1;
			link_down(machine, 1, HCI_SUPERVISION_TIMEOUT);
		}
		break;
	}
	default:
		send_byte(machine, c, BLE_ERROR, ERROR_UNKNOWN);
	}
}

static void read_central(xsMachine *machine, ble_central *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->used, sizeof(c->in) - c->used, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			drop_central(machine, c);
			return;
		}
		if (n < 0)
			return;
		c->used += (size_t)n;
		while (c->fd >= 0 && c->used >= 2) {
			size_t length = (size_t)c->in[0] | (size_t)c->in[1] << 8;
			if (length == 0 || length > BLE_FRAME_MAX) {
				fprintf(stderr, "wim-sim: ble: a message of %zu bytes from a central: dropped it\n", length);
				drop_central(machine, c);
				return;
			}
			if (c->used < 2 + length)
				break;
			handle(machine, c, c->in[2], c->in + 3, length - 1);
			if (c->fd < 0)
				return;
			memmove(c->in, c->in + 2 + length, c->used - 2 - length);
			c->used -= 2 + length;
		}
	}
}

void sim_ble_service(xsMachine *machine)
{
	struct epoll_event events[BLE_CENTRALS + 1];
	int n, i;
	if (epoll_fd < 0)
		return;
	n = epoll_wait(epoll_fd, events, BLE_CENTRALS + 1, 0);
	for (i = 0; i < n; i++) {
		ble_central *c = events[i].data.ptr;
		if (!c)
			accept_centrals();
		else if (c->fd >= 0)
			read_central(machine, c);
	}
}

int sim_ble_timeout_ms(void)
{
	double wait;
	if (!held_count)
		return -1;
	wait = held[held_head].arrive - sim_now_ms();
	return wait <= 0 ? 0 : (int)ceil(wait);
}

void sim_ble_run_due(xsMachine *machine)
{
	double now = sim_now_ms();
	while (held_count && connected && held[held_head].arrive <= now) {
		ble_packet *packet = &held[held_head];
		held_head = (held_head + 1) % BLE_HELD_MAX;
		held_count--;
		if (send_frame(machine, connected, BLE_NOTIFY, packet->bytes, packet->length) != 0)
			return;
		delivered++;
		if (fault_cut > 0 && --fault_cut == 0) {
			fault_cut = -1;
			link_down(machine, 1, HCI_SUPERVISION_TIMEOUT);
		}
	}
}

/* ---- the firmware's side ---- */

static void fire(xsMachine *machine, int kind, int number, const uint8_t *bytes, size_t length)
{
	if (!have_receiver)
		return;
	xsBeginHost(machine);
	int v = xsmcVars(5);
	xsTry {
		xsmcSetInteger(xsVar(v + 3), kind);
		if (kind == EVENT_WRITTEN)
			xsmcSetArrayBuffer(xsVar(v + 4), (void *)bytes, (xsIntegerValue)length);
		else if (kind == EVENT_NOTIFY)
			xsmcSetBoolean(xsVar(v + 4), number ? 1 : 0);
		else
			xsmcSetInteger(xsVar(v + 4), number);
		xsCallFunction2(receiver, xsUndefined, xsVar(v + 3), xsVar(v + 4));
	}
	xsCatch {
		sim_report_exception(the, "BLE event callback", v);
	}
	xsEndHost(machine);
	sim_run_jobs(machine);
}

void sim_ble_available(xsMachine *the)
{
	xsmcSetBoolean(xsResult, listen_fd >= 0 ? 1 : 0);
}

void sim_ble_advertise(xsMachine *the)
{
	const char *text;
	size_t length;
	if (xsmcArgc < 1 || xsmcTypeOf(xsArg(0)) != xsStringType)
		xsTypeError("sim_ble_advertise: expected a string");
	text = xsmcToString(xsArg(0));
	length = strlen(text);
	if (length > BLE_NAME_MAX)
		length = BLE_NAME_MAX;
	memcpy(name, text, length);
	name[length] = 0;
	advertising = 1;
}

void sim_ble_on_event(xsMachine *the)
{
	if (xsmcArgc < 1 || !xsmcIsCallable(xsArg(0)))
		xsTypeError("sim_ble_on_event: expected a function");
	if (have_receiver)
		xsForget(receiver);
	receiver = xsArg(0);
	xsRemember(receiver);
	have_receiver = 1;
}

void sim_ble_notify(xsMachine *the)
{
	void *data;
	xsUnsignedValue length;
	double now, base, leave;
	ble_packet *packet;
	if (xsmcArgc < 1)
		xsTypeError("sim_ble_notify: expected an ArrayBuffer or a Uint8Array");
	xsmcGetBufferReadable(xsArg(0), &data, &length);
	if (!connected)
		return;
	if (!subscribed) {
		dropped_unsubscribed++;
		return;
	}
	if (length > mtu - 3) {
		dropped_oversize++;
		fprintf(stderr, "wim-sim: ble: a notification of %u bytes at MTU %u dropped (more than MTU - 3)\n", (unsigned)length, mtu);
		return;
	}
	now = sim_now_ms();
	if (in_buffer(now) >= fault_buffer || held_count == BLE_HELD_MAX) {
		dropped_full++;
		return;
	}
	/* it leaves at the first connection event after both now and the packet before it */
	base = now > last_leave ? now : last_leave;
	leave = origin + (floor((base - origin) / BLE_EVENT_MS) + 1) * BLE_EVENT_MS;
	packet = &held[(held_head + held_count) % BLE_HELD_MAX];
	packet->leave = leave;
	packet->arrive = leave + fault_delay_ms;
	packet->length = (uint16_t)length;
	memcpy(packet->bytes, data, length);
	held_count++;
	last_leave = leave;
}
