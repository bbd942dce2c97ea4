import type { NativeCrypto } from "../../modules/wim/native.js";
declare const native: NativeCrypto;
export default native;
/** Fills an ArrayBuffer from the ESP32 hardware RNG. */
export declare function hardwareRandom(buffer: ArrayBuffer): void;
