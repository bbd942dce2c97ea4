/*
 * globals.c — the globals the simulator installs before the bundle runs:
 *   print(...), console.log/info/debug/warn/error(...)  → stderr (stdout carries only the pty= line)
 *   crypto.getRandomValues(integerTypedArray)            → filled from getrandom(), returns its argument
 *   performance.now()                                    → monotonic milliseconds
 *   __native(name)                                       → the host function registered as `name`
 * and the printer of exceptions caught by the host.
 */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/random.h>

#include "xsmc.h"
#include "host.h"

int sim_random_fill(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The frames of an XS error stack ("Error: message\n at f ()\n at ()"), minus the first line (the
 * message, written already) and the anonymous frames, which say nothing. */
static void write_stack(const char *stack, FILE *out)
{
	const char *line = strchr(stack, '\n');
	while (line) {
		const char *next = strchr(line + 1, '\n');
		size_t length = next ? (size_t)(next - line - 1) : strlen(line + 1);
		if (length > 0 && !(length == 6 && !strncmp(line + 1, " at ()", 6)))
			fprintf(out, "\n%.*s", (int)length, line + 1);
		line = next;
	}
}

/* Writes one value as console.log would, roughly: strings raw, errors with their stack, plain
 * objects and arrays as JSON, everything else through String(). Never throws. */
static void write_value(xsMachine *the, xsSlot *value, int v, FILE *out)
{
	xsTry {
		xsVar(v + 0) = *value;
		switch (xsmcTypeOf(xsVar(v + 0))) {
		case xsStringType:
			fputs(xsmcToString(xsVar(v + 0)), out);
			break;
		case xsReferenceType:
			if (xsmcIsInstanceOf(xsVar(v + 0), xsErrorPrototype)) {
				xsVar(v + 2) = xsCall0(xsVar(v + 0), xsID("toString"));
				fputs(xsmcToString(xsVar(v + 2)), out);
				xsmcGet(xsVar(v + 1), xsVar(v + 0), xsID("stack"));
				if (xsmcTypeOf(xsVar(v + 1)) == xsStringType)
					write_stack(xsmcToString(xsVar(v + 1)), out);
				break;
			}
			if (!xsmcIsCallable(xsVar(v + 0))) {
				xsmcGet(xsVar(v + 1), xsGlobal, xsID("JSON"));
				xsTry {
					xsmcCall(xsVar(v + 2), xsVar(v + 1), xsID("stringify"), &xsVar(v + 0), NULL);
				}
				xsCatch {
					xsmcSetUndefined(xsVar(v + 2));
				}
				if (xsmcTypeOf(xsVar(v + 2)) == xsStringType) {
					fputs(xsmcToString(xsVar(v + 2)), out);
					break;
				}
			}
			/* fall through */
		default:
			xsmcGet(xsVar(v + 1), xsGlobal, xsID("String"));
			xsVar(v + 2) = xsCallFunction1(xsVar(v + 1), xsUndefined, xsVar(v + 0));
			fputs(xsmcToString(xsVar(v + 2)), out);
			break;
		}
	}
	xsCatch {
		fputs("[unprintable]", out);
	}
}

static void write_arguments(xsMachine *the, const char *prefix)
{
	int argc = xsmcArgc, i;
	int v = xsmcVars(3);
	if (prefix)
		fputs(prefix, stderr);
	for (i = 0; i < argc; i++) {
		if (i)
			fputc(' ', stderr);
		write_value(the, &xsArg(i), v, stderr);
	}
	fputc('\n', stderr);
	fflush(stderr);
}

static void sim_console_log(xsMachine *the) { write_arguments(the, NULL); }
static void sim_console_warn(xsMachine *the) { write_arguments(the, "warning: "); }
static void sim_console_error(xsMachine *the) { write_arguments(the, "error: "); }

void sim_report_exception(xsMachine *the, const char *where, int v)
{
	xsSlot exception = xsException;
	xsException = xsUndefined;
	fprintf(stderr, "wim-sim: exception in %s: ", where);
	write_value(the, &exception, v, stderr);
	fputc('\n', stderr);
	fflush(stderr);
}

static void sim_performance_now(xsMachine *the)
{
	xsmcSetNumber(xsResult, sim_now_ms());
}

static void sim_native_lookup(xsMachine *the)
{
	char name[64];
	const sim_native *entry;
	if (xsmcArgc < 1 || xsmcTypeOf(xsArg(0)) != xsStringType)
		xsTypeError("__native: name must be a string");
	if (strlen(xsmcToString(xsArg(0))) >= sizeof(name))
		xsTypeError("__native: unknown host function");
	strcpy(name, xsmcToString(xsArg(0)));
	entry = sim_native_find(name);
	if (!entry)
		xsTypeError("__native: unknown host function %s", name);
	xsResult = xsNewHostFunction(entry->fn, entry->length);
}

static void define_function(xsMachine *the, xsSlot *target, const char *name, sim_host_fn fn, int length)
{
	xsVar(0) = xsNewHostFunction(fn, length);
	xsmcDefine(*target, xsID(name), xsVar(0), xsDontEnum);
}

void sim_install_globals(xsMachine *the)
{
	xsmcVars(2);
	define_function(the, &xsGlobal, "print", sim_console_log, 0);
	define_function(the, &xsGlobal, "__native", sim_native_lookup, 1);

	xsmcSetNewObject(xsVar(1));
	define_function(the, &xsVar(1), "log", sim_console_log, 0);
	define_function(the, &xsVar(1), "info", sim_console_log, 0);
	define_function(the, &xsVar(1), "debug", sim_console_log, 0);
	define_function(the, &xsVar(1), "warn", sim_console_warn, 0);
	define_function(the, &xsVar(1), "error", sim_console_error, 0);
	xsmcDefine(xsGlobal, xsID("console"), xsVar(1), xsDontEnum);

	xsmcSetNewObject(xsVar(1));
	define_function(the, &xsVar(1), "getRandomValues", sim_get_random_values, 1);
	xsmcDefine(xsGlobal, xsID("crypto"), xsVar(1), xsDontEnum);

	xsmcSetNewObject(xsVar(1));
	define_function(the, &xsVar(1), "now", sim_performance_now, 0);
	xsmcDefine(xsGlobal, xsID("performance"), xsVar(1), xsDontEnum);
}
