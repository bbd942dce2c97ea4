/*
 * control.c — the simulated board's BOOT button and status LED, and the control socket that drives
 * and watches them (the ESP32 dev board's GPIO0 button and GPIO2 LED; hosts/esp32/env.ts).
 *
 * With WIM_SIM_CONTROL=PATH in its environment, wim-sim listens on a unix stream socket at PATH
 * (replacing a stale socket there, refusing any other kind of file). Clients send lines (LF or CRLF):
 *
 *   press       holds the button down       → "ok"
 *   release     lets it go                  → "ok"
 *   button?     the button's level          → "button=1" or "button=0"
 *   led?        the LED's state             → "led=1" or "led=0"
 *   mem?        collects, then the live data over the baseline (docs/simulator.md, "Memory")
 *                                           → "mem slots=N chunks=M"
 *   anything else                           → "error"
 *
 * and each change of the LED is sent to every client as "led=1" / "led=0". A press or release calls
 * the firmware's receiver (sim_button_on_change) from the event loop. All the control's descriptors
 * sit in one epoll descriptor, so the event loop polls one more descriptor (through serial.c).
 *
 * JavaScript:
 *   sim_button_pressed(): boolean
 *   sim_button_on_change(cb: (pressed: boolean) => void)
 *   sim_led(on: boolean)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#define CONTROL_CLIENTS 8
#define CONTROL_LINE 128

typedef struct {
	int fd; /* -1: free */
	size_t used;
	char line[CONTROL_LINE];
} control_client;

static int epoll_fd = -1;
static int listen_fd = -1;
static control_client clients[CONTROL_CLIENTS];
static int button_down;
static int led_on;
static int have_receiver;
static xsSlot receiver;
/* a button change not yet given to the firmware: -1 none, else the level */
static int button_changed = -1;

static void drop(control_client *c)
{
	epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->used = 0;
}

static void send_line(control_client *c, const char *text)
{
	char buffer[CONTROL_LINE + 2];
	size_t n = (size_t)snprintf(buffer, sizeof(buffer), "%s\n", text);
	if (send(c->fd, buffer, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n)
		drop(c); /* a client that does not read is not waited for */
}

int sim_control_open(void)
{
	int i;
	for (i = 0; i < CONTROL_CLIENTS; i++)
		clients[i].fd = -1;
	return sim_listen_open("WIM_SIM_CONTROL", "control socket", &listen_fd, &epoll_fd);
}

int sim_control_fd(void)
{
	return epoll_fd;
}

static void *free_clients(void)
{
	int i;
	for (i = 0; i < CONTROL_CLIENTS; i++)
		if (clients[i].fd < 0)
			return &clients[i];
	return NULL;
}

static void adopt(void *client, int fd)
{
	control_client *c = client;
	c->fd = fd;
	c->used = 0;
}

static void accept_clients(void)
{
	sim_listen_accept(listen_fd, epoll_fd, free_clients, adopt);
}

static void set_button(int down)
{
	if (down != button_down) {
		button_down = down;
		button_changed = down;
	}
}

static void notify_firmware(xsMachine *machine)
{
	int level = button_changed;
	button_changed = -1;
	if (level < 0 || !have_receiver)
		return;
	xsBeginHost(machine);
	int v = xsmcVars(3);
	xsTry {
		xsmcSetBoolean(xsVar(v), level ? 1 : 0);
		xsCallFunction1(receiver, xsUndefined, xsVar(v));
	}
	xsCatch {
		sim_report_exception(the, "button change callback", v);
	}
	xsEndHost(machine);
	sim_run_jobs(machine);
}

/* Runs one command line; a press or release reaches the firmware before the "ok". */
static void command(xsMachine *machine, control_client *c, const char *line)
{
	if (!strcmp(line, "press")) {
		set_button(1);
		notify_firmware(machine);
		if (c->fd >= 0)
			send_line(c, "ok");
	}
	else if (!strcmp(line, "release")) {
		set_button(0);
		notify_firmware(machine);
		if (c->fd >= 0)
			send_line(c, "ok");
	}
	else if (!strcmp(line, "button?"))
		send_line(c, button_down ? "button=1" : "button=0");
	else if (!strcmp(line, "led?"))
		send_line(c, led_on ? "led=1" : "led=0");
	else if (!strcmp(line, "mem?")) {
		char text[96];
		sim_memory_probe(machine, text, sizeof(text));
		send_line(c, text);
	}
	else
		send_line(c, "error");
}

static void read_client(xsMachine *machine, control_client *c)
{
	for (;;) {
		char buffer[256];
		ssize_t n = recv(c->fd, buffer, sizeof(buffer), 0);
		ssize_t i;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			drop(c);
			return;
		}
		if (n < 0)
			return;
		for (i = 0; i < n && c->fd >= 0; i++) {
			char ch = buffer[i];
			if (ch == '\n') {
				if (c->used > 0 && c->line[c->used - 1] == '\r')
					c->used--;
				c->line[c->used] = 0;
				c->used = 0;
				command(machine, c, c->line);
			}
			else if (c->used + 1 < CONTROL_LINE)
				c->line[c->used++] = ch;
			else {
				drop(c); /* a line this long is no command */
				return;
			}
		}
		if (c->fd < 0)
			return;
	}
}

void sim_control_service(xsMachine *machine)
{
	struct epoll_event events[CONTROL_CLIENTS + 1];
	int n, i;
	if (epoll_fd < 0)
		return;
	n = epoll_wait(epoll_fd, events, CONTROL_CLIENTS + 1, 0);
	for (i = 0; i < n; i++) {
		control_client *c = events[i].data.ptr;
		if (!c)
			accept_clients();
		else if (c->fd >= 0)
			read_client(machine, c);
	}
}

void sim_button_pressed(xsMachine *the)
{
	xsmcSetBoolean(xsResult, button_down ? 1 : 0);
}

void sim_button_on_change(xsMachine *the)
{
	if (xsmcArgc < 1 || !xsmcIsCallable(xsArg(0)))
		xsTypeError("sim_button_on_change: expected a function");
	if (have_receiver)
		xsForget(receiver);
	receiver = xsArg(0);
	xsRemember(receiver);
	have_receiver = 1;
}

void sim_led(xsMachine *the)
{
	int on, i;
	if (xsmcArgc < 1 || xsmcTypeOf(xsArg(0)) != xsBooleanType)
		xsTypeError("sim_led: expected a boolean");
	on = xsmcTest(xsArg(0)) ? 1 : 0;
	if (on == led_on)
		return;
	led_on = on;
	for (i = 0; i < CONTROL_CLIENTS; i++)
		if (clients[i].fd >= 0)
			send_line(&clients[i], on ? "led=1" : "led=0");
}
