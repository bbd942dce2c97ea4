/**
 * Installs the globals the security manager and @noble expect before any of them loads (Moddable
 * builds: ESP32 and the Linux check target). XS has no TextEncoder/TextDecoder of its own: Moddable's
 * text/encoder and text/decoder modules provide them, and @noble/hashes calls TextEncoder while its
 * modules load, so this module must be evaluated first — hosts/moddable/main.ts imports it before the
 * firmware.
 */
import TextDecoder from "text/decoder";
import TextEncoder from "text/encoder";

const g = globalThis as unknown as Record<string, unknown>;
g.TextEncoder ??= TextEncoder;
g.TextDecoder ??= TextDecoder;
