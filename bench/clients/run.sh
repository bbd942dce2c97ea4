#!/usr/bin/env bash
# C_Sign per second through the WIM module (module → agent → simulator) next to SoftHSMv2, in one run.
#
# Builds build/p11bench (bench/clients/p11bench.c) if needed, starts a simulated token on a fresh
# temporary state directory and a SoftHSMv2 token in a temporary token directory, times
# C_SignInit + C_Sign for RSA-2048 (CKM_RSA_PKCS) and P-256 (CKM_ECDSA) on both, and prints the
# figures, the ratios (WIM / SoftHSMv2) and the targets:
#   RSA-2048 at least 0.5× SoftHSMv2; P-256 at most 2 ms per signature.
# It also times C_GenerateRandom(32) on the WIM token: one round trip with almost no work on the
# device, so "P-256 minus round trip" is the signature's cost inside the simulator.
# Each measurement stops after its count or its time cap; the whole run takes well under a minute.
set -euo pipefail
cd "$(dirname "$0")/../.."

MODULE=build/libwim-pkcs11.so
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
BENCH=build/p11bench
PIN=123456

for f in "$MODULE" build/wim-sim build/firmware.js; do
  [ -e "$f" ] || { echo "bench/clients: $f is missing; run make build first" >&2; exit 1; }
done
command -v softhsm2-util >/dev/null && [ -e "$SOFTHSM_MODULE" ] \
  || { echo "bench/clients: SoftHSMv2 is missing (Debian package softhsm2)" >&2; exit 1; }

if [ ! -x "$BENCH" ] || [ bench/clients/p11bench.c -nt "$BENCH" ] || [ pc/pkcs11/wim_pkcs11.h -nt "$BENCH" ]; then
  mkdir -p build
  gcc -O2 -Wall -Wextra -Werror -Ipc/pkcs11 -o "$BENCH" bench/clients/p11bench.c -ldl
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wim-bench-clients-XXXXXX")
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# The simulated token and its agent.
mkdir -p "$tmp/wim"
export WIM_AGENT_SOCKET="$tmp/wim/agent.sock"
: >"$tmp/sim.log"
node pc/cli/wim.mjs sim --state "$tmp/wim" --socket "$WIM_AGENT_SOCKET" >"$tmp/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 150); do
  grep -q '^ready ' "$tmp/sim.log" && break
  kill -0 "$sim_pid" 2>/dev/null || break
  sleep 0.2
done
grep -q '^ready ' "$tmp/sim.log" || { echo "bench/clients: the simulator did not start:" >&2; cat "$tmp/sim.log" >&2; exit 1; }

# SoftHSMv2 with its own configuration and token directory.
mkdir -p "$tmp/softhsm/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$tmp/softhsm/tokens" >"$tmp/softhsm/softhsm2.conf"
export SOFTHSM2_CONF="$tmp/softhsm/softhsm2.conf"
softhsm2-util --init-token --free --label bench --pin "$PIN" --so-pin 12345678 >/dev/null

# measure MODULE KIND COUNT MAX_SECONDS [extra args] → "per_second ms_per_op"
measure() {
  local module=$1 kind=$2 count=$3 secs=$4
  shift 4
  local line
  line=$("$BENCH" "$module" "$kind" --pin "$PIN" --count "$count" --max-seconds "$secs" "$@" | grep '^result ')
  echo "$line" >>"$tmp/results"
  sed -E 's/.*per_second=([0-9.]+) ms_per_op=([0-9.]+).*/\1 \2/' <<<"$line"
}

read -r wim_rsa_ps wim_rsa_ms < <(measure "$MODULE" rsa2048 400 8)
read -r wim_ec_ps wim_ec_ms < <(measure "$MODULE" p256 400 8)
read -r wim_rt_ps wim_rt_ms < <(measure "$MODULE" rng 500 3)
read -r shsm_rsa_ps shsm_rsa_ms < <(measure "$SOFTHSM_MODULE" rsa2048 2000 5 --token bench)
read -r shsm_ec_ps shsm_ec_ms < <(measure "$SOFTHSM_MODULE" p256 5000 3 --token bench)

awk -v wr="$wim_rsa_ps" -v wrm="$wim_rsa_ms" -v we="$wim_ec_ps" -v wem="$wim_ec_ms" -v rt="$wim_rt_ms" \
    -v sr="$shsm_rsa_ps" -v srm="$shsm_rsa_ms" -v se="$shsm_ec_ps" -v sem="$shsm_ec_ms" 'BEGIN {
  print "C_SignInit + C_Sign, WIM = module → agent → simulator (XS), SoftHSMv2 = in-process software:"
  printf "  %-24s %12s %12s %14s %12s\n", "", "WIM sig/s", "WIM ms/sig", "SoftHSMv2 sig/s", "WIM/SoftHSM"
  printf "  %-24s %12.1f %12.3f %14.1f %11.3f×\n", "RSA-2048 CKM_RSA_PKCS", wr, wrm, sr, wr / sr
  printf "  %-24s %12.1f %12.3f %14.1f %11.4f×\n", "P-256 CKM_ECDSA", we, wem, se, we / se
  printf "  round trip to the device (C_GenerateRandom 32 bytes): %.3f ms\n", rt
  printf "  P-256 signature inside the simulator (sign minus round trip): about %.3f ms\n", wem - rt
  printf "  target RSA-2048 ≥ 0.5× SoftHSMv2: %s (%.3f×)\n", (wr / sr >= 0.5 ? "met" : "MISSED"), wr / sr
  printf "  target P-256 ≤ 2 ms per signature: %s (%.3f ms end to end, %.3f ms in the simulator)\n", \
    (wem <= 2 ? "met" : (wem - rt <= 2 ? "met in the simulator, not end to end" : "MISSED")), wem, wem - rt
}'
