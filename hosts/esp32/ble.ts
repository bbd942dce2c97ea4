/**
 * The ESP32's BLE link: Moddable's BLEServer (modules/network/ble, NimBLE) serving the GATT serial
 * service of docs/ble.md (hosts/esp32/bleservices/wim.json), its callbacks forwarded to the pure BLE
 * transport (modules/wim/ble.ts) that the simulator runs too (sim/ble.ts, on its radio model).
 * Advertises the service UUID, and the name `WIM-` + the device serial in the scan response (a
 * complete-name structure there holds 29 bytes; the ESP32's name is 19). Advertising starts again after
 * each disconnect (NimBLE serves one central).
 *
 * Link-layer security, the second layer under the secure channel (docs/channel.md, "BLE bonding"): the
 * server asks for encryption and bonding with LE Secure Connections (NimBLE's SM; Moddable's ESP32
 * sdkconfig defaults set CONFIG_BT_NIMBLE_SM_SC=y), and RX/TX need an encrypted link
 * (writeEncrypted / readEncrypted in bleservices/wim.json), so a central that has not bonded gets ATT's
 * Insufficient Encryption and BlueZ pairs first. The board has no display or keyboard: the bond is Just
 * Works (no MITM protection); what authenticates the PC is the Noise channel's paired key, and the bond
 * only keeps passive listeners of a bonded link out. Unpairing every host deletes every bond
 * (SM.deleteAllBondings, through Transport.forgetBonds).
 * Type-checked against Moddable's typings (tsconfig.esp32.json, with hosts/esp32/ble.d.ts for the
 * callbacks they lack); built only with the Moddable SDK.
 */
import BLEServer from "bleserver";
import { uuid } from "btutils";
import GAP from "gap";
import type { Characteristic } from "gatt";
import { type IOCapability, SM } from "sm";
import Timer from "timer";
import { BleTransport } from "modules/wim/ble";

/** IOCapability.NoInputNoOutput of Moddable's sm module (an ambient const enum: its value is written here). */
const NO_INPUT_NO_OUTPUT = 0 as IOCapability;

/** The longest name a complete-name AD structure of a 31-byte scan response holds. */
const NAME_MAX = 29;

/** Moddable's BLEServer for the WIM serial service, forwarding to `link`. */
class WimBleServer extends BLEServer {
  /** TX, once the central has enabled its notifications. */
  private tx: Characteristic | undefined;
  private link: BleTransport | undefined;

  constructor(private readonly name: string) {
    super();
  }

  /** Attaches the transport (events before this are ignored: there is no central before onReady). */
  attach(link: BleTransport): void {
    this.link = link;
  }

  /** One notification of TX (an ArrayBuffer, the characteristic's type); Moddable drops NimBLE's return
   * code, so a full stack loses it silently. */
  notify(bytes: Uint8Array): void {
    if (!this.tx) return;
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
    this.notifyValue(this.tx, whole.buffer);
  }

  private advertise(): void {
    this.startAdvertising({
      advertisingData: {
        flags: GAP.ADFlag.LE_GENERAL_DISCOVERABLE_MODE | GAP.ADFlag.NO_BR_EDR,
        completeUUID128List: [uuid`57494D01-7A2E-4C55-8B1E-2F9D3C6A5B00`],
      },
      scanResponseData: { completeName: this.name.slice(0, NAME_MAX) },
    });
  }

  onReady(): void {
    this.deviceName = this.name.slice(0, NAME_MAX);
    this.securityParameters = { encryption: true, bonding: true, mitm: false, ioCapability: NO_INPUT_NO_OUTPUT };
    this.advertise();
  }

  onConnected(): void {
    this.tx = undefined;
    this.link?.onConnected();
  }

  onDisconnected(): void {
    this.tx = undefined;
    this.link?.onDisconnected();
    this.advertise();
  }

  onMTUExchanged(mtu: number): void {
    this.link?.onMTUExchanged(mtu);
  }

  onCharacteristicNotifyEnabled(characteristic: Characteristic): void {
    this.tx = characteristic;
    this.link?.onCharacteristicNotifyEnabled();
  }

  onCharacteristicNotifyDisabled(): void {
    this.tx = undefined;
    this.link?.onCharacteristicNotifyDisabled();
  }

  onCharacteristicWritten(_characteristic: Characteristic, value: ArrayBuffer): void {
    this.link?.onCharacteristicWritten(new Uint8Array(value));
  }
}

/** The BLE transport of the ESP32 Env: advertises `WIM-` + `serial`. */
export function bleTransport(serial: string): BleTransport {
  const server = new WimBleServer("WIM-" + serial);
  const link = new BleTransport({ notifyValue: (bytes) => server.notify(bytes), forgetBonds: () => SM.deleteAllBondings() }, (callback, ms) => {
    const timer = Timer.set(() => callback(), ms);
    return () => Timer.clear(timer);
  });
  server.attach(link);
  return link;
}
