/*
 * wim_xs.c — the xsmc glue between JavaScript (modules/wim/native.ts) and the C core (wim_store,
 * wim_rsa, wim_ec, wim_ed25519, wim_aead). The same file is linked by the ESP32 build and by the simulator: only xsmc.h APIs here.
 *
 * Every host function checks its arguments before the core sees them: ids are integers in
 * 0..2^32-1, byte arguments are an ArrayBuffer or a Uint8Array (any byte view xsmc accepts), sizes
 * are bounded by static buffers. A core error is thrown as an Error whose message is the WIM_E_*
 * name; errors.ts maps those names to CK_RV. Argument errors are TypeError / RangeError.
 *
 * Memory: one static wim_store, static I/O buffers and a static scratch shared by RSA, EC and Ed25519
 * (no malloc). Bytes read from JavaScript are used before any allocation, so the engine cannot move them
 * meanwhile. Buffers that held secrets (the scratch, the EC scalar or Ed25519 seed in `io`, an ECDH
 * result) are wiped after each use. No secret is ever returned to JavaScript.
 */
#include <string.h>

#include "xsmc.h"
#include "wim_env.h"
#include "wim_store.h"
#include "wim_rsa.h"
#include "wim_aead.h"
#include "wim_ec.h"
#include "wim_ed25519.h"
#include "wim_sha1.h"
#include "wim_sha256.h"
#include "wim_sha512.h"
#include "wim_xs.h"

/* Scratch, shared by RSA, EC and Ed25519: at least wim_rsa_scratch_size(WIM_RSA_MAX_BITS),
 * wim_ec_scratch_size() and wim_ed25519_scratch_size() (a few KiB); all checked at run time. */
#ifndef WIM_XS_RSA_SCRATCH
#define WIM_XS_RSA_SCRATCH (16 * 1024) /* wim_rsa_scratch_size(4096) is 14880 today */
#endif
#define WIM_XS_RSA_BYTES (WIM_RSA_MAX_BITS / 8)
/* P-256 / P-384 (wim_ec): the largest coordinate, and the longest hash ecSign takes (SHA-512's). */
#define WIM_XS_EC_BYTES 48
#define WIM_XS_EC_HASH_MAX 64

static wim_store store;
static int mounted;
static uint8_t io[WIM_STORE_MAX_VALUE];
static uint8_t rsa_out[WIM_XS_RSA_BYTES];
static uint8_t ec_out[2 * WIM_XS_EC_BYTES]; /* also Ed25519's signature (64 bytes) and public key */
static uint32_t ids[WIM_STORE_MAX_RECORDS];
static uint64_t scratch[WIM_XS_RSA_SCRATCH / sizeof(uint64_t)];

static void wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;
	while (n--)
		*v++ = 0;
}

static const char *error_name(int rc)
{
	switch (rc) {
	case WIM_E_ARG: return "WIM_E_ARG";
	case WIM_E_SCRATCH: return "WIM_E_SCRATCH";
	case WIM_E_FLASH: return "WIM_E_FLASH";
	case WIM_E_FULL: return "WIM_E_FULL";
	case WIM_E_NOTFOUND: return "WIM_E_NOTFOUND";
	case WIM_E_SECRET: return "WIM_E_SECRET";
	case WIM_E_CORRUPT: return "WIM_E_CORRUPT";
	case WIM_E_FAULT: return "WIM_E_FAULT";
	case WIM_E_RNG: return "WIM_E_RNG";
	case WIM_E_TOOBIG: return "WIM_E_TOOBIG";
	case WIM_E_CANCELED: return "WIM_E_CANCELED";
	case WIM_E_AUTH: return "WIM_E_AUTH";
	default: return "WIM_E_UNKNOWN";
	}
}

/* Throws new Error(name): built by hand so that debug builds add no prefix to the message. */
static void throw_wim(xsMachine *the, int rc)
{
	xsmcSetString(xsResult, (char *)error_name(rc));
	xsmcNew(xsResult, xsGlobal, xsID("Error"), &xsResult, NULL);
	xsThrow(xsResult);
}

static void check(xsMachine *the, int rc)
{
	if (rc != WIM_OK)
		throw_wim(the, rc);
}

static void need_args(xsMachine *the, int count)
{
	if (xsmcArgc < count)
		xsTypeError("expected %d arguments", count);
}

/* An integer in [min, max] (both within 0..2^32-1). */
static uint32_t arg_uint(xsMachine *the, int index, double min, double max, const char *what)
{
	double value;
	xsType type = xsmcTypeOf(xsArg(index));
	if (type != xsIntegerType && type != xsNumberType)
		xsTypeError("%s is not a number", what);
	value = xsmcToNumber(xsArg(index));
	if (!(value >= min && value <= max) || value != (double)(uint32_t)value)
		xsRangeError("%s is out of range", what);
	return (uint32_t)value;
}

static uint32_t arg_id(xsMachine *the, int index)
{
	return arg_uint(the, index, 0, 4294967295.0, "id");
}

/* The bytes of an ArrayBuffer or a byte view. Valid until the next allocation in the engine. */
static const uint8_t *arg_bytes(xsMachine *the, int index, uint32_t *length)
{
	void *data;
	xsUnsignedValue count;
	if (xsmcTypeOf(xsArg(index)) != xsReferenceType)
		xsTypeError("expected an ArrayBuffer or a Uint8Array");
	xsmcGetBufferReadable(xsArg(index), &data, &count);
	*length = (uint32_t)count;
	return data;
}

/* The mounted store; mounts it on first use (without formatting: storeOpen does that). */
static wim_store *open_store(xsMachine *the)
{
	const wim_flash *flash;
	if (mounted && store.mounted)
		return &store; /* the core clears store.mounted after a flash error: mount again then */
	flash = wim_host_flash();
	if (!flash)
		throw_wim(the, WIM_E_FLASH);
	check(the, wim_store_mount(&store, flash));
	mounted = 1;
	return &store;
}

void xs_wim_store_open(xsMachine *the)
{
	const wim_flash *flash = wim_host_flash();
	int rc, formatted = 0;
	if (!flash)
		throw_wim(the, WIM_E_FLASH);
	mounted = 0;
	rc = wim_store_mount(&store, flash);
	if (rc == WIM_E_CORRUPT) {
		rc = wim_store_format(&store, flash);
		formatted = 1;
	}
	check(the, rc);
	mounted = 1;
	xsmcSetBoolean(xsResult, formatted);
}

void xs_wim_store_format(xsMachine *the)
{
	const wim_flash *flash = wim_host_flash();
	if (!flash)
		throw_wim(the, WIM_E_FLASH);
	mounted = 0;
	check(the, wim_store_format(&store, flash));
	mounted = 1;
}

void xs_wim_store_get(xsMachine *the)
{
	wim_store *st;
	uint32_t id, length = 0;
	int rc;
	need_args(the, 1);
	id = arg_id(the, 0);
	st = open_store(the);
	rc = wim_store_get(st, id, io, sizeof(io), &length);
	if (rc == WIM_E_NOTFOUND) {
		xsmcSetUndefined(xsResult);
		return;
	}
	check(the, rc);
	if (length > sizeof(io))
		throw_wim(the, WIM_E_TOOBIG);
	xsmcSetArrayBuffer(xsResult, io, (xsIntegerValue)length);
}

static void put(xsMachine *the, uint8_t kind)
{
	wim_store *st;
	const uint8_t *data;
	uint32_t id, length;
	need_args(the, 2);
	id = arg_id(the, 0);
	st = open_store(the);
	data = arg_bytes(the, 1, &length);
	if (length > WIM_STORE_MAX_VALUE)
		xsRangeError("record larger than %d bytes", WIM_STORE_MAX_VALUE);
	check(the, wim_store_put(st, id, kind, data, length));
}

void xs_wim_store_put(xsMachine *the)
{
	put(the, WIM_KIND_PUBLIC);
}

void xs_wim_store_put_secret(xsMachine *the)
{
	put(the, WIM_KIND_SECRET);
}

void xs_wim_store_remove(xsMachine *the)
{
	wim_store *st;
	uint32_t id;
	int rc;
	need_args(the, 1);
	id = arg_id(the, 0);
	st = open_store(the);
	rc = wim_store_remove(st, id);
	if (rc == WIM_E_NOTFOUND) {
		xsmcSetFalse(xsResult);
		return;
	}
	check(the, rc);
	xsmcSetTrue(xsResult);
}

/* Transactions: storeBegin(reserve?) → storePut/storePutSecret/storeRemove/rsaGenerate → storeCommit()
 * (or storeAbort()). Between begin and commit the writes are staged: invisible to reads, and all
 * durable at once at the commit. reserve: the payload bytes the transaction will write (0 or absent:
 * a whole sector). A flash error ends the transaction (the store is mounted again on next use and
 * storeCommit then throws WIM_E_ARG: nothing was committed). */
void xs_wim_store_begin(xsMachine *the)
{
	uint32_t reserve = 0;
	wim_store *st;
	if (xsmcArgc > 0 && xsmcTypeOf(xsArg(0)) != xsUndefinedType)
		reserve = arg_uint(the, 0, 0, 65536, "reserve");
	st = open_store(the);
	check(the, wim_store_begin(st, reserve));
}

void xs_wim_store_commit(xsMachine *the)
{
	check(the, wim_store_commit(open_store(the)));
}

void xs_wim_store_abort(xsMachine *the)
{
	wim_store_abort(open_store(the));
}

/* storeSpace(): [free, total] bytes of the store (wim_store_space): what AT+PKCSSTAT? reports. */
void xs_wim_store_space(xsMachine *the)
{
	uint32_t free_bytes = 0, total = 0;
	int v;
	check(the, wim_store_space(open_store(the), &free_bytes, &total));
	v = xsmcVars(1);
	xsmcSetNewArray(xsResult, 2);
	xsmcSetNumber(xsVar(v), (xsNumberValue)free_bytes);
	xsmcSetIndex(xsResult, 0, xsVar(v));
	xsmcSetNumber(xsVar(v), (xsNumberValue)total);
	xsmcSetIndex(xsResult, 1, xsVar(v));
}

void xs_wim_store_ids(xsMachine *the)
{
	wim_store *st = open_store(the);
	uint32_t count = 0, i;
	int v;
	check(the, wim_store_ids(st, ids, WIM_STORE_MAX_RECORDS, &count));
	if (count > WIM_STORE_MAX_RECORDS)
		throw_wim(the, WIM_E_TOOBIG);
	v = xsmcVars(1);
	xsmcSetNewArray(xsResult, (xsIntegerValue)count);
	for (i = 0; i < count; i++) {
		if (ids[i] <= 0x7FFFFFFFu)
			xsmcSetInteger(xsVar(v), (xsIntegerValue)ids[i]);
		else
			xsmcSetNumber(xsVar(v), (xsNumberValue)ids[i]);
		xsmcSetIndex(xsResult, i, xsVar(v));
	}
}

/*
 * Key generation may be followed and cancelled: the core draws one random candidate per RNG call,
 * so the glue wraps the host's RNG and calls the optional JavaScript `onCandidate(count)` every
 * WIM_XS_PROGRESS_EVERY draws; a true result cancels (the fill fails with WIM_E_CANCELED and the
 * core stops, writing nothing). The core itself stays free of callbacks.
 */
#define WIM_XS_PROGRESS_EVERY 16

typedef struct progress_rng {
	xsMachine *the;
	const wim_rng *host;
	uint32_t draws;
	int has_callback;
	int var; /* the xsVar holding the count argument */
} progress_rng;

static int progress_fill(void *ctx, uint8_t *buf, size_t len)
{
	progress_rng *p = ctx;
	int rc = p->host->fill(p->host->ctx, buf, len);
	if (rc || !p->has_callback || (++p->draws % WIM_XS_PROGRESS_EVERY) != 0)
		return rc;
	xsMachine *the = p->the;
	xsmcSetInteger(xsVar(p->var), (xsIntegerValue)p->draws);
	xsSlot cancel = xsCallFunction1(xsArg(2), xsUndefined, xsVar(p->var));
	return xsmcTest(cancel) ? WIM_E_CANCELED : WIM_OK;
}

void xs_wim_rsa_generate(xsMachine *the)
{
	wim_store *st;
	uint32_t id, bits;
	int rc;
	need_args(the, 2);
	id = arg_id(the, 0);
	bits = arg_uint(the, 1, 512, WIM_RSA_MAX_BITS, "bits");
	if (bits % 8 != 0)
		xsRangeError("bits is not a multiple of 8");
	if (wim_rsa_scratch_size(bits) > sizeof(scratch))
		throw_wim(the, WIM_E_SCRATCH);
	progress_rng p = { the, wim_host_rng(), 0, 0, 0 };
	if (xsmcArgc > 2 && xsmcTypeOf(xsArg(2)) != xsUndefinedType) {
		if (!xsmcIsInstanceOf(xsArg(2), xsFunctionPrototype))
			xsTypeError("onCandidate must be a function");
		p.has_callback = 1;
		p.var = xsmcVars(1);
	}
	wim_rng rng = { &p, progress_fill };
	st = open_store(the);
	rc = wim_rsa_generate(st, id, bits, &rng, rsa_out, scratch, sizeof(scratch));
	wipe(scratch, sizeof(scratch));
	check(the, rc);
	xsmcSetArrayBuffer(xsResult, rsa_out, (xsIntegerValue)(bits / 8));
}

/*
 * The kind of key a secret is, and the check that a secret is used only as what it is.
 *
 * A SECRET record carries no type of its own; its kind is written, in the same store transaction
 * (Wim.addObject, Wim.generateKeyPair), in the PUBLIC record of the same id: the private-key object's
 * CKA_CLASS, CKA_KEY_TYPE and CKA_EC_PARAMS (all read-only once the object exists). Every function
 * that uses a secret reads that record first and refuses (WIM_E_SECRET) a secret of another kind:
 * edSign/edPublic use only Ed25519 seeds, ecSign/ecEcdh only scalars of their own curve, rsaPrivate
 * only RSA keys. A secret without its object record is refused too (WIM_E_NOTFOUND).
 */
enum key_kind { KIND_RSA, KIND_P256, KIND_P384, KIND_ED25519 };

/* Template attribute types and values (PKCS#11) the check reads. */
#define CKA_CLASS_ 0x000u
#define CKA_KEY_TYPE_ 0x100u
#define CKA_EC_PARAMS_ 0x180u
#define CKO_PRIVATE_KEY_ 3u
#define CKK_RSA_ 0x00u
#define CKK_EC_ 0x03u
#define CKK_EC_EDWARDS_ 0x40u

static const uint8_t OID_P256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t OID_P384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The value of attribute `type` in a template (u32 type, u32 length, value; little-endian), or NULL. */
static const uint8_t *template_value(const uint8_t *t, uint32_t len, uint32_t type, uint32_t *vlen)
{
	uint32_t at = 0;
	while (len - at >= 8) {
		uint32_t ty = le32(t + at), n = le32(t + at + 4);
		if (n > len - at - 8)
			return NULL;
		if (ty == type) {
			*vlen = n;
			return t + at + 8;
		}
		at += 8 + n;
	}
	return NULL;
}

/* A CK_ULONG attribute (8 bytes little-endian, as the template carries it) equal to `want`. */
static int ulong_is(const uint8_t *v, uint32_t n, uint32_t want)
{
	uint32_t i;
	if (!v || n != 8 || le32(v) != want)
		return 0;
	for (i = 4; i < 8; i++)
		if (v[i])
			return 0;
	return 1;
}

/* WIM_OK if record `id` is a private key of `kind`; reads the record into `io` (the caller reads the
 * secret afterwards, overwriting it). */
static int check_kind(wim_store *st, uint32_t id, enum key_kind kind)
{
	uint32_t len = 0, n = 0, want;
	const uint8_t *v, *oid = NULL;
	size_t oid_len = 0;
	int rc = wim_store_get(st, id, io, sizeof(io), &len);
	if (rc != WIM_OK)
		return rc;
	if (len > sizeof(io))
		return WIM_E_SECRET;
	v = template_value(io, len, CKA_CLASS_, &n);
	if (!ulong_is(v, n, CKO_PRIVATE_KEY_))
		return WIM_E_SECRET;
	want = kind == KIND_RSA ? CKK_RSA_ : kind == KIND_ED25519 ? CKK_EC_EDWARDS_ : CKK_EC_;
	v = template_value(io, len, CKA_KEY_TYPE_, &n);
	if (!ulong_is(v, n, want))
		return WIM_E_SECRET;
	if (kind == KIND_P256)
		oid = OID_P256, oid_len = sizeof(OID_P256);
	if (kind == KIND_P384)
		oid = OID_P384, oid_len = sizeof(OID_P384);
	if (oid) {
		v = template_value(io, len, CKA_EC_PARAMS_, &n);
		if (!v || n != oid_len || memcmp(v, oid, oid_len) != 0)
			return WIM_E_SECRET;
	}
	return WIM_OK;
}

void xs_wim_rsa_private(xsMachine *the)
{
	wim_store *st;
	const uint8_t *input;
	uint32_t id, length;
	int rc;
	need_args(the, 2);
	id = arg_id(the, 0);
	st = open_store(the);
	input = arg_bytes(the, 1, &length);
	if (length == 0 || length > WIM_XS_RSA_BYTES)
		xsRangeError("input must be 1 to %d bytes", WIM_XS_RSA_BYTES);
	/* the core reads flash and computes; it calls no JavaScript, so `input` stays put */
	rc = check_kind(st, id, KIND_RSA);
	wipe(io, sizeof(io));
	if (rc == WIM_OK)
		rc = wim_rsa_private(st, id, input, length, rsa_out, wim_host_rng(), scratch, sizeof(scratch));
	wipe(scratch, sizeof(scratch));
	check(the, rc);
	xsmcSetArrayBuffer(xsResult, rsa_out, (xsIntegerValue)length);
}

/*
 * P-256 and P-384 in C (wim_ec): the scalar is read from the store into `io`, used and wiped here; it
 * never reaches JavaScript. curve: WIM_EC_P256 (1) or WIM_EC_P384 (2).
 */
static int arg_curve(xsMachine *the, int index)
{
	int curve = (int)arg_uint(the, index, WIM_EC_P256, WIM_EC_P384, "curve");
	if (wim_ec_size(curve) > WIM_XS_EC_BYTES)
		throw_wim(the, WIM_E_SCRATCH);
	if (wim_ec_scratch_size() > sizeof(scratch))
		throw_wim(the, WIM_E_SCRATCH);
	return curve;
}

/* The arguments every EC function starts with: (id, curve, ...), at least `count` of them; the store. */
static wim_store *ec_args(xsMachine *the, int count, uint32_t *id, int *curve, size_t *size)
{
	need_args(the, count);
	*id = arg_id(the, 0);
	*curve = arg_curve(the, 1);
	*size = wim_ec_size(*curve);
	return open_store(the);
}

/* The scalar of SECRET record `id` into io[0..size): a record shorter than size is a big-endian
 * integer without its leading zero bytes (as an importer may write CKA_VALUE) and is padded. */
static int read_scalar(wim_store *st, uint32_t id, int curve, size_t size)
{
	uint32_t length = 0;
	int rc = check_kind(st, id, curve == WIM_EC_P256 ? KIND_P256 : KIND_P384);
	if (rc == WIM_OK)
		rc = wim_store_read_secret(st, id, io, sizeof(io), &length);
	if (rc != WIM_OK)
		return rc;
	if (length == 0 || length > size)
		return WIM_E_SECRET; /* not a scalar of this curve */
	if (length < size) {
		memmove(io + (size - length), io, length);
		memset(io, 0, size - length);
	}
	return WIM_OK;
}

void xs_wim_ec_sign(xsMachine *the)
{
	uint32_t id, hash_len;
	size_t size;
	int curve, rc;
	wim_store *st = ec_args(the, 3, &id, &curve, &size);
	const uint8_t *hash = arg_bytes(the, 2, &hash_len);
	if (hash_len == 0 || hash_len > WIM_XS_EC_HASH_MAX)
		xsRangeError("hash must be 1 to %d bytes", WIM_XS_EC_HASH_MAX);
	/* the core reads flash and computes; it calls no JavaScript, so `hash` stays put */
	rc = read_scalar(st, id, curve, size);
	if (rc == WIM_OK)
		rc = wim_ec_sign(curve, io, hash, hash_len, wim_host_rng(), ec_out, scratch, sizeof(scratch));
	wipe(io, sizeof(io));
	wipe(scratch, wim_ec_scratch_size());
	check(the, rc);
	xsmcSetArrayBuffer(xsResult, ec_out, (xsIntegerValue)(2 * size));
}

/* Ends an ECDH native: throws for rc, else returns the shared x-coordinate in ec_out (size bytes); either
 * way ec_out is wiped (JavaScript has its copy). */
static void ecdh_result(xsMachine *the, int rc, size_t size)
{
	if (rc != WIM_OK) {
		wipe(ec_out, sizeof(ec_out));
		throw_wim(the, rc);
	}
	xsmcSetArrayBuffer(xsResult, ec_out, (xsIntegerValue)size);
	wipe(ec_out, size);
}

void xs_wim_ec_ecdh(xsMachine *the)
{
	uint32_t id, peer_len;
	size_t size;
	int curve, rc;
	wim_store *st = ec_args(the, 3, &id, &curve, &size);
	const uint8_t *peer = arg_bytes(the, 2, &peer_len);
	if (peer_len != 2 * size)
		xsRangeError("peer must be x and y, %d bytes", (int)(2 * size));
	rc = read_scalar(st, id, curve, size);
	if (rc == WIM_OK)
		rc = wim_ec_ecdh(curve, io, peer, ec_out, scratch, sizeof(scratch));
	wipe(io, sizeof(io));
	wipe(scratch, wim_ec_scratch_size());
	ecdh_result(the, rc, size);
}

void xs_wim_ec_generate(xsMachine *the)
{
	uint32_t id;
	size_t size;
	int curve, rc;
	wim_store *st = ec_args(the, 2, &id, &curve, &size);
	rc = wim_ec_generate(st, id, curve, wim_host_rng(), ec_out, scratch, sizeof(scratch));
	wipe(scratch, wim_ec_scratch_size());
	check(the, rc);
	xsmcSetArrayBuffer(xsResult, ec_out, (xsIntegerValue)(2 * size));
}

/* The public point x‖y of the scalar in SECRET record `id` (a P-256 or P-384 private key's), derived in
 * C: what the attestation of a generated key and the device identity certificate carry. */
void xs_wim_ec_public(xsMachine *the)
{
	uint32_t id;
	size_t size;
	int curve, rc;
	wim_store *st = ec_args(the, 2, &id, &curve, &size);
	rc = read_scalar(st, id, curve, size);
	if (rc == WIM_OK)
		rc = wim_ec_public(curve, io, ec_out, scratch, sizeof(scratch));
	wipe(io, sizeof(io));
	wipe(scratch, wim_ec_scratch_size());
	check(the, rc);
	xsmcSetArrayBuffer(xsResult, ec_out, (xsIntegerValue)(2 * size));
}

/*
 * The ephemeral key of the secure channel (Noise's e): a scalar drawn in C into this RAM slot, never written
 * to flash and never returned to JavaScript; ecEphemeral replaces (and first wipes) the previous one,
 * ecEphemeralClear wipes it. Its curve is kept with it: ecEphemeralEcdh takes only the peer's point.
 */
static uint8_t eph_d[WIM_XS_EC_BYTES];
static int eph_curve; /* 0: no ephemeral key */

static void eph_clear(void)
{
	wipe(eph_d, sizeof(eph_d));
	eph_curve = 0;
}

void xs_wim_ec_ephemeral(xsMachine *the)
{
	int curve, rc;
	size_t size;
	need_args(the, 1);
	curve = arg_curve(the, 0);
	size = wim_ec_size(curve);
	eph_clear();
	rc = wim_ec_draw(curve, wim_host_rng(), eph_d, scratch, sizeof(scratch));
	if (rc == WIM_OK)
		rc = wim_ec_public(curve, eph_d, ec_out, scratch, sizeof(scratch));
	wipe(scratch, wim_ec_scratch_size());
	if (rc != WIM_OK) {
		eph_clear();
		throw_wim(the, rc);
	}
	eph_curve = curve;
	xsmcSetArrayBuffer(xsResult, ec_out, (xsIntegerValue)(2 * size));
}

void xs_wim_ec_ephemeral_ecdh(xsMachine *the)
{
	const uint8_t *peer;
	uint32_t peer_len;
	size_t size;
	int rc;
	need_args(the, 1);
	peer = arg_bytes(the, 0, &peer_len);
	if (!eph_curve)
		throw_wim(the, WIM_E_NOTFOUND); /* no ephemeral key: ecEphemeral first */
	size = wim_ec_size(eph_curve);
	if (peer_len != 2 * size)
		xsRangeError("peer must be x and y, %d bytes", (int)(2 * size));
	if (wim_ec_scratch_size() > sizeof(scratch))
		throw_wim(the, WIM_E_SCRATCH);
	/* the core calls no JavaScript, so `peer` stays put */
	rc = wim_ec_ecdh(eph_curve, eph_d, peer, ec_out, scratch, sizeof(scratch));
	wipe(scratch, wim_ec_scratch_size());
	ecdh_result(the, rc, size);
}

void xs_wim_ec_ephemeral_clear(xsMachine *the)
{
	(void)the;
	eph_clear();
}

/*
 * ChaCha20-Poly1305 (wim_aead) with Noise's nonce for ChaChaPoly: 4 zero bytes, then the 64-bit counter
 * little-endian (here below 2^32). The key comes from JavaScript (the channel's CipherState) and is used
 * in place. Messages are at most Noise's 65535 bytes with the tag. The result is allocated before the
 * arguments' bytes are read, so that no allocation can move them while the core runs.
 */
#define WIM_XS_AEAD_MAX 65535u

static void aead_nonce(xsMachine *the, uint8_t nonce[WIM_AEAD_NONCE])
{
	uint32_t counter = arg_uint(the, 1, 0, 4294967295.0, "counter");
	memset(nonce, 0, WIM_AEAD_NONCE);
	nonce[4] = (uint8_t)counter;
	nonce[5] = (uint8_t)(counter >> 8);
	nonce[6] = (uint8_t)(counter >> 16);
	nonce[7] = (uint8_t)(counter >> 24);
}

/* (key, counter, ad, text): checks them; the length of text; the nonce. */
static uint32_t aead_args(xsMachine *the, uint8_t nonce[WIM_AEAD_NONCE])
{
	uint32_t key_len, ad_len, text_len;
	need_args(the, 4);
	arg_bytes(the, 0, &key_len);
	if (key_len != WIM_AEAD_KEY)
		xsRangeError("key must be %d bytes", WIM_AEAD_KEY);
	aead_nonce(the, nonce);
	arg_bytes(the, 2, &ad_len);
	arg_bytes(the, 3, &text_len);
	return text_len;
}

void xs_wim_aead_seal(xsMachine *the)
{
	uint8_t nonce[WIM_AEAD_NONCE];
	const uint8_t *key, *ad, *pt;
	uint32_t key_len, ad_len, pt_len = aead_args(the, nonce);
	uint8_t *out;
	if (pt_len > WIM_XS_AEAD_MAX - WIM_AEAD_TAG)
		xsRangeError("plaintext longer than %d bytes", (int)(WIM_XS_AEAD_MAX - WIM_AEAD_TAG));
	xsmcSetArrayBuffer(xsResult, NULL, (xsIntegerValue)(pt_len + WIM_AEAD_TAG));
	/* no allocation from here on */
	out = xsmcToArrayBuffer(xsResult);
	key = arg_bytes(the, 0, &key_len);
	ad = arg_bytes(the, 2, &ad_len);
	pt = arg_bytes(the, 3, &pt_len);
	check(the, wim_aead_seal(key, nonce, ad, ad_len, pt, pt_len, out));
}

void xs_wim_aead_open(xsMachine *the)
{
	uint8_t nonce[WIM_AEAD_NONCE];
	const uint8_t *key, *ad, *ct;
	uint32_t key_len, ad_len, ct_len = aead_args(the, nonce);
	uint8_t *out;
	int rc;
	if (ct_len > WIM_XS_AEAD_MAX)
		xsRangeError("ciphertext longer than %d bytes", (int)WIM_XS_AEAD_MAX);
	if (ct_len < WIM_AEAD_TAG) {
		xsmcSetUndefined(xsResult); /* no room for a tag: not authentic */
		return;
	}
	xsmcSetArrayBuffer(xsResult, NULL, (xsIntegerValue)(ct_len - WIM_AEAD_TAG));
	/* no allocation from here on */
	out = xsmcToArrayBuffer(xsResult);
	key = arg_bytes(the, 0, &key_len);
	ad = arg_bytes(the, 2, &ad_len);
	ct = arg_bytes(the, 3, &ct_len);
	rc = wim_aead_open(key, nonce, ad, ad_len, ct, ct_len, out);
	if (rc == WIM_E_AUTH) {
		xsmcSetUndefined(xsResult); /* out was zeroed by the core; the buffer is dropped */
		return;
	}
	check(the, rc);
}

/*
 * Ed25519 in C (wim_ed25519): the 32-byte seed is read from the store into `io`, used and wiped here; it
 * never reaches JavaScript. The public key is derived from the seed in C on every signature.
 */

/* The seed of SECRET record `id` (an Ed25519 private key's, by its object record) into io[0..32). */
static int read_seed(wim_store *st, uint32_t id)
{
	uint32_t length = 0;
	int rc = check_kind(st, id, KIND_ED25519);
	if (rc == WIM_OK)
		rc = wim_store_read_secret(st, id, io, sizeof(io), &length);
	if (rc == WIM_OK && length != WIM_ED25519_SEED)
		rc = WIM_E_SECRET; /* not an Ed25519 seed */
	return rc;
}

/* The arguments every Ed25519 function starts with: (id, ...), at least `count` of them; the store. */
static wim_store *ed_args(xsMachine *the, int count, uint32_t *id)
{
	need_args(the, count);
	*id = arg_id(the, 0);
	if (wim_ed25519_scratch_size() > sizeof(scratch))
		throw_wim(the, WIM_E_SCRATCH);
	return open_store(the);
}

void xs_wim_ed_sign(xsMachine *the)
{
	wim_store *st;
	const uint8_t *message;
	uint32_t id, length;
	int rc;
	st = ed_args(the, 2, &id);
	message = arg_bytes(the, 1, &length);
	/* the core reads flash and computes; it calls no JavaScript, so `message` stays put */
	rc = read_seed(st, id);
	if (rc == WIM_OK)
		rc = wim_ed25519_sign(io, message, length, ec_out, scratch, sizeof(scratch));
	wipe(io, sizeof(io));
	wipe(scratch, wim_ed25519_scratch_size());
	check(the, rc);
	xsmcSetArrayBuffer(xsResult, ec_out, WIM_ED25519_SIG);
}

void xs_wim_ed_public(xsMachine *the)
{
	wim_store *st;
	uint32_t id;
	int rc;
	st = ed_args(the, 1, &id);
	rc = read_seed(st, id);
	if (rc == WIM_OK)
		rc = wim_ed25519_public(io, ec_out, scratch, sizeof(scratch));
	wipe(io, sizeof(io));
	wipe(scratch, wim_ed25519_scratch_size());
	check(the, rc);
	xsmcSetArrayBuffer(xsResult, ec_out, WIM_ED25519_PUBLIC);
}

void xs_wim_ed_generate(xsMachine *the)
{
	wim_store *st;
	uint32_t id;
	int rc;
	st = ed_args(the, 1, &id);
	rc = wim_ed25519_generate(st, id, wim_host_rng(), ec_out, scratch, sizeof(scratch));
	wipe(scratch, wim_ed25519_scratch_size());
	check(the, rc);
	xsmcSetArrayBuffer(xsResult, ec_out, WIM_ED25519_PUBLIC);
}

/* hash(alg, data): the digest of `data`. alg (HASH of modules/wim/native.ts): 1 SHA-1, 2 SHA-224,
 * 3 SHA-256, 4 SHA-384, 5 SHA-512. For RSA-PSS/OAEP (MGF1 runs over the secret decrypted block: the
 * context is wiped) and PIN verifiers. The core calls no JavaScript, so `data` stays put. */
void xs_wim_hash(xsMachine *the)
{
	static const uint8_t sizes[] = { WIM_SHA1_LEN, WIM_SHA224_LEN, WIM_SHA256_LEN, WIM_SHA384_LEN, WIM_SHA512_LEN };
	union { wim_sha1 s1; wim_sha256 s256; wim_sha512 s512; } c;
	uint8_t out[WIM_SHA512_LEN];
	const uint8_t *data;
	uint32_t alg, length;
	need_args(the, 2);
	alg = arg_uint(the, 0, 1, 5, "alg");
	data = arg_bytes(the, 1, &length);
	switch (alg) {
	case 1:
		wim_sha1_init(&c.s1);
		wim_sha1_update(&c.s1, data, length);
		wim_sha1_final(&c.s1, out);
		break;
	case 2:
	case 3:
		(alg == 2 ? wim_sha224_init : wim_sha256_init)(&c.s256);
		wim_sha256_update(&c.s256, data, length);
		wim_sha256_final(&c.s256, out);
		break;
	default:
		(alg == 4 ? wim_sha384_init : wim_sha512_init)(&c.s512);
		wim_sha512_update(&c.s512, data, length);
		wim_sha512_final(&c.s512, out);
		break;
	}
	wipe(&c, sizeof(c));
	xsmcSetArrayBuffer(xsResult, out, sizes[alg - 1]);
	wipe(out, sizeof(out));
}
