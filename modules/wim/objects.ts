/**
 * Token objects in the key store: each object is the PUBLIC record of its handle holding its
 * attributes (template encoding); a private key's secret part is the SECRET record of the same
 * handle, written by the C module (RSA) or by putSecret (EC). Record 1 holds the token state;
 * record 2 the next object handle; object handles start at FIRST_OBJECT.
 *
 * Handles are never reused in the device's life: they come from a counter kept in the store (record
 * 2), which every creation advances in the same transaction as the object it creates, so a stale
 * handle never names a newer object (it is CKR_OBJECT_HANDLE_INVALID). The counter survives
 * C_InitToken; only formatting the store (an empty or unreadable partition) starts it again.
 */
import { CKR, PkcsError } from "../at/pkcs11.js";
import { type Attribute, decodeTemplate, encodeTemplate } from "../at/template.js";
import type { NativeCrypto } from "./native.js";

/** Store id of the token-state record. */
export const TOKEN_RECORD = 1;
/** Store id of the next-handle record (a u32, little-endian). */
export const HANDLE_RECORD = 2;
/** First store id used for objects. */
export const FIRST_OBJECT = 16;
/** Token object handles stay below this (session objects use the handles above it). */
export const END_OBJECT = 0x40000000;

/** An object's attributes by type. */
export type AttributeMap = Map<number, Uint8Array>;

/** Objects of the token, cached in RAM after the first read. */
export class ObjectStore {
  private cache = new Map<number, AttributeMap>();
  private loaded = false;
  /** The next handle to hand out (persisted by saveNext). */
  private next = FIRST_OBJECT;
  /** The store holds the counter (a store from before it had none). */
  private saved = false;

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

  /**
   * A handle no object ever had. The caller creates the object and calls saveNext in the same store
   * transaction (or reset() after an abort, which gives the handle back).
   */
  allocate(): number {
    this.load();
    if (this.next >= END_OBJECT) throw new PkcsError(CKR.DEVICE_MEMORY, "object handles used up");
    return this.next++;
  }

  /** Writes the handle counter (inside the creating transaction). */
  saveNext(): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, this.next, true);
    this.native.storePut(HANDLE_RECORD, b.buffer);
    this.saved = true;
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
    this.load();
    if (!this.saved) this.saveNext(); // else a restart would hand out the highest handle again
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
    const counter = this.native.storeGet(HANDLE_RECORD);
    this.saved = counter !== undefined && counter.byteLength === 4;
    this.next = this.saved ? new DataView(counter!).getUint32(0, true) : FIRST_OBJECT;
    for (const id of this.native.storeIds()) {
      if (id < FIRST_OBJECT) continue;
      if (id >= this.next) this.next = id + 1; // a store written before the counter existed
      const raw = this.native.storeGet(id);
      const attrs = raw && decodeTemplate(new Uint8Array(raw));
      if (!attrs) continue; // unreadable object: skipped, never fatal
      this.cache.set(id, new Map(attrs.map((a) => [a.type, a.value])));
    }
  }
}
