/*
 * host.h — what the simulator's C files share. Include it after xs.h, xsmc.h or xsAll.h (which
 * must not be mixed): the engine's machine is `struct xsMachineRecord` to xs.h and `struct sxMachine`
 * to xsAll.h, the same object under two tags; sim_machine names whichever the file sees.
 */
#ifndef WIM_SIM_HOST_H
#define WIM_SIM_HOST_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __XSALL__
typedef struct sxMachine sim_machine;
#else
typedef struct xsMachineRecord sim_machine;
#endif
typedef void (*sim_host_fn)(sim_machine *the);

/* Exit statuses of wim-sim. */
enum {
	SIM_EXIT_OK = 0,
	SIM_EXIT_USAGE = 2,      /* bad command line */
	SIM_EXIT_START = 1,      /* the flash, the PTY or the bundle could not be set up */
	SIM_EXIT_FATAL = 70,     /* the engine aborted (memory full, stack overflow, ...) */
	SIM_EXIT_POWER_CUT = 99  /* --cut-after fired */
};

/* main.c */
double sim_now_ms(void); /* monotonic milliseconds, arbitrary origin */

/* platform.c: the memory budget (docs/simulator.md, "Memory"). Slots are counted as slots (the
 * device's unit); chunk bytes are the engine's own 64-bit sizes (each at least the device's). */
typedef struct sim_memory_counts {
	long slots, chunks;            /* in use (after sim_memory_live: live) */
	long heap_slots, heap_chunks;  /* the heaps' sizes: fixed, or grown so far */
	long peak_slots, peak_chunks;  /* the engine's peaks of "in use" (garbage included) */
	unsigned long exhausted;       /* how many times memory full was thrown */
} sim_memory_counts;
void sim_memory_usage(sim_machine *the, sim_memory_counts *counts);
void sim_memory_live(sim_machine *the, sim_memory_counts *counts); /* collects and compacts first */
void sim_memory_arm(sim_machine *the, const void *error);         /* from now on, memory full throws *error */
void sim_memory_stop(sim_machine *the) __attribute__((noreturn)); /* ends the measuring pass's bundle */
unsigned long sim_preload_freeze(sim_machine *the);                /* freezes what xsl freezes in flash; how many instances are frozen */

/* platform.c (engine internals): running code and draining promise jobs */
int sim_run_program(sim_machine *the, const char *path); /* 0, or -1 after printing why */
int sim_run_source(sim_machine *the, const char *name, const char *bytes, size_t size);
void sim_run_jobs(sim_machine *the);                      /* until no promise job is left */
void sim_report_unhandled_rejections(sim_machine *the);   /* at a clean exit */
void sim_get_random_values(sim_machine *the);             /* crypto.getRandomValues */

/* globals.c: console, print, crypto, performance, __native; the exception printer */
void sim_install_globals(sim_machine *the);
/* Prints xsException; call inside xsCatch, with `vars` the first of 3 xsVars allocated before xsTry. */
void sim_report_exception(sim_machine *the, const char *where, int vars);
int sim_random_fill(void *buf, size_t len);                     /* 0, or -1 (getrandom failed) */

/* natives.c: the table behind globalThis.__native(name) */
typedef struct sim_native {
	const char *name;
	sim_host_fn fn;
	int length;
} sim_native;
const sim_native *sim_native_find(const char *name);

/* timers.c: setTimeout and friends */
void sim_install_timers(sim_machine *the);
int sim_timers_timeout_ms(void);             /* poll() timeout until the next timer, -1 if none */
void sim_timers_run_due(sim_machine *the);

/* text.c: TextEncoder, TextDecoder: install the host functions, then run the prelude */
void sim_install_text(sim_machine *the);
extern const char sim_text_prelude[];

/* serial.c: the PTY and the sim_serial_* host functions */
int sim_serial_open(char *name, size_t cap);  /* 0, or -1 after printing why; name = slave path */
int sim_serial_pollfds(struct pollfd *fds);   /* fills at most 4 entries (the control's and BLE's too), returns how many */
void sim_serial_service(sim_machine *the, const struct pollfd *fds, int count);
void sim_serial_write(sim_machine *the);
void sim_serial_on_receive(sim_machine *the);
void sim_serial_pending(sim_machine *the);

/* listen.c: a listening unix socket at $variable in an epoll descriptor of its own (0 also when unset; -1 after printing why),
 * and accepting its clients (free_client: a free entry of the service's table or NULL; adopt: it takes fd) */
int sim_listen_open(const char *variable, const char *what, int *listen_fd, int *epoll_fd);
void sim_listen_accept(int listen_fd, int epoll_fd, void *(*free_client)(void), void (*adopt)(void *client, int fd));

/* control.c: the simulated BOOT button and LED and their control socket (WIM_SIM_CONTROL) */
int sim_control_open(void);                    /* 0 (also when not asked for), or -1 after printing why */
int sim_control_fd(void);                      /* the descriptor to poll, -1 if none */
void sim_control_service(sim_machine *the);
/* main.c: "mem slots=N chunks=M" — live data over the baseline after a full collection (the control's mem?) */
void sim_memory_probe(sim_machine *machine, char *line, size_t size);
void sim_button_pressed(sim_machine *the);
void sim_button_on_change(sim_machine *the);
void sim_led(sim_machine *the);

/* ble.c: the Bluetooth LE radio model and its socket (WIM_SIM_BLE; docs/ble.md) */
int sim_ble_open(void);                        /* 0 (also when not asked for), or -1 after printing why */
int sim_ble_fd(void);                          /* the descriptor to poll, -1 if none */
void sim_ble_service(sim_machine *the);
int sim_ble_timeout_ms(void);                  /* poll() timeout until the next notification is due, -1 if none */
void sim_ble_run_due(sim_machine *the);        /* delivers the notifications that are due */
void sim_ble_report(void);                     /* counts to stderr when WIM_SIM_STATS=1 */
void sim_ble_available(sim_machine *the);
void sim_ble_advertise(sim_machine *the);
void sim_ble_on_event(sim_machine *the);
void sim_ble_notify(sim_machine *the);

/* flash.c: the file-backed NOR partition behind wim_host_flash() */
int sim_flash_open(const char *path, uint32_t size, long cut_after); /* cut_after < 0: never */
void sim_flash_report(void); /* erase counts to stderr when WIM_SIM_STATS=1 */

/* main.c: sim_exit(code) */
void sim_exit(sim_machine *the);
void sim_finish(int status) __attribute__((noreturn)); /* reports stats, flushes, exits */

#endif
