/*
 * lin_main.c — the entry point of the Moddable Linux check target (mcconfig -m -p x-cli-lin): the
 * same firmware archive that xsl links for the ESP32, run headless on Linux with a GLib main loop
 * (lin_xs.c queues promise jobs on it; hosts/lin/lin_host.c watches the PTY on it).
 *
 * Options (for the checks in mk/moddable.mk, never for a device):
 *   WIM_LIN_CREATION="chunk,chunkIncrement,heap,heapIncrement"  overrides the manifest's creation block
 *   WIM_LIN_REPORT=1                                            prints the memory use on SIGUSR1 and at exit
 * The memory line: "mem: chunks used U peak P reserved R bytes; slots used U peak P reserved R".
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib-unix.h>

#include "xsAll.h"
#include "mc.xs.h"

static txMachine *machine;

/* The firmware has no resources; Moddable's Resource module (manifest_base) links against this. */
const void *mcGetResource(xsMachine *the, char *path, size_t *size)
{
	(void)the;
	(void)path;
	*size = 0;
	return NULL;
}

static void report(const char *when)
{
	txMachine *the = machine;
	if (!the)
		return;
	fprintf(stderr, "mem(%s): chunks used %ld peak %ld reserved %ld bytes; slots used %ld peak %ld reserved %ld\n", when,
		(long)the->currentChunksSize, (long)the->peakChunksSize, (long)the->maximumChunksSize,
		(long)the->currentHeapCount, (long)the->peakHeapCount, (long)the->maximumHeapCount);
	fflush(stderr);
}

void fxAbort(txMachine *the, int status)
{
	fprintf(stderr, "XS abort: %s\n", fxAbortString(status));
	report("abort");
	exit(status == XS_NOT_ENOUGH_MEMORY_EXIT ? 70 : 71);
}

static gboolean on_report(gpointer data)
{
	(void)data;
	report("now");
	return G_SOURCE_CONTINUE;
}

static gboolean on_term(gpointer loop)
{
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

int main(int argc, char *argv[])
{
	txPreparation *preparation = xsPreparation();
	txCreation creation = preparation->creation;
	const char *override = getenv("WIM_LIN_CREATION");
	GMainLoop *loop;
	int error = 0;
	(void)argc;
	(void)argv;
	if (override) {
		long chunk, chunkIncrement, heap, heapIncrement;
		if (sscanf(override, "%ld,%ld,%ld,%ld", &chunk, &chunkIncrement, &heap, &heapIncrement) != 4) {
			fprintf(stderr, "WIM_LIN_CREATION: want chunk,chunkIncrement,heap,heapIncrement\n");
			return 2;
		}
		creation.initialChunkSize = (txSize)chunk;
		creation.incrementalChunkSize = (txSize)chunkIncrement;
		creation.initialHeapCount = (txSize)heap;
		creation.incrementalHeapCount = (txSize)heapIncrement;
	}
	fprintf(stderr, "creation: chunk %ld+%ld bytes, heap %ld+%ld slots, stack %ld\n",
		(long)creation.initialChunkSize, (long)creation.incrementalChunkSize,
		(long)creation.initialHeapCount, (long)creation.incrementalHeapCount, (long)creation.stackCount);
	loop = g_main_loop_new(NULL, FALSE);
	machine = fxPrepareMachine(&creation, preparation, "wim", NULL, NULL);
	if (!machine) {
		fprintf(stderr, "cannot create the XS machine\n");
		return 1;
	}
	g_unix_signal_add(SIGUSR1, on_report, NULL);
	g_unix_signal_add(SIGTERM, on_term, loop);
	g_unix_signal_add(SIGINT, on_term, loop);
	xsBeginHost(machine);
	{
		xsTry {
			xsAwaitImport("main", XS_IMPORT_NAMESPACE);
		}
		xsCatch {
			fprintf(stderr, "### %s\n", xsToString(xsException));
			error = 1;
		}
	}
	xsEndHost(machine);
	report("started");
	if (!error)
		g_main_loop_run(loop);
	report("exit");
	xsDeleteMachine(machine);
	return error;
}
