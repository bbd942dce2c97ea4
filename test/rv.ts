/** Test helper: the CK_RV a device or agent call ends with. */
import { CKR, PkcsError } from "../modules/at/pkcs11.js";

/** Awaits `p`: CKR_OK when it resolves, the CK_RV of a PkcsError when it rejects; any other error is rethrown. */
export async function rvOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return CKR.OK;
  } catch (e) {
    if (e instanceof PkcsError) return e.rv;
    throw e;
  }
}
