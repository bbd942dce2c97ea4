// The C module's host functions on the ESP32, bound by Moddable's xsc `@` syntax.
// The names are those of modules/wim/native.ts (NATIVE_NAMES); the functions live in
// modules/wim/native/wim_xs.c, the same glue file the simulator links.
function xs_wim_store_open() @ "xs_wim_store_open";
function xs_wim_store_format() @ "xs_wim_store_format";
function xs_wim_store_get() @ "xs_wim_store_get";
function xs_wim_store_put() @ "xs_wim_store_put";
function xs_wim_store_put_secret() @ "xs_wim_store_put_secret";
function xs_wim_store_remove() @ "xs_wim_store_remove";
function xs_wim_store_ids() @ "xs_wim_store_ids";
function xs_wim_rsa_generate() @ "xs_wim_rsa_generate";
function xs_wim_rsa_private() @ "xs_wim_rsa_private";
function xs_wim_ec_sign() @ "xs_wim_ec_sign";
function xs_wim_ec_ecdh() @ "xs_wim_ec_ecdh";
function xs_wim_ec_generate() @ "xs_wim_ec_generate";
function xs_wim_ed_sign() @ "xs_wim_ed_sign";
function xs_wim_ed_public() @ "xs_wim_ed_public";
function xs_wim_ed_generate() @ "xs_wim_ed_generate";
function xs_wim_store_begin() @ "xs_wim_store_begin";
function xs_wim_store_commit() @ "xs_wim_store_commit";
function xs_wim_store_abort() @ "xs_wim_store_abort";
function wim_host_random() @ "wim_host_random";
function wim_host_serial() @ "wim_host_serial";

/** Fills an ArrayBuffer from the ESP32 hardware RNG (hosts/esp32/wim_host.c). */
export { wim_host_random as hardwareRandom };
/** The device's serial number: "ESP" and the eFuse MAC in hex (hosts/esp32/wim_host.c). */
export { wim_host_serial as deviceSerial };

export default {
  storeOpen: xs_wim_store_open,
  storeFormat: xs_wim_store_format,
  storeGet: xs_wim_store_get,
  storePut: xs_wim_store_put,
  storePutSecret: xs_wim_store_put_secret,
  storeRemove: xs_wim_store_remove,
  storeIds: xs_wim_store_ids,
  rsaGenerate: xs_wim_rsa_generate,
  rsaPrivate: xs_wim_rsa_private,
  ecSign: xs_wim_ec_sign,
  ecEcdh: xs_wim_ec_ecdh,
  ecGenerate: xs_wim_ec_generate,
  edSign: xs_wim_ed_sign,
  edPublic: xs_wim_ed_public,
  edGenerate: xs_wim_ed_generate,
  storeBegin: xs_wim_store_begin,
  storeCommit: xs_wim_store_commit,
  storeAbort: xs_wim_store_abort,
};
