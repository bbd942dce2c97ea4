/**
 * The firmware's start: builds the platform's Env and starts the firmware on it (firmware/firmware.ts,
 * preloaded on the device). The same file runs on the ESP32 and in the simulator; "wim-env" resolves
 * to hosts/esp32/env.ts or sim/env.ts (manifest.json and the simulator bundle choose). This module's
 * body is the boot, so it is the one firmware module that is not preloaded.
 */
import { createEnv } from "wim-env";
import { startFirmware } from "./firmware.js";

export { REVISION } from "./firmware.js";

startFirmware(createEnv());
