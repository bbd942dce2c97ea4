import type { NativeCrypto } from "../../modules/wim/native.js";
declare const native: NativeCrypto;
export default native;
