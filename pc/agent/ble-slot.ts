/**
 * `wim agent --ble`'s one device in the registry (docs/agent.md): a BLE reconnect within
 * BLE_DETACH_MS keeps the device (its sessions start afresh, as after a restart: Device.relinkStream);
 * a disconnect that lasts longer detaches it (its sessions answer CKR_DEVICE_REMOVED, its slot has no
 * token), and the reconnect that follows attaches it again in the same slot.
 */
import { type BleCentral, type BleStream, keepConnected } from "./ble.js";
import { Device, type SecureOptions } from "./device.js";
import type { Registry } from "./registry.js";

/** How long a BLE device may be away before its slot shows no token. */
export const BLE_DETACH_MS = 10_000;

/** Attaches the device on `stream` and keeps its slot across reconnects; resolves once attached. */
export async function attachBle(registry: Registry, central: BleCentral, stream: BleStream, secure: SecureOptions,
  log?: (text: string) => void, detachAfterMs = BLE_DETACH_MS): Promise<Device> {
  const options: SecureOptions = { ...secure, linkKind: "ble" };
  let device = Device.over(stream, options);
  await device.attach();
  registry.attach(device, `BLE ${stream.address}`);
  let away: ReturnType<typeof setTimeout> | undefined;
  const watch = (s: BleStream) => s.onClose(() => {
    if (!s.lost || away) return;
    device.awaitRelink(); // calls meanwhile wait for the reconnect (or the detach below)
    away = setTimeout(() => {
      log?.(`${s.address} away for ${detachAfterMs} ms: its slot shows no token until it is back`);
      registry.detach(device);
    }, detachAfterMs);
  });
  watch(stream);
  keepConnected(central, stream, async (s) => {
    if (away) clearTimeout(away);
    away = undefined;
    if (device.gone) {
      const next = Device.over(s, options);
      await next.attach();
      device = next;
      registry.attach(device, `BLE ${s.address}`);
    } else {
      await device.relinkStream(s);
    }
    watch(s);
  }, log);
  return device;
}
