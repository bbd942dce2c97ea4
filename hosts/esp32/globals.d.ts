// What the firmware finds as globals on the device: installed by env.ts (TextEncoder/TextDecoder) or
// by XS itself. The declarations follow the WHATWG shapes the firmware uses.
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: ArrayBuffer | ArrayBufferView): string;
}
