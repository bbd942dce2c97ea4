import type { NativeCrypto } from "../../modules/wim/native.js";
declare const native: NativeCrypto;
export default native;
/** Fills an ArrayBuffer from the ESP32 hardware RNG. */
export declare function hardwareRandom(buffer: ArrayBuffer): void;
/** The device's serial number: "ESP" and the eFuse MAC as 12 upper-case hex digits (15 characters). */
export declare function deviceSerial(): string;
