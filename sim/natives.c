/*
 * natives.c — the host functions JavaScript reaches through globalThis.__native(name): the
 * simulator's own (sim_*) and the C module's glue (xs_wim_*, the names of modules/wim/native.ts).
 */
#include <string.h>

#include "host.h"
#include "identity.h"
#include "../modules/wim/native/wim_xs.h"

static const sim_native table[] = {
	{ "sim_serial_write", sim_serial_write, 1 },
	{ "sim_serial_on_receive", sim_serial_on_receive, 1 },
	{ "sim_serial_pending", sim_serial_pending, 0 },
	{ "sim_exit", sim_exit, 1 },
	{ "sim_device_serial", sim_device_serial, 0 },
	{ "xs_wim_store_open", xs_wim_store_open, 0 },
	{ "xs_wim_store_format", xs_wim_store_format, 0 },
	{ "xs_wim_store_get", xs_wim_store_get, 1 },
	{ "xs_wim_store_put", xs_wim_store_put, 2 },
	{ "xs_wim_store_put_secret", xs_wim_store_put_secret, 2 },
	{ "xs_wim_store_remove", xs_wim_store_remove, 1 },
	{ "xs_wim_store_ids", xs_wim_store_ids, 0 },
	{ "xs_wim_store_begin", xs_wim_store_begin, 1 },
	{ "xs_wim_store_commit", xs_wim_store_commit, 0 },
	{ "xs_wim_store_abort", xs_wim_store_abort, 0 },
	{ "xs_wim_rsa_generate", xs_wim_rsa_generate, 2 },
	{ "xs_wim_rsa_private", xs_wim_rsa_private, 2 },
	{ "xs_wim_ec_sign", xs_wim_ec_sign, 3 },
	{ "xs_wim_ec_ecdh", xs_wim_ec_ecdh, 3 },
	{ "xs_wim_ec_generate", xs_wim_ec_generate, 2 },
	{ "xs_wim_ed_sign", xs_wim_ed_sign, 2 },
	{ "xs_wim_ed_public", xs_wim_ed_public, 1 },
	{ "xs_wim_ed_generate", xs_wim_ed_generate, 1 },
};

const sim_native *sim_native_find(const char *name)
{
	size_t i;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}
