/**
 * Base64 (RFC 4648, standard alphabet, padded) for binary payloads on the AT link.
 * Written here because XS has no atob/btoa; both ends use this one codec.
 */
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

const CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));

/** Text of Latin-1 character codes, converted in slices small enough for a device's stack. */
export function codesToString(codes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < codes.length; i += 256) s += String.fromCharCode.apply(null, codes.subarray(i, i + 256) as unknown as number[]);
  return s;
}

/** Encodes bytes as padded base64 text. */
export function toBase64(bytes: Uint8Array): string {
  const n = bytes.length;
  const out = new Uint8Array(Math.ceil(n / 3) * 4);
  let i = 0, o = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out[o++] = CODES[v >> 18];
    out[o++] = CODES[(v >> 12) & 63];
    out[o++] = CODES[(v >> 6) & 63];
    out[o++] = CODES[v & 63];
  }
  if (i < n) {
    const v = (bytes[i] << 16) | (i + 1 < n ? bytes[i + 1] << 8 : 0);
    out[o++] = CODES[v >> 18];
    out[o++] = CODES[(v >> 12) & 63];
    out[o++] = i + 1 < n ? CODES[(v >> 6) & 63] : 61;
    out[o++] = 61;
  }
  return codesToString(out);
}

/**
 * Latin-1 codes of a string. XS keeps strings as UTF-8, so charCodeAt(i) costs O(i) there: text
 * that may be long goes through TextEncoder (ASCII is the same in UTF-8), short text the loop.
 */
export function stringCodes(text: string): Uint8Array {
  const utf8 = new TextEncoder().encode(text);
  if (utf8.length === text.length) return utf8; // ASCII
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/** Decodes padded base64 text; returns undefined for anything that is not canonical base64. */
export function fromBase64(input: string): Uint8Array | undefined {
  const text = stringCodes(input);
  const len = text.length;
  if (len % 4 !== 0) return undefined;
  let pad = 0;
  if (len > 0 && text[len - 1] === 61) pad = text[len - 2] === 61 ? 2 : 1;
  const out = new Uint8Array((len / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < len; i += 4) {
    let v = 0;
    for (let j = 0; j < 4; j++) {
      const c = text[i + j];
      let d: number;
      if (c === 61 && i + 4 === len && j >= 4 - pad) d = 0;
      else if (c < 128 && (d = DECODE[c]) >= 0) { /* a data character */ }
      else return undefined;
      v = (v << 6) | d;
    }
    if (o < out.length) out[o++] = v >> 16;
    if (o < out.length) out[o++] = (v >> 8) & 255;
    if (o < out.length) out[o++] = v & 255;
  }
  // canonical: the bits dropped by the padding must be zero
  if (pad > 0 && toBase64(out.subarray(out.length - (3 - pad))) !== input.slice(len - 4)) return undefined;
  return out;
}
