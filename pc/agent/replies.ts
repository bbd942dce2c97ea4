/**
 * Reply encoding conventions shared by every call: output buffers (the size-query convention),
 * handle lists, and the text and version fields of the info structures.
 */
import { CKR } from "../../modules/at/pkcs11.js";
import type { RpcOutput, Writer } from "./wire.js";

/**
 * The size-query convention before an operation runs: with no buffer, or one shorter than `size`,
 * the call only reports the size (CKR_OK or CKR_BUFFER_TOO_SMALL) and the operation stays active.
 * Undefined when the buffer is big enough and the operation should run.
 */
export function sizeOnly(w: Writer, out: RpcOutput, size: number): number | undefined {
  if (out.hasBuffer && out.capacity >= size) return undefined;
  w.output(size, new Uint8Array(0));
  return out.hasBuffer ? CKR.BUFFER_TOO_SMALL : CKR.OK;
}

/** Delivers `data` to an output buffer per the size-query convention; returns the CK_RV. */
export function deliver(w: Writer, out: RpcOutput, data: Uint8Array): number {
  if (!out.hasBuffer) {
    w.output(data.length, new Uint8Array(0));
    return CKR.OK;
  }
  if (out.capacity < data.length) {
    w.output(data.length, new Uint8Array(0));
    return CKR.BUFFER_TOO_SMALL;
  }
  w.output(data.length, data);
  return CKR.OK;
}

/** A handle list (slots, mechanisms) into an `h` output: the count always, the list when it fits. */
export function handleList(w: Writer, out: RpcOutput, list: readonly number[]): number {
  if (out.hasBuffer && out.capacity < list.length) {
    w.handles(list.length, []);
    return CKR.BUFFER_TOO_SMALL;
  }
  w.handles(list.length, out.hasBuffer ? list : []);
  return CKR.OK;
}

/** A text field (blank-padded by the module). */
export function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** "1.2…" as CK_VERSION's major and minor. */
export function version(revision: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(revision);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}
