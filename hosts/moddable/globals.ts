/**
 * Installs the globals the AT engine and the security manager call at run time (Moddable builds: ESP32
 * and the Linux check target). XS has no TextEncoder/TextDecoder of its own: Moddable's text/encoder and
 * text/decoder modules provide them. No module calls them while loading (they are all preloaded), but
 * hosts/moddable/main.ts still imports this first, before firmware/main starts the firmware.
 */
import TextDecoder from "text/decoder";
import TextEncoder from "text/encoder";

const g = globalThis as unknown as Record<string, unknown>;
g.TextEncoder ??= TextEncoder;
g.TextDecoder ??= TextDecoder;
