/*
 * wim_sim_platform.h — the XS platform header of the WIM simulator (Linux, 64-bit, little-endian).
 *
 * The XS sources include this through -DINCLUDE_XSPLATFORM -DXSPLATFORM=\"wim_sim_platform.h\".
 * It says which engine defaults the simulator keeps (key building, chunk and slot allocation,
 * module lookup, script parsing, shared chunks) and which hooks sim/platform.c supplies itself
 * (machine platform, promise-job queue, abort). Every file that includes xs.h, xsmc.h or xsAll.h
 * must be compiled with the same defines, since they shape struct sxMachine.
 */
#ifndef WIM_SIM_PLATFORM_H
#define WIM_SIM_PLATFORM_H

#if !defined(__GNUC__) || !defined(__linux__)
	#error "the WIM simulator is built with GCC or Clang on Linux"
#endif
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	#error "the WIM simulator expects a little-endian machine, like the ESP32"
#endif

#undef mxLittleEndian
#define mxLittleEndian 1
#undef mxLinux
#define mxLinux 1

#define mxExport extern
#define mxImport extern
#define XS_FUNCTION_NORETURN __attribute__((noreturn))

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <unistd.h>

/* The engine's own reports go to stderr: stdout carries only the pty= line. */
#define c_printf(...) fprintf(stderr, __VA_ARGS__)
#define c_vprintf(format, arguments) vfprintf(stderr, format, arguments)

#define mxUseGCCAtomics 1
#define mxUsePOSIXThreads 1

/*
 * Per-machine fields:
 *   host         the simulator's own state (sim/host.h), opaque to the engine
 *   promiseJobs  set by fxQueuePromiseJobs, cleared by the loop that runs them
 *   abortStatus  the last fatal status seen by fxAbort (0 if none)
 *   waiter*      used by Atomics.wait/notify (xsAtomics.c with the default shared chunks)
 */
#define mxMachinePlatform \
	void* host; \
	int promiseJobs; \
	int abortStatus; \
	void* waiterCondition; \
	void* waiterData; \
	void* waiterLink;

/* Engine defaults the simulator keeps. (Chunk and slot allocation are sim/platform.c's: capped.) */
#define mxUseDefaultBuildKeys 1
#define mxUseDefaultFindModule 1
#define mxUseDefaultLoadModule 1
#define mxUseDefaultParseScript 1
#define mxUseDefaultSharedChunks 1
#define mxUseDefaultDebug 1

/* Supplied by sim/platform.c: fxCreateMachinePlatform, fxDeleteMachinePlatform,
 * fxQueuePromiseJobs, fxAbort, fxAllocateChunks/Slots, fxFreeChunks/Slots. */

#endif /* WIM_SIM_PLATFORM_H */
