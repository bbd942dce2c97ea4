/**
 * The one place where failures of the C module (Error("WIM_E_…") from the xsmc glue, RangeError
 * for an oversized record) become the CK_RV that PKCS#11 names for them.
 */
import { CKR, PkcsError } from "../at/pkcs11.js";

/** By the code at the start of the glue's message (a Map: no message text becomes a property key on XS). */
const BY_CODE = new Map<string, number>([
  ["WIM_E_ARG", CKR.ARGUMENTS_BAD],
  ["WIM_E_SCRATCH", CKR.DEVICE_MEMORY],
  ["WIM_E_FLASH", CKR.DEVICE_ERROR],
  ["WIM_E_FULL", CKR.DEVICE_MEMORY],
  ["WIM_E_NOTFOUND", CKR.KEY_HANDLE_INVALID],
  ["WIM_E_SECRET", CKR.ATTRIBUTE_SENSITIVE],
  ["WIM_E_CORRUPT", CKR.DEVICE_ERROR],
  ["WIM_E_FAULT", CKR.FUNCTION_FAILED],
  ["WIM_E_RNG", CKR.DEVICE_ERROR],
  ["WIM_E_TOOBIG", CKR.DEVICE_MEMORY],
  ["WIM_E_CANCELED", CKR.FUNCTION_CANCELED],
  ["WIM_E_AUTH", CKR.ENCRYPTED_DATA_INVALID],
]);

/** A PkcsError for any failure: PkcsErrors pass through, C module errors are mapped, the rest is CKR_GENERAL_ERROR. */
export function toPkcsError(e: unknown): PkcsError {
  if (e instanceof PkcsError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const code = /^WIM_E_[A-Z]+/.exec(message)?.[0];
  const rv = code === undefined ? undefined : BY_CODE.get(code);
  if (rv !== undefined) return new PkcsError(rv, message);
  if (e instanceof RangeError && /record larger than/.test(message)) return new PkcsError(CKR.DEVICE_MEMORY, message);
  // the simulator's XS heap ran out (docs/simulator.md, "Memory"): the command fails, the device goes on
  if (e instanceof RangeError && message === "memory full") return new PkcsError(CKR.DEVICE_MEMORY, message);
  return new PkcsError(CKR.GENERAL_ERROR, message);
}
