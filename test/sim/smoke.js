// test/sim/smoke.js — a small bundle for build/wim-sim: exercises the globals the host installs
// and echoes every byte received on the PTY. Run: build/wim-sim --bundle test/sim/smoke.js --flash F
(function () {
  "use strict";
  const checks = [];
  const check = (name, ok) => { checks.push(name); if (!ok) throw new Error("smoke: " + name + " failed"); };

  check("console", typeof console.log === "function");
  check("bigint", (2n ** 127n - 1n) % 1000n === 727n);
  const a = crypto.getRandomValues(new Uint8Array(32));
  const b = crypto.getRandomValues(new Uint8Array(32));
  check("random", a.length === 32 && a.some((x, i) => x !== b[i]));
  check("random u32", crypto.getRandomValues(new Uint32Array(4)).length === 4);
  let threw = false;
  try { crypto.getRandomValues(new Float64Array(1)); } catch (e) { threw = e instanceof TypeError; }
  check("random float rejected", threw);
  const enc = new TextEncoder().encode("h\u00e9\u20ac\u{1F600}\0");
  check("encode", enc.length === 1 + 2 + 3 + 4 + 1 && enc[enc.length - 1] === 0);
  check("decode", new TextDecoder().decode(enc) === "h\u00e9\u20ac\u{1F600}\0");
  check("decode bad", new TextDecoder().decode(new Uint8Array([0x61, 0xff, 0x62])) === "a\ufffdb");
  threw = false;
  try { __native("no_such_thing"); } catch (e) { threw = e instanceof TypeError; }
  check("native unknown", threw);

  const write = __native("sim_serial_write");
  const onReceive = __native("sim_serial_on_receive");
  onReceive((data) => {
    if (!(data instanceof ArrayBuffer)) throw new Error("not an ArrayBuffer");
    const bytes = new Uint8Array(data);
    if (bytes[0] === 0x21 /* ! */) throw new Error("deliberate exception in the receive callback");
    write(data);
  });

  const t0 = performance.now();
  Promise.resolve(1).then((v) => {
    check("promise", v === 1);
    setTimeout((x) => {
      check("timeout args", x === "arg");
      console.log("smoke: timeout fired after", Math.round(performance.now() - t0), "ms; checks:", checks.length + 2);
      let n = 0;
      const id = setInterval(() => { if (++n === 3) { clearInterval(id); console.log("smoke: interval ran 3 times"); } }, 5);
    }, 20, "arg");
  });
  (async () => { await null; console.log("smoke: async ok", { checks: checks.length }); })();
  console.log("smoke: top level done");
})();
