/**
 * The agent's devices: one slot per device, known by its serial number (AT+GSN), kept while the
 * agent runs whether the device is attached or not, and the log of slot events that
 * C_WaitForSlotEvent reports (docs/agent.md).
 *
 * A slot's ID is a 31-bit hash of the serial (the first four bytes of SHA-256, top bit cleared), so
 * the same device has the same slot ID in every agent and across restarts and replugs. 0x7fffffff is
 * never used (the module's slot for "no agent"). Two serials with the same hash in one agent: the
 * later one takes the next free ID (the IDs then depend on the order the devices were first seen).
 */
import { createHash } from "node:crypto";
import type { Device, DeviceIdentity } from "./device.js";

/** The module's own slot when no agent answers: never a device's. */
export const NO_AGENT_SLOT = 0x7fffffff;
const ID_SPACE = 0x80000000;

/** The slot ID a device with `serial` gets when no other serial in the agent has it. */
export function slotIdOf(serial: string): number {
  const id = createHash("sha256").update(serial, "utf8").digest().readUInt32BE(0) & 0x7fffffff;
  return id === NO_AGENT_SLOT ? 0 : id;
}

/** One device's slot. */
export interface Slot {
  readonly id: number;
  readonly serial: string;
  /** What the device last reported about itself (kept while it is away). */
  identity: DeviceIdentity;
  /** The attached device, or undefined while it is away. */
  device: Device | undefined;
  /** The link it is (or was last) attached on: "serial /dev/ttyACM0", "BLE AA:BB:…". */
  link: string;
  /**
   * Set while the device is attached over a link that gives way to a serial port (BLE): detaches it
   * and lets its link go, so that the serial link can take the slot (docs/agent.md).
   */
  release?: () => void;
}

/** A slot's token came or went. */
export interface SlotEvent {
  /** 1, 2, … in order. */
  seq: number;
  slot: number;
  /** When (ms since the epoch). */
  time: number;
}

/** Events kept for C_WaitForSlotEvent (older ones are dropped). */
const MAX_EVENTS = 1024;

export class Registry {
  private readonly slots = new Map<number, Slot>();
  private readonly bySerial = new Map<string, Slot>();
  private readonly events: SlotEvent[] = [];
  private seq = 0;
  private readonly waiters = new Set<() => void>();
  /** Called after a device was attached or detached (for logs). */
  onChange: (slot: Slot, present: boolean) => void = () => {};

  /** A registry of one device already attached (Device.attach), on an unnamed link. */
  static single(device: Device, link = "serial"): Registry {
    const r = new Registry();
    r.attach(device, link);
    return r;
  }

  /** The known slots, attached or not (only attached ones with `presentOnly`), by ID. */
  list(presentOnly = false): Slot[] {
    return [...this.slots.values()].filter((s) => !presentOnly || s.device).sort((a, b) => a.id - b.id);
  }

  slot(id: number): Slot | undefined {
    return this.slots.get(id);
  }

  /** The slot of a serial, if the agent has seen it. */
  bySerialNumber(serial: string): Slot | undefined {
    return this.bySerial.get(serial);
  }

  /**
   * Gives an attached device (its identity read: Device.attach) its slot: the serial's slot if the
   * agent has seen it, else a new one. A second device with the serial of one attached is refused.
   */
  attach(device: Device, link: string, release?: () => void): Slot {
    const serial = device.identity.serial;
    if (!serial) throw new Error("the device reported no serial number");
    let slot = this.bySerial.get(serial);
    if (slot?.device && slot.device !== device) throw new Error(`a device with serial ${serial} is already attached (${slot.link})`);
    if (!slot) {
      let id = slotIdOf(serial);
      while (this.slots.has(id) || id === NO_AGENT_SLOT) id = (id + 1) % ID_SPACE;
      slot = { id, serial, identity: device.identity, device: undefined, link };
      this.slots.set(id, slot);
      this.bySerial.set(serial, slot);
    }
    slot.device = device;
    slot.identity = device.identity;
    slot.link = link;
    slot.release = release;
    this.event(slot, true);
    return slot;
  }

  /** The device's link is gone: its slot has no token; every session on it fails with CKR_DEVICE_REMOVED. */
  detach(device: Device): void {
    device.detach();
    const slot = [...this.slots.values()].find((s) => s.device === device);
    if (!slot) return;
    slot.device = undefined;
    slot.release = undefined;
    this.event(slot, false);
  }

  /** The attached devices' slots, for requests that name no slot (pairing, identity certificates). */
  present(): Slot[] {
    return this.list(true);
  }

  private event(slot: Slot, present: boolean): void {
    this.events.push({ seq: ++this.seq, slot: slot.id, time: Date.now() });
    if (this.events.length > MAX_EVENTS) this.events.shift();
    for (const wake of [...this.waiters]) wake();
    this.onChange(slot, present);
  }

  /**
   * The first event after the one numbered `after` (0: none seen yet) that happened at or after
   * `sinceMs` (the application's C_Initialize), or undefined.
   */
  nextEvent(after: number, sinceMs: number): SlotEvent | undefined {
    return this.events.find((e) => e.seq > after && e.time >= sinceMs);
  }

  /** nextEvent, waiting for one; undefined when `signal` aborts first (the application went away). */
  waitEvent(after: number, sinceMs: number, signal: AbortSignal): Promise<SlotEvent | undefined> {
    return new Promise((resolve) => {
      const check = () => {
        const e = this.nextEvent(after, sinceMs);
        if (!e && !signal.aborted) return;
        this.waiters.delete(check);
        signal.removeEventListener("abort", check);
        resolve(e);
      };
      this.waiters.add(check);
      signal.addEventListener("abort", check);
      check();
    });
  }
}
