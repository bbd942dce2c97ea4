#!/usr/bin/env bash
# `make run`: start the simulated token and its agent in the background (state in .state/demo),
# wait for it to be ready, and print how to use it. A running demo is reused.
set -euo pipefail
cd "$(dirname "$0")/../.."
state=.state/demo
mkdir -p "$state"
log="$state/wim.log"
pidfile="$state/wim.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "The simulated token is already running (pid $(cat "$pidfile")); stop it with: kill $(cat "$pidfile")"
else
  : > "$log"
  nohup node pc/cli/wim.mjs sim --background --state "$state" >>"$log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 100); do grep -q '^ready ' "$log" && break; sleep 0.2; done
  grep -q '^ready ' "$log" || { echo "the simulator did not start:"; cat "$log"; exit 1; }
fi
cat "$log"
module=$(grep -o 'module=[^ ]*' "$log" | tail -1 | cut -d= -f2)
cat <<EOT

The token "WIM" is running (demo PINs: user 123456, SO 12345678; state in $state).
Try:
  npx wim info
  pkcs11-tool --module $module -L
  pkcs11-tool --module $module --login --pin 123456 --keypairgen --key-type EC:prime256v1 --id 01 --label demo
  pkcs11-tool --module $module --login --pin 123456 --list-objects
Stop it with: kill \$(cat $pidfile)
EOT
