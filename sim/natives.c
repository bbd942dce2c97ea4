/*
 * natives.c — the host functions JavaScript reaches through globalThis.__native(name): the
 * simulator's own (sim_*) and the C module's glue (xs_wim_*). The table is generated from the one
 * native table, modules/wim/native/natives.table, by tools/gen-natives.mjs (sim/natives_table.h).
 */
#include <string.h>

#include "host.h"
#include "natives_table.h"

const sim_native *sim_native_find(const char *name)
{
	size_t i;
	for (i = 0; i < sizeof(sim_native_table) / sizeof(sim_native_table[0]); i++)
		if (strcmp(sim_native_table[i].name, name) == 0)
			return &sim_native_table[i];
	return NULL;
}
