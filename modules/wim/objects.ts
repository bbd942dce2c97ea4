/**
 * Token objects in the key store: each object is the PUBLIC record of its handle holding its
 * attributes (template encoding); a private key's secret part is the SECRET record of the same
 * handle, written by the C module (RSA) or by putSecret (EC). Record 1 holds the token state;
 * object handles start at FIRST_OBJECT.
 */
import { type Attribute, decodeTemplate, encodeTemplate } from "../at/template.js";
import type { NativeCrypto } from "./native.js";

/** Store id of the token-state record. */
export const TOKEN_RECORD = 1;
/** First store id used for objects. */
export const FIRST_OBJECT = 16;

/** An object's attributes by type. */
export type AttributeMap = Map<number, Uint8Array>;

/** Objects of the token, cached in RAM after the first read. */
export class ObjectStore {
  private cache = new Map<number, AttributeMap>();
  private loaded = false;

  constructor(private readonly native: NativeCrypto) {}

  /** Every object handle, ascending. */
  handles(): number[] {
    this.load();
    return [...this.cache.keys()].sort((a, b) => a - b);
  }

  /** The attributes of `handle`, or undefined. */
  get(handle: number): AttributeMap | undefined {
    this.load();
    return this.cache.get(handle);
  }

  /** A handle no object uses yet. */
  nextHandle(): number {
    const all = this.handles();
    return all.length ? all[all.length - 1] + 1 : FIRST_OBJECT;
  }

  /** Writes an object's attributes (creating or replacing it). */
  put(handle: number, attrs: AttributeMap): void {
    const list: Attribute[] = [];
    for (const [type, value] of attrs) list.push({ type, value });
    this.native.storePut(handle, encodeTemplate(list).buffer as ArrayBuffer);
    this.load();
    this.cache.set(handle, attrs);
  }

  /** Destroys an object and its secret part. */
  remove(handle: number): void {
    this.native.storeRemove(handle);
    this.cache.delete(handle);
  }

  /** Forgets the cache (after the store was formatted). */
  reset(): void {
    this.cache.clear();
    this.loaded = false;
  }

  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    for (const id of this.native.storeIds()) {
      if (id < FIRST_OBJECT) continue;
      const raw = this.native.storeGet(id);
      const attrs = raw && decodeTemplate(new Uint8Array(raw));
      if (!attrs) continue; // unreadable object: skipped, never fatal
      this.cache.set(id, new Map(attrs.map((a) => [a.type, a.value])));
    }
  }
}
