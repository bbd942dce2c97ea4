#!/bin/bash
# mk/install.sh install|uninstall — run by mk/install.mk with the directories in the environment:
#   DESTDIR BINDIR MODULE_DIR TREE P11KIT_DIR UNIT_DIR NODE
# install copies the module, the CLI's runtime tree (the sources the CLI imports, found by esbuild's
# metafile; package.json; the production node_modules (tools/install-packages.mjs); the simulator), the launcher, the p11-kit module
# file and the systemd user units, and writes $TREE/MANIFEST: one line per file ("f PATH") and per
# directory it created ("d PATH"), paths without DESTDIR. It never replaces a file it did not install.
# uninstall removes the files the manifest lists, then the listed directories that are empty.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DESTDIR=}" "${BINDIR:?}" "${MODULE_DIR:?}" "${TREE:?}" "${P11KIT_DIR:?}" "${UNIT_DIR:?}"
MANIFEST="$TREE/MANIFEST"
umask 022

die() { echo "install: $*" >&2; exit 1; }

uninstall() {
  local m n
  [ -f "$DESTDIR$MANIFEST" ] || { echo "uninstall: nothing installed here ($DESTDIR$MANIFEST is missing)"; return 0; }
  m=$(mktemp)
  cp "$DESTDIR$MANIFEST" "$m" # it lists itself
  n=$(grep -c '^f ' "$m" || true)
  grep '^f ' "$m" | cut -c3- | sed "s|^|$DESTDIR|" | xargs -r -d '\n' rm -f -- || true
  # directories deepest first; only empty ones (something of the user's may have been put there)
  grep '^d ' "$m" | cut -c3- | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2- | sed "s|^|$DESTDIR|" |
    xargs -r -d '\n' rmdir --ignore-fail-on-non-empty -- 2>/dev/null || true
  rm -f "$m"
  echo "uninstalled $n files listed in $MANIFEST"
}

# ── install ─────────────────────────────────────────────────────────────────────────────
LIST=$(mktemp)
trap 'rm -f "$LIST"' EXIT

# mkdirs DIR: makes DIR and its missing parents (mode 0755), noting those it made.
mkdirs() {
  local d="$1" missing=()
  [ -z "$DESTDIR" ] || mkdir -p "$DESTDIR"
  while [ "$d" != / ] && [ ! -d "$DESTDIR$d" ]; do missing=("$d" "${missing[@]}"); d=$(dirname "$d"); done
  for d in "${missing[@]}"; do mkdir -m 0755 "$DESTDIR$d"; echo "d $d" >> "$LIST"; done
}

# put MODE SRC DEST: copies one file (DEST without DESTDIR), refusing to replace a file not ours.
put() {
  local mode="$1" src="$2" dest="$3"
  [ -e "$DESTDIR$dest" ] && die "$DESTDIR$dest exists and was not installed by wim: not replacing it"
  mkdirs "$(dirname "$dest")"
  install -m "$mode" "$src" "$DESTDIR$dest"
  echo "f $dest" >> "$LIST"
}

install_all() {
  for f in build/libwim-pkcs11.so build/wim-sim build/firmware.js; do [ -f "$f" ] || die "$f is missing: run make build"; done
  [ -x "$NODE" ] || die "node not found (NODE=$NODE)"
  [ -e "$DESTDIR$TREE" ] && die "$DESTDIR$TREE exists and was not installed by wim: not replacing it"
  local module="$MODULE_DIR/libwim-pkcs11.so" stage
  stage=$(mktemp -d)
  # The sources the CLI imports, as esbuild resolves them (pc/cli/main.ts and everything it reaches).
  node_modules/.bin/esbuild pc/cli/main.ts --bundle --platform=node --format=esm --packages=external \
    --metafile="$stage/meta.json" --outfile="$stage/cli.js" --log-level=warning
  node -e 'for (const f of Object.keys(JSON.parse(require("fs").readFileSync(process.argv[1])).inputs)) console.log(f)' \
    "$stage/meta.json" > "$stage/sources"
  echo pc/cli/wim.mjs >> "$stage/sources"
  # The production packages (tools/install-packages.mjs), each once (nested ones come with their parent).
  node tools/install-packages.mjs | awk 'prev == "" || index($0, prev "/") != 1 { print; prev = $0 }' > "$stage/packages"
  { cat "$stage/sources"; while read -r p; do find "$p" \( -type f -o -type l \) ; done < "$stage/packages"; } |
    sort -u > "$stage/files"

  mkdirs "$TREE"
  tar -cf - -T "$stage/files" package.json | tar -xf - -C "$DESTDIR$TREE" --no-same-owner
  chmod -R u+rwX,go+rX,go-w "$DESTDIR$TREE"
  (cd "$DESTDIR$TREE" && find . -mindepth 1 -type d | sed "s|^\.|d $TREE|" | sort) >> "$LIST"
  (cd "$DESTDIR$TREE" && find . \( -type f -o -type l \) | sed "s|^\.|f $TREE|") >> "$LIST"
  printf '{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext" } }\n' > "$stage/tsconfig.json"
  put 0644 "$stage/tsconfig.json" "$TREE/tsconfig.json"
  put 0755 build/wim-sim "$TREE/build/wim-sim"
  put 0644 build/firmware.js "$TREE/build/firmware.js"
  ln -s "$module" "$DESTDIR$TREE/build/libwim-pkcs11.so" # `wim sim` prints this path (pc/cli/main.ts)
  echo "f $TREE/build/libwim-pkcs11.so" >> "$LIST"

  put 0644 build/libwim-pkcs11.so "$module"
  cat > "$stage/wim" <<EOF
#!/bin/sh
# wim — the WIM token's command line, installed by make install (docs/install.md).
TSX_TSCONFIG_PATH='$TREE/tsconfig.json' exec '$NODE' '$TREE/pc/cli/wim.mjs' "\$@"
EOF
  put 0755 "$stage/wim" "$BINDIR/wim"
  cat > "$stage/wim.module" <<EOF
# The WIM token (make install; docs/install.md): p11-kit loads it into every application using p11-kit-proxy.
module: $module
critical: no
trust-policy: no
EOF
  put 0644 "$stage/wim.module" "$P11KIT_DIR/wim.module"
  for u in wim-agent.socket wim-agent.service; do
    sed "s|@BINDIR@|$BINDIR|g" "pc/systemd/$u" > "$stage/$u"
    put 0644 "$stage/$u" "$UNIT_DIR/$u"
  done
  echo "f $MANIFEST" >> "$LIST"
  install -m 0644 "$LIST" "$DESTDIR$MANIFEST"
  rm -rf "$stage"
  echo "installed $(grep -c '^f ' "$LIST") files ($(du -sk "$DESTDIR$TREE" | cut -f1) KiB in $TREE); manifest $MANIFEST"
  echo "  module  $module"
  echo "  p11-kit $P11KIT_DIR/wim.module"
  echo "  wim     $BINDIR/wim"
  echo "  units   $UNIT_DIR/wim-agent.{socket,service}  (systemctl --user daemon-reload; systemctl --user enable --now wim-agent.socket)"
}

case "${1:-}" in
  install)
    if [ -f "$DESTDIR$MANIFEST" ]; then uninstall; fi # a reinstall replaces the earlier one
    install_all ;;
  uninstall) uninstall ;;
  *) die "usage: $0 install|uninstall" ;;
esac
