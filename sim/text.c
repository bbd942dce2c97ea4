/*
 * text.c — TextEncoder and TextDecoder (UTF-8 only), which the firmware uses and a bare XS lacks.
 *
 * XS keeps strings as UTF-8 with two twists the conversion handles: U+0000 is stored as C0 80,
 * and a surrogate may sit alone as a 3-byte sequence (ED A0..BF xx). encode() turns a pair of such
 * halves into one 4-byte sequence and a lone half into U+FFFD, as the WHATWG Encoding standard says.
 * decode() replaces each maximal invalid subpart by U+FFFD (or throws a TypeError if fatal).
 */
#include <string.h>
#include <strings.h>

#include "xsmc.h"
#include "host.h"

/* ---- TextEncoder ---- */

/* Reads one code point of an XS string at s; returns its byte length (0 at the end). */
static int xs_char(const uint8_t *s, uint32_t *cp)
{
	uint8_t b = s[0];
	if (b == 0)
		return 0;
	if (b < 0x80) { *cp = b; return 1; }
	if ((b & 0xE0) == 0xC0) { *cp = ((uint32_t)(b & 0x1F) << 6) | (s[1] & 0x3F); return 2; }
	if ((b & 0xF0) == 0xE0) { *cp = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F); return 3; }
	*cp = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
	return 4;
}

static uint8_t *put_utf8(uint8_t *out, uint32_t cp)
{
	if (cp < 0x80)
		*out++ = (uint8_t)cp;
	else if (cp < 0x800) {
		*out++ = (uint8_t)(0xC0 | (cp >> 6));
		*out++ = (uint8_t)(0x80 | (cp & 0x3F));
	}
	else if (cp < 0x10000) {
		*out++ = (uint8_t)(0xE0 | (cp >> 12));
		*out++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		*out++ = (uint8_t)(0x80 | (cp & 0x3F));
	}
	else {
		*out++ = (uint8_t)(0xF0 | (cp >> 18));
		*out++ = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
		*out++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		*out++ = (uint8_t)(0x80 | (cp & 0x3F));
	}
	return out;
}

static size_t utf8_length(uint32_t cp)
{
	return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* One pass over the XS string: counts the standard UTF-8 bytes, and writes them if out != NULL. */
static size_t encode_pass(const uint8_t *s, uint8_t *out)
{
	size_t total = 0;
	uint32_t cp, next;
	int n, m;
	while ((n = xs_char(s, &cp)) > 0) {
		s += n;
		if (cp >= 0xD800 && cp <= 0xDBFF && (m = xs_char(s, &next)) > 0 && next >= 0xDC00 && next <= 0xDFFF) {
			s += m;
			cp = 0x10000 + ((cp - 0xD800) << 10) + (next - 0xDC00);
		}
		else if (cp >= 0xD800 && cp <= 0xDFFF)
			cp = 0xFFFD;
		total += utf8_length(cp);
		if (out)
			out = put_utf8(out, cp);
	}
	return total;
}

/* __sim_text_encode(string) → Uint8Array */
static void sim_text_encode(xsMachine *the)
{
	int v = xsmcVars(1);
	size_t length;
	if (xsmcArgc < 1 || xsmcTypeOf(xsArg(0)) != xsStringType)
		xsTypeError("TextEncoder: expected a string");
	xsVar(v) = xsArg(0);
	length = encode_pass((const uint8_t *)xsmcToString(xsVar(v)), NULL);
	if (length > 0x7FFFFFFF)
		xsRangeError("TextEncoder: string too long");
	xsmcSetArrayBuffer(xsResult, NULL, (xsIntegerValue)length);
	/* no allocation between here and the end of the pass: neither chunk can move */
	encode_pass((const uint8_t *)xsmcToString(xsVar(v)), xsmcToArrayBuffer(xsResult));
	xsmcNew(xsResult, xsGlobal, xsID("Uint8Array"), &xsResult, NULL);
}

/* ---- TextDecoder ---- */

/* Decodes one code point of standard UTF-8; returns bytes consumed, with *cp = 0xFFFFFFFF for an
 * invalid (maximal) subpart. */
static size_t utf8_char(const uint8_t *s, size_t n, uint32_t *cp)
{
	uint8_t b = s[0], lower = 0x80, upper = 0xBF;
	size_t need, i;
	uint32_t value;
	if (b < 0x80) { *cp = b; return 1; }
	if (b >= 0xC2 && b <= 0xDF) { need = 1; value = b & 0x1F; }
	else if (b >= 0xE0 && b <= 0xEF) {
		need = 2; value = b & 0x0F;
		if (b == 0xE0) lower = 0xA0;
		if (b == 0xED) upper = 0x9F;
	}
	else if (b >= 0xF0 && b <= 0xF4) {
		need = 3; value = b & 0x07;
		if (b == 0xF0) lower = 0x90;
		if (b == 0xF4) upper = 0x8F;
	}
	else { *cp = 0xFFFFFFFFu; return 1; }
	for (i = 1; i <= need; i++) {
		if (i >= n || s[i] < lower || s[i] > upper) {
			*cp = 0xFFFFFFFFu;
			return i;
		}
		value = (value << 6) | (s[i] & 0x3F);
		lower = 0x80;
		upper = 0xBF;
	}
	*cp = value;
	return need + 1;
}

/* One pass: the length of the XS string for bytes; writes it if out != NULL. -1: invalid and fatal. */
static long decode_pass(const uint8_t *s, size_t n, int fatal, int ignore_bom, uint8_t *out)
{
	size_t i = 0, total = 0;
	int first = 1;
	while (i < n) {
		uint32_t cp;
		i += utf8_char(s + i, n - i, &cp);
		if (cp == 0xFFFFFFFFu) {
			if (fatal)
				return -1;
			cp = 0xFFFD;
		}
		if (first && cp == 0xFEFF && !ignore_bom) {
			first = 0;
			continue;
		}
		first = 0;
		if (cp == 0) {
			total += 2;
			if (out) { *out++ = 0xC0; *out++ = 0x80; }
		}
		else {
			total += utf8_length(cp);
			if (out)
				out = put_utf8(out, cp);
		}
	}
	return (long)total;
}

/* __sim_text_decode(bytes, fatal, ignoreBOM) → string */
static void sim_text_decode(xsMachine *the)
{
	void *data;
	xsUnsignedValue size;
	int fatal, ignore_bom;
	long length;
	if (xsmcArgc < 3)
		xsTypeError("TextDecoder: expected 3 arguments");
	fatal = xsmcTest(xsArg(1));
	ignore_bom = xsmcTest(xsArg(2));
	xsmcGetBufferReadable(xsArg(0), &data, &size);
	length = decode_pass(data, size, fatal, ignore_bom, NULL);
	if (length < 0)
		xsTypeError("TextDecoder: invalid UTF-8");
	if (length > 0x7FFFFFFF)
		xsRangeError("TextDecoder: too long");
	xsmcSetStringBuffer(xsResult, NULL, (xsIntegerValue)length);
	xsmcGetBufferReadable(xsArg(0), &data, &size); /* the allocation may have moved it */
	decode_pass(data, size, fatal, ignore_bom, (uint8_t *)xsmcToString(xsResult));
}

/* The classes are JavaScript around the two host functions (sim_text_prelude), which takes them
 * from globalThis and deletes them. */
void sim_install_text(xsMachine *the)
{
	int v = xsmcVars(1);
	xsVar(v) = xsNewHostFunction(sim_text_encode, 1);
	xsmcDefine(xsGlobal, xsID("__sim_text_encode"), xsVar(v), xsDontEnum);
	xsVar(v) = xsNewHostFunction(sim_text_decode, 3);
	xsmcDefine(xsGlobal, xsID("__sim_text_decode"), xsVar(v), xsDontEnum);
}

const char sim_text_prelude[] =
	"(function (g) {\n"
	"  'use strict';\n"
	"  const encode = g.__sim_text_encode, decode = g.__sim_text_decode;\n"
	"  delete g.__sim_text_encode; delete g.__sim_text_decode;\n"
	"  const labels = ['utf-8', 'utf8', 'unicode-1-1-utf-8'];\n"
	"  class TextEncoder {\n"
	"    get encoding() { return 'utf-8'; }\n"
	"    encode(input = '') { return encode(String(input)); }\n"
	"  }\n"
	"  class TextDecoder {\n"
	"    constructor(label = 'utf-8', options = {}) {\n"
	"      if (!labels.includes(String(label).trim().toLowerCase())) throw new RangeError('TextDecoder: only utf-8 is supported');\n"
	"      Object.defineProperty(this, 'fatal', { value: !!(options && options.fatal) });\n"
	"      Object.defineProperty(this, 'ignoreBOM', { value: !!(options && options.ignoreBOM) });\n"
	"    }\n"
	"    get encoding() { return 'utf-8'; }\n"
	"    decode(input, options) {\n"
	"      if (options && options.stream) throw new TypeError('TextDecoder: streaming is not supported');\n"
	"      return input === undefined ? '' : decode(input, this.fatal, this.ignoreBOM);\n"
	"    }\n"
	"  }\n"
	"  for (const [name, value] of [['TextEncoder', TextEncoder], ['TextDecoder', TextDecoder]])\n"
	"    Object.defineProperty(g, name, { value, writable: true, configurable: true });\n"
	"})(globalThis);\n";
