/**
 * Key attributes read by operation Inits, kept per key until the application changes something
 * (login state, objects): C_SignInit then costs no round trip. The device checks every operation
 * again, so a key changed meanwhile by another application fails at C_Sign.
 */
import { CKA, CKR, PkcsError } from "../../modules/at/pkcs11.js";
import type { Value } from "../../modules/at/codec.js";
import { decodeTemplate, encodeTypes } from "../../modules/at/template.js";
import { wireNumber } from "./arguments.js";

type Run = (name: string, values: Value[]) => Promise<Value[][]>;

export class KeyCache {
  private readonly entries = new Map<string, Map<number, Uint8Array>>();

  /** `run` runs a device command on the application's channel. */
  constructor(private readonly run: Run) {}

  clear(): void {
    this.entries.clear();
  }

  /** The given attributes of a key; CKR_KEY_HANDLE_INVALID if the object is not visible. */
  async get(h: number, key: number, types: number[]): Promise<Map<number, Uint8Array>> {
    const cacheKey = `${key}:${types.join(",")}`;
    const hit = this.entries.get(cacheKey);
    if (hit) return hit;
    const map = await this.fetch(h, key, types);
    this.entries.set(cacheKey, map);
    return map;
  }

  private async fetch(h: number, key: number, types: number[]): Promise<Map<number, Uint8Array>> {
    let values;
    try {
      [[values]] = await this.run("+PKCSATTR", [h, wireNumber(key, CKR.KEY_HANDLE_INVALID), encodeTypes(types)]);
    } catch (e) {
      if (e instanceof PkcsError && e.rv === CKR.OBJECT_HANDLE_INVALID) throw new PkcsError(CKR.KEY_HANDLE_INVALID);
      throw e;
    }
    const map = new Map<number, Uint8Array>();
    for (const a of decodeTemplate(values as Uint8Array, true) ?? []) if (a.value instanceof Uint8Array) map.set(a.type, a.value);
    if (!map.has(CKA.CLASS) || (types.includes(CKA.KEY_TYPE) && !map.has(CKA.KEY_TYPE))) throw new PkcsError(CKR.KEY_HANDLE_INVALID);
    return map;
  }
}
