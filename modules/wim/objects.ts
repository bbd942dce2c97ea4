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
import { type Attribute, encodeTemplate } from "../at/template.js";
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

/**
 * The attributes of an encoded object (template encoding), or undefined if it is malformed. The
 * values are views of `raw`: the caller hands over a buffer of its own.
 */
export function attributeMap(raw: Uint8Array): AttributeMap | undefined {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: AttributeMap = new Map();
  for (let o = 0; o < raw.length; ) {
    if (o + 8 > raw.length) return undefined;
    const type = dv.getUint32(o, true), len = dv.getUint32(o + 4, true);
    o += 8;
    if (len > raw.length - o) return undefined;
    out.set(type, raw.subarray(o, o + len));
    o += len;
  }
  return out;
}

/** An object's attributes in template encoding (its record in the store, its bytes in RAM). */
export function encodeAttributes(attrs: AttributeMap): Uint8Array {
  const list: Attribute[] = [];
  for (const [type, value] of attrs) list.push({ type, value });
  return encodeTemplate(list);
}

/**
 * Objects of the token, read from the store when asked for. Nothing of them is kept in RAM: the
 * device's heap is the same with 2 objects or 200 (an object is decoded per use and is garbage after
 * the command; docs/esp32.md, "Memory").
 */
export class ObjectStore {
  private loaded = false;
  /** The next handle to hand out (persisted by saveNext). */
  private next = FIRST_OBJECT;
  /** The store holds the counter (a store from before it had none). */
  private saved = false;

  constructor(private readonly native: NativeCrypto) {}

  /** Every object handle, ascending. */
  handles(): number[] {
    this.load();
    return this.native.storeIds().filter((id) => id >= FIRST_OBJECT);
  }

  /** The attributes of `handle`, or undefined (no such object, or an unreadable one: never fatal). */
  get(handle: number): AttributeMap | undefined {
    if (handle < FIRST_OBJECT || handle >= END_OBJECT) return undefined;
    const raw = this.native.storeGet(handle);
    return raw && attributeMap(new Uint8Array(raw));
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
    this.native.storePut(handle, encodeAttributes(attrs).buffer as ArrayBuffer);
  }

  /** Destroys an object and its secret part. */
  remove(handle: number): void {
    this.load();
    if (!this.saved) this.saveNext(); // else a restart would hand out the highest handle again
    this.native.storeRemove(handle);
  }

  /** Reads the counter again (after the store was formatted, or a transaction aborted). */
  reset(): void {
    this.loaded = false;
  }

  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    const counter = this.native.storeGet(HANDLE_RECORD);
    this.saved = counter !== undefined && counter.byteLength === 4;
    this.next = this.saved ? new DataView(counter!).getUint32(0, true) : FIRST_OBJECT;
    // a store written before the counter existed: past its highest object
    for (const id of this.native.storeIds()) if (id >= this.next) this.next = id + 1;
  }
}
