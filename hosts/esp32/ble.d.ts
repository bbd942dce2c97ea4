// What the pinned @moddable/typings (ble/bleserver.d.ts) lack of Moddable's BLEServer and that
// hosts/esp32/ble.ts uses: the server's MTU callback (modules/network/ble's NimBLE server calls
// onMTUExchanged(mtu) when the central has exchanged the MTU) and the notification-disabled callback.
// Declared here, by interface merging, until the typings have them.
import type { Characteristic } from "gatt";

declare module "bleserver" {
  interface BLEServer {
    /** The central exchanged the ATT MTU; `mtu` is the agreed one. */
    onMTUExchanged(mtu: number): void;
    /** The central disabled notifications on `characteristic`. */
    onCharacteristicNotifyDisabled(characteristic: Characteristic): void;
  }
}
