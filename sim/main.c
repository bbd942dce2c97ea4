/*
 * main.c — wim-sim: the WIM token's firmware bundle on the XS engine, on Linux.
 *
 *   wim-sim --bundle FILE.js --flash FILE [--flash-size BYTES] [--cut-after N]
 *
 * Sets up the flash file and a pseudo-terminal, creates the XS machine, installs the globals,
 * runs the bundle, prints exactly one line to stdout, "pty=/dev/pts/N", and then serves the event
 * loop (promise jobs, timers, bytes from the PTY) until SIGTERM or SIGINT (exit 0), sim_exit(code),
 * a power cut (99) or a fatal engine abort (70). Everything but the pty= line goes to stderr.
 *
 * It dies with its parent (PR_SET_PDEATHSIG: SIGTERM, served like any SIGTERM); WIM_SIM_PARENT=PID,
 * if set, is the pid the parent expects to be: if it is gone already, wim-sim exits at once (1).
 * The device's serial number lives beside the flash file (identity.c).
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
	fprintf(stderr, "usage: wim-sim --bundle FILE.js --flash FILE [--flash-size BYTES (default %u)] [--cut-after N]\n",
			SIM_DEFAULT_FLASH_SIZE);
	exit(SIM_EXIT_USAGE);
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

int main(int argc, char **argv)
{
	const char *bundle = NULL, *flash_path = NULL;
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
		else
			usage();
	}
	if (!bundle || !flash_path)
		usage();

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

	machine = xsCreateMachine(&creation, "wim-sim", NULL);
	if (!machine) {
		fprintf(stderr, "wim-sim: cannot create the XS machine\n");
		return SIM_EXIT_START;
	}
	install(machine, sim_install_globals);
	install(machine, sim_install_timers);
	install(machine, sim_install_text);
	if (sim_run_source(machine, "sim-text-prelude.js", sim_text_prelude, strlen(sim_text_prelude)) != 0)
		sim_finish(SIM_EXIT_START);

	if (sim_run_program(machine, bundle) != 0)
		sim_finish(SIM_EXIT_START);
	sim_run_jobs(machine);

	/* The one line of stdout; from here on stdout is stderr, so the reader of the line sees EOF. */
	printf("pty=%s\n", pty);
	fflush(stdout);
	dup2(STDERR_FILENO, STDOUT_FILENO);

	for (;;) {
		struct pollfd fds[4];
		int count, timeout, ready;
		sim_run_jobs(machine);
		fds[0].fd = signal_fd;
		fds[0].events = POLLIN;
		fds[0].revents = 0;
		count = 1 + sim_serial_pollfds(&fds[1]);
		timeout = sim_timers_timeout_ms();
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
		sim_timers_run_due(machine);
	}
	sim_report_unhandled_rejections(machine);
	xsDeleteMachine(machine);
	sim_finish(SIM_EXIT_OK);
}
