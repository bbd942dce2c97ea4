/*
 * main.c — wim-sim: the WIM token's firmware bundle on the XS engine, on Linux.
 *
 *   wim-sim --bundle FILE.js --flash FILE [--flash-size BYTES] [--cut-after N]
 *           [--memory ratchet|device|CHUNK_BYTES,SLOTS|measure|off] [--stack SLOTS]
 *
 * Memory (docs/simulator.md, "Memory"): the bundle is first run in a growable machine up to the
 * firmware's start (globalThis.__simMemoryMark(), called by the Env's createEnv before main's
 * body runs): what is live then is the baseline, which on the device lives in flash (preloaded).
 * That machine is deleted and the bundle runs again in a machine whose chunk and slot heaps are
 * the baseline plus the budget, with no growth; the budget is the ratchet by default (the
 * firmware's measured need today, build/sim/creation.h from mk/sim.mk) or the ESP32's creation
 * block (manifest.json) with --memory device. WIM_SIM_MEMORY and WIM_SIM_STACK give the same
 * choices as --memory and --stack (the command line wins).
 *
 * Sets up the flash file and a pseudo-terminal, creates the XS machine, installs the globals,
 * runs the bundle, prints exactly one line to stdout, "pty=/dev/pts/N", and then serves the event
 * loop (promise jobs, timers, bytes from the PTY) until SIGTERM or SIGINT (exit 0), sim_exit(code),
 * a power cut (99) or a fatal engine abort (70). Everything but the pty= line goes to stderr.
 *
 * It dies with its parent (PR_SET_PDEATHSIG: SIGTERM, served like any SIGTERM); WIM_SIM_PARENT=PID,
 * if set, is the pid the parent expects to be: if it is gone already, wim-sim exits at once (1).
 * The device's serial number lives beside the flash file (identity.c). WIM_SIM_CONTROL=PATH adds the
 * button and LED's control socket (control.c), WIM_SIM_BLE=PATH the BLE radio model's socket (ble.c,
 * docs/ble.md): the firmware then has a second link beside the PTY.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>

#include "xs.h"
#include "host.h"
#include "identity.h"
#include "creation.h"

#define SIM_DEFAULT_FLASH_SIZE 262144u
#define SIM_MAX_FLASH_SIZE (64u * 1024u * 1024u)

double sim_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void sim_finish(int status)
{
	sim_flash_report();
	sim_ble_report();
	fflush(stdout);
	fflush(stderr);
	_exit(status);
}

void sim_exit(xsMachine *the)
{
	int code = 0;
	if (xsToInteger(xsArgc) > 0) {
		double value = xsToNumber(xsArg(0));
		if (!(value >= 0 && value <= 255) || value != (double)(int)value)
			xsRangeError("sim_exit: the code must be an integer from 0 to 255");
		code = (int)value;
	}
	sim_finish(code);
}

static void usage(void)
{
	fprintf(stderr, "usage: wim-sim --bundle FILE.js --flash FILE [--flash-size BYTES (default %u)] [--cut-after N]\n"
			"               [--memory ratchet|device|CHUNK_BYTES,SLOTS|measure|off] [--stack SLOTS]\n",
			SIM_DEFAULT_FLASH_SIZE);
	exit(SIM_EXIT_USAGE);
}

/* ---- the memory budget ---- */

enum { MEMORY_BUDGET, MEMORY_MEASURE, MEMORY_OFF };
static struct {
	int mode;
	long chunks, slots, stack;       /* the runtime budget: chunk bytes, slots; the stack in slots */
	const char *name;
	sim_memory_counts baseline;      /* live at the mark, in the measuring pass */
	sim_memory_counts loaded;        /* in use at the mark, in the enforcing machine */
	int marked;
} memory = { MEMORY_BUDGET, SIM_RATCHET_CHUNK, SIM_RATCHET_SLOTS, SIM_RATCHET_STACK, "ratchet", {0}, {0}, 0 };
static int measuring_pass;
static xsSlot memory_error;

static int parse_memory(const char *text)
{
	long chunks, slots;
	char tail;
	if (!strcmp(text, "ratchet")) {
		memory.mode = MEMORY_BUDGET; memory.chunks = SIM_RATCHET_CHUNK; memory.slots = SIM_RATCHET_SLOTS; memory.name = "ratchet";
	} else if (!strcmp(text, "device")) {
		memory.mode = MEMORY_BUDGET; memory.chunks = SIM_DEVICE_CHUNK; memory.slots = SIM_DEVICE_SLOTS; memory.name = "device";
	} else if (!strcmp(text, "measure")) {
		memory.mode = MEMORY_MEASURE; memory.name = "measure";
	} else if (!strcmp(text, "off")) {
		memory.mode = MEMORY_OFF; memory.name = "off";
	} else if (sscanf(text, "%ld,%ld%c", &chunks, &slots, &tail) == 2 && chunks >= 1024 && slots >= 16
			&& chunks <= 64L * 1024 * 1024 && slots <= 4L * 1024 * 1024) {
		memory.mode = MEMORY_BUDGET; memory.chunks = chunks; memory.slots = slots; memory.name = "given";
	} else {
		fprintf(stderr, "wim-sim: --memory: ratchet, device, measure, off or CHUNK_BYTES,SLOTS (at least 1024,16): %s\n", text);
		return -1;
	}
	return 0;
}

/* Freeze at the mark what xsl would have put in flash (WIM_SIM_PRELOAD=off: not, for comparisons). */
static int preload_freeze = 1;

/* globalThis.__simMemoryMark(): the firmware's modules are loaded, its main body starts now. */
static void sim_memory_mark(xsMachine *the)
{
	if (memory.marked)
		return;
	memory.marked = 1;
	if (measuring_pass) {
		sim_memory_live(the, &memory.baseline);
		sim_memory_stop(the);
	}
	if (!measuring_pass && preload_freeze) {
		unsigned long frozen = sim_preload_freeze(the);
		if (getenv("WIM_SIM_STATS") && !strcmp(getenv("WIM_SIM_STATS"), "1"))
			fprintf(stderr, "wim-sim: preload: %lu instances frozen as in flash\n", frozen);
	}
	sim_memory_usage(the, &memory.loaded);
	xsVars(2);
	xsVar(0) = xsString("memory full");
	memory_error = xsNew1(xsGlobal, xsID("RangeError"), xsVar(0));
	xsVar(1) = xsGet(xsGlobal, xsID("Object"));
	xsCall1(xsVar(1), xsID("freeze"), memory_error);
	xsRemember(memory_error);
	sim_memory_arm(the, &memory_error);
}

static void sim_install_memory(xsMachine *the)
{
	xsVars(1);
	xsVar(0) = xsNewHostFunction(sim_memory_mark, 0);
	xsSet(xsGlobal, xsID("__simMemoryMark"), xsVar(0));
}

/* Whether the bundle marks the firmware's start (else it is run once, growable: memory off). */
static int bundle_marks(const char *path)
{
	static const char mark[] = "__simMemoryMark";
	FILE *file = fopen(path, "rb");
	char *bytes;
	long size;
	int found = 0;
	if (!file)
		return 0;
	if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) > 0 && fseek(file, 0, SEEK_SET) == 0
			&& (bytes = malloc((size_t)size)) != NULL) {
		if (fread(bytes, 1, (size_t)size, file) == (size_t)size)
			found = memmem(bytes, (size_t)size, mark, sizeof(mark) - 1) != NULL;
		free(bytes);
	}
	fclose(file);
	return found;
}

static void take_baseline(xsMachine *machine)
{
	xsBeginHost(machine);
	sim_memory_live(the, &memory.baseline);
	xsEndHost(machine);
}

void sim_memory_probe(xsMachine *machine, char *line, size_t size)
{
	sim_memory_counts now;
	xsBeginHost(machine);
	sim_memory_live(the, &now);
	xsEndHost(machine);
	snprintf(line, size, "mem slots=%ld chunks=%ld", now.slots - memory.baseline.slots, now.chunks - memory.baseline.chunks);
}

/*
 * The ballast. The baseline is taken at the mark, while the bundle's top level still runs; once it
 * has returned, what only loading needed (about 78 KB of chunks today) is garbage, and the budget
 * would have that much more room than it says — room the device, whose modules are in flash, never
 * has. A rooted ArrayBuffer of that size takes it back, so the firmware has exactly its budget.
 */
static xsSlot ballast;

static void add_ballast(xsMachine *machine)
{
	sim_memory_counts now;
	volatile long freed;
	xsBeginHost(machine);
	sim_memory_live(the, &now);
	freed = memory.baseline.chunks - now.chunks;
	if (freed > 256) {
		ballast = xsArrayBuffer(NULL, (xsIntegerValue)(freed - 64));
		xsRemember(ballast);
	}
	xsEndHost(machine);
	if (getenv("WIM_SIM_STATS") && !strcmp(getenv("WIM_SIM_STATS"), "1"))
		fprintf(stderr, "wim-sim: memory: %ld chunk bytes freed after loading, held as ballast\n", freed > 256 ? freed : 0);
}

static void memory_report(xsMachine *machine)
{
	sim_memory_counts now;
	xsBeginHost(machine);
	sim_memory_usage(the, &now);
	xsEndHost(machine);
	if (memory.mode == MEMORY_MEASURE)
		fprintf(stderr, "wim-sim: memory: baseline %ld slots %ld chunk-bytes; runtime need %ld slots %ld chunk-bytes; stack %ld slots\n",
				memory.baseline.slots, memory.baseline.chunks,
				now.heap_slots - memory.baseline.slots, now.heap_chunks - memory.baseline.chunks, memory.stack);
	else if (memory.mode == MEMORY_BUDGET)
		fprintf(stderr, "wim-sim: memory: %s budget %ld slots %ld chunk-bytes over a baseline of %ld slots %ld chunk-bytes; memory full %lu times\n",
				memory.name, memory.slots, memory.chunks, memory.baseline.slots, memory.baseline.chunks, now.exhausted);
}

static unsigned long parse_number(const char *option, const char *text, unsigned long max)
{
	char *end;
	unsigned long value;
	errno = 0;
	value = strtoul(text, &end, 0);
	if (errno || end == text || *end || text[0] == '-' || value > max) {
		fprintf(stderr, "wim-sim: %s: not a number from 0 to %lu: %s\n", option, max, text);
		usage();
	}
	return value;
}

/* Asks for SIGTERM when the parent goes (caught by the signalfd: a clean exit), then closes the race
 * of a parent that went before the request: WIM_SIM_PARENT names the parent that started us. */
static int die_with_parent(void)
{
	const char *expected = getenv("WIM_SIM_PARENT");
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
		fprintf(stderr, "wim-sim: cannot ask to die with the parent: %s\n", strerror(errno));
		return -1;
	}
	if (expected && *expected && strtol(expected, NULL, 10) != (long)getppid()) {
		fprintf(stderr, "wim-sim: the parent process %s is gone, exiting\n", expected);
		return -1;
	}
	return 0;
}

typedef void (*installer)(xsMachine *the);

static void install(xsMachine *machine, installer fn)
{
	xsBeginHost(machine);
	fn(the);
	xsEndHost(machine);
}

/* A machine with the host's globals, the text prelude and the bundle run (up to the mark, in the
 * measuring pass). NULL after printing why. */
static xsMachine *load(xsCreation *creation, const char *bundle)
{
	xsMachine *machine = xsCreateMachine(creation, "wim-sim", NULL);
	if (!machine) {
		fprintf(stderr, "wim-sim: cannot create the XS machine\n");
		return NULL;
	}
	install(machine, sim_install_globals);
	install(machine, sim_install_timers);
	install(machine, sim_install_text);
	install(machine, sim_install_memory);
	if (sim_run_source(machine, "sim-text-prelude.js", sim_text_prelude, strlen(sim_text_prelude)) != 0)
		return NULL;
	if (sim_run_program(machine, bundle) != 0 && !(measuring_pass && memory.marked))
		return NULL;
	return machine;
}

int main(int argc, char **argv)
{
	const char *bundle = NULL, *flash_path = NULL, *memory_option = NULL, *stack_option = NULL;
	uint32_t flash_size = SIM_DEFAULT_FLASH_SIZE;
	long cut_after = -1;
	char pty[256];
	sigset_t signals;
	int signal_fd, i;
	xsMachine *machine;
	xsCreation creation = {
		4 * 1024 * 1024,  /* initialChunkSize */
		1024 * 1024,      /* incrementalChunkSize */
		64 * 1024,        /* initialHeapCount (slots) */
		32 * 1024,        /* incrementalHeapCount */
		8192,             /* stackCount */
		8192,             /* initialKeyCount */
		2048,             /* incrementalKeyCount */
		1993,             /* nameModulo */
		127,              /* symbolModulo */
		1024 * 1024,      /* parserBufferSize */
		1993,             /* parserTableModulo */
		0,                /* staticSize */
	};

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (i + 1 >= argc)
			usage();
		if (!strcmp(arg, "--bundle"))
			bundle = argv[++i];
		else if (!strcmp(arg, "--flash"))
			flash_path = argv[++i];
		else if (!strcmp(arg, "--flash-size"))
			flash_size = (uint32_t)parse_number(arg, argv[++i], SIM_MAX_FLASH_SIZE);
		else if (!strcmp(arg, "--cut-after"))
			cut_after = (long)parse_number(arg, argv[++i], LONG_MAX);
		else if (!strcmp(arg, "--memory"))
			memory_option = argv[++i];
		else if (!strcmp(arg, "--stack"))
			stack_option = argv[++i];
		else
			usage();
	}
	if (!bundle || !flash_path)
		usage();
	if (!memory_option)
		memory_option = getenv("WIM_SIM_MEMORY");
	if (memory_option && *memory_option && parse_memory(memory_option) != 0)
		usage();
	if (getenv("WIM_SIM_PRELOAD") && !strcmp(getenv("WIM_SIM_PRELOAD"), "off"))
		preload_freeze = 0;
	if (!stack_option)
		stack_option = getenv("WIM_SIM_STACK");
	if (stack_option && *stack_option)
		memory.stack = (long)parse_number("--stack", stack_option, 1024 * 1024);
	if (memory.stack < 64) {
		fprintf(stderr, "wim-sim: --stack: at least 64 slots\n");
		usage();
	}

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &signals, NULL) != 0 || (signal_fd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		fprintf(stderr, "wim-sim: cannot set up signals: %s\n", strerror(errno));
		return SIM_EXIT_START;
	}

	if (die_with_parent() != 0)
		return SIM_EXIT_START;
	if (sim_flash_open(flash_path, flash_size, cut_after) != 0)
		return SIM_EXIT_START;
	sim_identity_init(flash_path);
	if (sim_serial_open(pty, sizeof(pty)) != 0)
		return SIM_EXIT_START;

	if (memory.mode != MEMORY_OFF && !bundle_marks(bundle)) {
		fprintf(stderr, "wim-sim: %s never calls __simMemoryMark(): no memory budget\n", bundle);
		memory.mode = MEMORY_OFF;
	}
	if (memory.mode != MEMORY_OFF) {
		/* The measuring pass: the baseline is what is live when the firmware's main body starts. */
		measuring_pass = 1;
		machine = load(&creation, bundle);
		if (!machine)
			sim_finish(SIM_EXIT_START);
		if (!memory.marked) {
			fprintf(stderr, "wim-sim: the bundle never called __simMemoryMark(): the baseline is taken after it ran\n");
			take_baseline(machine);
		}
		xsDeleteMachine(machine);
		measuring_pass = 0;
		memory.marked = 0;
		/* The enforcing machine: baseline + budget, no growth (measure: grows by small steps). */
		creation.stackCount = (xsIntegerValue)memory.stack;
		if (memory.mode == MEMORY_BUDGET) {
			creation.initialChunkSize = (xsIntegerValue)(memory.baseline.chunks + memory.chunks);
			creation.incrementalChunkSize = 0;
			creation.initialHeapCount = (xsIntegerValue)(memory.baseline.slots + memory.slots + 1); /* + the heap's header slot */
			creation.incrementalHeapCount = 0;
		} else {
			creation.initialChunkSize = (xsIntegerValue)memory.baseline.chunks;
			creation.incrementalChunkSize = 1024;
			creation.initialHeapCount = (xsIntegerValue)(memory.baseline.slots + 1);
			creation.incrementalHeapCount = 64;
		}
	}
	machine = load(&creation, bundle);
	if (!machine)
		sim_finish(SIM_EXIT_START);
	if (memory.mode != MEMORY_OFF && !memory.marked) {
		fprintf(stderr, "wim-sim: the bundle never called __simMemoryMark(): memory full stays fatal\n");
		memory.mode = MEMORY_OFF;
	}
	sim_run_jobs(machine);
	if (memory.mode != MEMORY_OFF)
		add_ballast(machine);

	/* The one line of stdout; from here on stdout is stderr, so the reader of the line sees EOF. */
	printf("pty=%s\n", pty);
	fflush(stdout);
	dup2(STDERR_FILENO, STDOUT_FILENO);

	for (;;) {
		struct pollfd fds[5];
		int count, timeout, ble_timeout, ready;
		sim_run_jobs(machine);
		fds[0].fd = signal_fd;
		fds[0].events = POLLIN;
		fds[0].revents = 0;
		count = 1 + sim_serial_pollfds(&fds[1]);
		timeout = sim_timers_timeout_ms();
		ble_timeout = sim_ble_timeout_ms();
		if (ble_timeout >= 0 && (timeout < 0 || ble_timeout < timeout))
			timeout = ble_timeout;
		ready = poll(fds, (nfds_t)count, timeout);
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "wim-sim: poll: %s\n", strerror(errno));
			sim_finish(SIM_EXIT_FATAL);
		}
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo info;
			if (read(signal_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
				fprintf(stderr, "wim-sim: %s, exiting\n", strsignal((int)info.ssi_signo));
				break;
			}
		}
		if (ready > 0)
			sim_serial_service(machine, &fds[1], count - 1);
		sim_ble_run_due(machine);
		sim_timers_run_due(machine);
	}
	sim_report_unhandled_rejections(machine);
	if (memory.mode == MEMORY_MEASURE || (getenv("WIM_SIM_STATS") && !strcmp(getenv("WIM_SIM_STATS"), "1")))
		memory_report(machine);
	xsDeleteMachine(machine);
	sim_finish(SIM_EXIT_OK);
}
