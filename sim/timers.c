/*
 * timers.c — setTimeout, clearTimeout, setInterval, clearInterval.
 *
 * Timers live in a C list; each one keeps its callback (and its extra arguments, if any) alive
 * with xsRemember until it fires for the last time or is cleared. The event loop in main.c asks
 * for the poll() timeout and runs the due timers; promise jobs run after each callback.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "xsmc.h"
#include "host.h"

typedef struct sim_timer {
	struct sim_timer *next;
	uint32_t id;
	int repeat;
	int cleared;
	double when;     /* sim_now_ms() at which it is due */
	double interval; /* ms */
	xsSlot callback;
	xsSlot arguments; /* an Array, or undefined */
} sim_timer;

static sim_timer *timers;      /* in insertion order */
static sim_timer *running;     /* the timer whose callback runs now */
static uint32_t next_id = 1;
static xsSlot apply_function;  /* Function.prototype.apply, taken before the bundle runs */

static void release(xsMachine *the, sim_timer *timer)
{
	xsForget(timer->callback);
	xsForget(timer->arguments);
	free(timer);
}

static void schedule(xsMachine *the, int repeat)
{
	sim_timer *timer, **tail;
	double delay = 0;
	int argc = xsmcArgc, i, v;
	if (argc < 1 || !xsmcIsCallable(xsArg(0)))
		xsTypeError("timer callback is not a function");
	if (argc >= 2) {
		delay = xsmcToNumber(xsArg(1));
		if (!(delay >= 1))
			delay = repeat ? 1 : 0;
		if (delay > (double)INT32_MAX)
			delay = (double)INT32_MAX;
	}
	timer = calloc(1, sizeof(*timer));
	if (!timer)
		xsUnknownError("out of memory");
	timer->id = next_id++;
	if (next_id == 0 || next_id > INT32_MAX)
		next_id = 1;
	timer->repeat = repeat;
	timer->interval = delay;
	timer->when = sim_now_ms() + delay;
	timer->callback = xsArg(0);
	xsmcSetUndefined(timer->arguments);
	if (argc > 2) {
		v = xsmcVars(1);
		xsmcSetNewArray(xsVar(v), argc - 2);
		for (i = 2; i < argc; i++)
			xsmcSetIndex(xsVar(v), i - 2, xsArg(i));
		timer->arguments = xsVar(v);
	}
	xsRemember(timer->callback);
	xsRemember(timer->arguments);
	for (tail = &timers; *tail; tail = &(*tail)->next)
		;
	*tail = timer;
	xsmcSetInteger(xsResult, (xsIntegerValue)timer->id);
}

static void sim_set_timeout(xsMachine *the) { schedule(the, 0); }
static void sim_set_interval(xsMachine *the) { schedule(the, 1); }

static void sim_clear_timer(xsMachine *the)
{
	sim_timer **link, *timer;
	double id;
	if (xsmcArgc < 1)
		return;
	if (xsmcTypeOf(xsArg(0)) != xsIntegerType && xsmcTypeOf(xsArg(0)) != xsNumberType)
		return;
	id = xsmcToNumber(xsArg(0));
	if (running && (double)running->id == id) {
		running->cleared = 1;
		return;
	}
	for (link = &timers; (timer = *link); link = &timer->next) {
		if ((double)timer->id == id) {
			*link = timer->next;
			release(the, timer);
			return;
		}
	}
}

void sim_install_timers(xsMachine *the)
{
	xsmcVars(2);
	xsmcGet(xsVar(0), xsGlobal, xsID("Function"));
	xsmcGet(xsVar(0), xsVar(0), xsID("prototype"));
	xsmcGet(apply_function, xsVar(0), xsID("apply"));
	xsRemember(apply_function);
	xsVar(1) = xsNewHostFunction(sim_set_timeout, 2);
	xsmcDefine(xsGlobal, xsID("setTimeout"), xsVar(1), xsDontEnum);
	xsVar(1) = xsNewHostFunction(sim_set_interval, 2);
	xsmcDefine(xsGlobal, xsID("setInterval"), xsVar(1), xsDontEnum);
	xsVar(1) = xsNewHostFunction(sim_clear_timer, 1);
	xsmcDefine(xsGlobal, xsID("clearTimeout"), xsVar(1), xsDontEnum);
	xsmcDefine(xsGlobal, xsID("clearInterval"), xsVar(1), xsDontEnum);
}

int sim_timers_timeout_ms(void)
{
	sim_timer *timer;
	double now, earliest = -1;
	if (!timers)
		return -1;
	for (timer = timers; timer; timer = timer->next)
		if (earliest < 0 || timer->when < earliest)
			earliest = timer->when;
	now = sim_now_ms();
	if (earliest <= now)
		return 0;
	return (int)ceil(earliest - now);
}

/* Unlinks and returns the earliest timer due by `now`, or NULL. */
static sim_timer *take_due(double now)
{
	sim_timer **link, **best = NULL, *timer;
	for (link = &timers; (timer = *link); link = &timer->next)
		if (timer->when <= now && (!best || timer->when < (*best)->when))
			best = link;
	if (!best)
		return NULL;
	timer = *best;
	*best = timer->next;
	timer->next = NULL;
	return timer;
}

void sim_timers_run_due(xsMachine *machine)
{
	double now = sim_now_ms();
	sim_timer *timer;
	while ((timer = take_due(now))) {
		running = timer;
		xsBeginHost(machine);
		int v = xsmcVars(3);
		xsTry {
			if (xsmcTypeOf(timer->arguments) == xsUndefinedType)
				xsCallFunction0(timer->callback, xsUndefined);
			else
				xsCallFunction2(apply_function, timer->callback, xsUndefined, timer->arguments);
		}
		xsCatch {
			sim_report_exception(the, "timer callback", v);
		}
		xsEndHost(machine);
		running = NULL;
		if (timer->repeat && !timer->cleared) {
			sim_timer **tail;
			timer->when += timer->interval;
			if (timer->when < now)
				timer->when = now + timer->interval;
			for (tail = &timers; *tail; tail = &(*tail)->next)
				;
			*tail = timer;
		}
		else {
			xsBeginHost(machine);
			release(the, timer);
			xsEndHost(machine);
		}
		sim_run_jobs(machine);
	}
}
