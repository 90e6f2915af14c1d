#!/usr/bin/env bash
# Installs the pinned HIP compiler (no root, no ROCm, ~100 MB) under .cache/hip of the repository: PyPI
# `ziglang==0.17.1`, whose bundled clang 22 has the AMDGPU target, plus a wrapper named `lld` that forwards to
# zig's `ld.lld` (clang's HIP driver calls a bare `lld` to link the device code object; the wheel has none).
# build.rs finds it there (or $ISOLATE_HIP_CLANG) and compiles every portable kernel for gfx942 and gfx950.
# Idempotent: does nothing when the pinned version is present.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.cache/hip"
ver=0.17.1
zig="$dest/ziglang/zig"
if [ -x "$zig" ] && [ "$("$zig" version)" = "$ver" ] && [ -x "$dest/bin/lld" ]; then
  echo "install-hip-compiler: zig $ver already at $zig"
  exit 0
fi
rm -rf "$dest"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-warn-script-location \
  --target "$dest" "ziglang==$ver"
mkdir -p "$dest/bin"
# clang (`zig clang`) runs `lld -flavor gnu ...` for the AMDGPU link; zig ships it as `zig ld.lld`.
cat > "$dest/bin/lld" <<'WRAP'
#!/bin/sh
# Forwards clang's `lld -flavor gnu ARGS` to zig's ld.lld (scripts/install-hip-compiler.sh).
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$1" = "-flavor" ]; then shift 2; fi
exec "$here/../ziglang/zig" ld.lld "$@"
WRAP
chmod +x "$dest/bin/lld"
echo "install-hip-compiler: installed zig $("$zig" version) (clang $("$zig" clang --version | head -1 | sed 's/.*version //')) at $zig"
