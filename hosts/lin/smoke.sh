#!/usr/bin/env bash
# hosts/lin/smoke.sh BINARY — the smoke test of the Moddable Linux check target (make moddable-check):
# starts the firmware built by mcconfig -p x-cli-lin on a fresh flash file, asks AT+GMM on its PTY,
# attaches `wim agent`, then real PKCS#11 clients through build/libwim-pkcs11.so: C_InitToken, the user
# PIN, a P-256 key pair generated on the token and a signature checked with OpenSSL, then an RSA-2048 key
# pair, `pkcs11-tool --test` (decryption incl. OAEP) and an RSA-PSS signature checked with OpenSSL (rsa-pad with
# the C hashes), and last, with the agent stopped, the heaviest workload of bench/memory straight on the PTY
# (RSA-2048/3072/4096 and P-256/P-384/Ed25519 key pairs with their signatures, 8 logical channels, staged
# 4 KiB and 1 KiB values, a token and seven session objects), then the same beside the most docs/policy.md
# lets applications hold (17 channels x 8 sessions, the session-object budgets full): every command must
# succeed. Prints one line
# per step that passed and the firmware's memory use ("mem(...)" lines). WIM_LIN_CREATION (see
# hosts/lin/lin_main.c) sets the XS creation block; the manifest's is used when it is unset.
set -euo pipefail
bin=$1
module=${WIM_MODULE:-build/libwim-pkcs11.so}
work=$(mktemp -d)
fw_pid= agent_pid=
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
  if [ -n "$fw_pid" ] && kill -0 "$fw_pid" 2>/dev/null; then
    kill -USR1 "$fw_pid"; sleep 0.3; kill "$fw_pid" 2>/dev/null || true; wait "$fw_pid" 2>/dev/null || true
  fi
  grep '^mem(' "$work/fw.err" 2>/dev/null | sed 's/^/  lin: /' || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "moddable-check: ${WIM_SMOKE_LABEL:-lin}: FAILED: $*"; sed 's/^/  firmware: /' "$work/fw.err" | tail -20; exit 1; }

WIM_LIN_FLASH=$work/flash.bin "$bin" >"$work/fw.out" 2>"$work/fw.err" &
fw_pid=$!
for _ in $(seq 50); do grep -q '^pty=' "$work/fw.out" && break; kill -0 $fw_pid 2>/dev/null || break; sleep 0.1; done
pty=$(sed -n 's/^pty=//p' "$work/fw.out")
[ -n "$pty" ] || fail "no pty= line (the firmware did not start)"
echo "moddable-check: lin: started ($(grep '^creation:' "$work/fw.err"), pty $pty)"

gmm=$(python3 - "$pty" <<'PY'
import os, select, sys, time, tty
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY); tty.setraw(fd)
os.write(fd, b"AT+GMM\r"); out = b""; end = time.time() + 10
while time.time() < end and b"OK\r\n" not in out and b"ERROR" not in out:
    if select.select([fd], [], [], 0.2)[0]: out += os.read(fd, 4096)
print(out.decode(errors="replace").replace("\r", "").replace("\n", " ").strip())
PY
)
[[ $gmm == *"WIM token"*OK* ]] || fail "AT+GMM answered: $gmm"
echo "moddable-check: lin: AT+GMM -> $gmm"

export WIM_AGENT_SOCKET=$work/agent.sock
npx wim agent --device "$pty" >"$work/agent.out" 2>&1 &
agent_pid=$!
for _ in $(seq 100); do grep -q '^ready' "$work/agent.out" && break; kill -0 $agent_pid 2>/dev/null || break; sleep 0.1; done
grep -q '^ready' "$work/agent.out" || { cat "$work/agent.out"; fail "the agent did not attach"; }
echo "moddable-check: lin: agent attached"

p11() { pkcs11-tool --module "$module" "$@" 2>&1; }
p11 --init-token --label WIM --so-pin 12345678 >"$work/p11.log" || { cat "$work/p11.log"; fail "C_InitToken"; }
p11 --login --login-type so --so-pin 12345678 --init-pin --pin 123456 >>"$work/p11.log" || { cat "$work/p11.log"; fail "C_InitPIN"; }
p11 -L | grep -q 'token label *: WIM' || fail "pkcs11-tool -L shows no token WIM"
echo "moddable-check: lin: pkcs11-tool -L, --init-token, --init-pin passed"
p11 --login --pin 123456 --keypairgen --key-type EC:prime256v1 --id 01 --label k1 >>"$work/p11.log" || { cat "$work/p11.log"; fail "C_GenerateKeyPair P-256"; }
echo "moddable-check: lin: --keypairgen EC:prime256v1 passed"
head -c 1000 /dev/urandom >"$work/data"
p11 --login --pin 123456 --sign --mechanism ECDSA-SHA256 --id 01 --signature-format openssl -i "$work/data" -o "$work/sig" >>"$work/p11.log" || { cat "$work/p11.log"; fail "C_Sign"; }
p11 --read-object --type pubkey --id 01 -o "$work/pub.der" >>"$work/p11.log" || { cat "$work/p11.log"; fail "reading the public key"; }
openssl dgst -sha256 -verify "$work/pub.der" -keyform DER -signature "$work/sig" "$work/data" >/dev/null || fail "the signature does not verify"
echo "moddable-check: lin: --sign ECDSA-SHA256 passed, verified with openssl"
p11 --login --pin 123456 --keypairgen --key-type rsa:2048 --id 02 --label r1 >>"$work/p11.log" || { cat "$work/p11.log"; fail "C_GenerateKeyPair RSA-2048"; }
p11 --login --pin 123456 --test >"$work/test.log" || { tail -30 "$work/test.log"; fail "pkcs11-tool --test"; }
grep -q 'No errors' "$work/test.log" || { tail -30 "$work/test.log"; fail "pkcs11-tool --test reported errors"; }
grep -q 'RSA-PKCS-OAEP' "$work/test.log" || { tail -30 "$work/test.log"; fail "pkcs11-tool --test did not run OAEP"; }
p11 --login --pin 123456 --sign --mechanism SHA256-RSA-PKCS-PSS --id 02 -i "$work/data" -o "$work/sig.pss" >>"$work/p11.log" || { cat "$work/p11.log"; fail "C_Sign RSA-PSS"; }
p11 --read-object --type pubkey --id 02 -o "$work/pub2.der" >>"$work/p11.log" || { cat "$work/p11.log"; fail "reading the RSA public key"; }
openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -verify "$work/pub2.der" -keyform DER \
  -signature "$work/sig.pss" "$work/data" >/dev/null || fail "the RSA-PSS signature does not verify"
echo "moddable-check: lin: --keypairgen rsa:2048, pkcs11-tool --test (RSA PKCS#1, OAEP) and SHA256-RSA-PKCS-PSS (openssl verifies) passed"
kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=
npx tsx bench/memory/run.ts --pty "$pty" --user-pin 123456 >"$work/heavy.log" 2>&1 || { cat "$work/heavy.log"; fail "the heaviest workload"; }
echo "moddable-check: ${WIM_SMOKE_LABEL:-lin}: RSA-2048/3072/4096, P-256/P-384, Ed25519 key pairs and signatures on 8 channels with staged values and session objects passed"
npx tsx bench/memory/run.ts --pty "$pty" --user-pin 123456 --only "policy maximum" >"$work/policy.log" 2>&1 || { cat "$work/policy.log"; fail "the policy's maximum"; }
echo "moddable-check: ${WIM_SMOKE_LABEL:-lin}: the same beside what docs/policy.md lets applications hold (17 channels x 8 sessions, session-object budgets full) passed"
