/*
 * wim_xs.h — the host functions of wim_xs.c (the xsmc glue between JavaScript and the C core).
 *
 * Their names are the values of NATIVE_NAMES in modules/wim/native.ts. On the ESP32 Moddable's
 * xsc binds them from hosts/esp32/native.js; the simulator lists them in its table (sim/natives.c).
 * The engine type is forward-declared (xs.h's tag for xsMachine) so this header needs no XS header.
 */
#ifndef WIM_XS_H
#define WIM_XS_H

struct xsMachineRecord;

void xs_wim_store_open(struct xsMachineRecord *the);       /* () → boolean: true if it had to format */
void xs_wim_store_format(struct xsMachineRecord *the);     /* () → undefined */
void xs_wim_store_get(struct xsMachineRecord *the);        /* (id) → ArrayBuffer | undefined */
void xs_wim_store_put(struct xsMachineRecord *the);        /* (id, bytes) → undefined */
void xs_wim_store_put_secret(struct xsMachineRecord *the); /* (id, bytes) → undefined */
void xs_wim_store_remove(struct xsMachineRecord *the);     /* (id) → boolean */
void xs_wim_store_ids(struct xsMachineRecord *the);        /* () → number[] */
void xs_wim_store_begin(struct xsMachineRecord *the);      /* (reserve?) → undefined: opens a transaction */
void xs_wim_store_commit(struct xsMachineRecord *the);     /* () → undefined: all staged writes at once */
void xs_wim_store_abort(struct xsMachineRecord *the);      /* () → undefined: drops the staged writes */
void xs_wim_rsa_generate(struct xsMachineRecord *the);     /* (id, bits) → ArrayBuffer (modulus) */
void xs_wim_rsa_private(struct xsMachineRecord *the);      /* (id, input) → ArrayBuffer */
void xs_wim_ec_sign(struct xsMachineRecord *the);          /* (id, curve, hash) → ArrayBuffer (r‖s) */
void xs_wim_ec_ecdh(struct xsMachineRecord *the);          /* (id, curve, peer x‖y) → ArrayBuffer (x) */
void xs_wim_ec_generate(struct xsMachineRecord *the);      /* (id, curve) → ArrayBuffer (public x‖y) */
void xs_wim_ed_sign(struct xsMachineRecord *the);          /* (id, message) → ArrayBuffer (R‖S, Ed25519) */
void xs_wim_ec_public(struct xsMachineRecord *the);        /* (id, curve) → ArrayBuffer (public x‖y of the stored scalar) */
void xs_wim_ed_public(struct xsMachineRecord *the);        /* (id) → ArrayBuffer (the 32-byte public key) */
void xs_wim_ed_generate(struct xsMachineRecord *the);      /* (id) → ArrayBuffer (the 32-byte public key) */
void xs_wim_hash(struct xsMachineRecord *the);             /* (alg, data) → ArrayBuffer (the digest) */

#endif
