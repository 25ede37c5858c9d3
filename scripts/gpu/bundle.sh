#!/usr/bin/env bash
# Builds, on the development machine, everything the GPU host needs into .carry/gpu/ (git-ignored;
# travels with `run` as carry [".carry/gpu"]; stays well under the 64 MiB transfer limit):
#   node.xz                   this machine's Node 20 binary (glibc >= 2.28), xz-compressed
#   zipserv.mjs               the CLI + runtime + backends + codec, one ESM file
#   backend-cuda-tests.mjs    @zipserv/backend-cuda's vitest files under mini-vitest (conformance
#                             suite, bit-exactness, decode-step graph replay); likewise backend-webgpu
#   zipserv_cuda.node         the CUDA addon (sm_90a + sm_90, static cudart; cuBLAS dlopen'ed)
#   dawn.node.xz + node_modules/webgpu/   Dawn for the WebGPU backend (unpacked on the host)
# Usage: bash scripts/gpu/bundle.sh [--no-native]   (--no-native: reuse the built addon as it is)
# Then, on the host: bash scripts/gpu/host-run.sh <command...>
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$repo/.carry/gpu"
build_native=1
[[ "${1:-}" == "--no-native" ]] && build_native=0
mkdir -p "$out"

addon="$repo/packages/backend-cuda/build/Release/zipserv_cuda.node"
if [[ $build_native == 1 ]]; then
  echo "bundle: building the CUDA addon (pnpm build:native)"
  (cd "$repo/packages/backend-cuda" && pnpm -s build:native >/tmp/zipserv-build-native.log 2>&1) || {
    tail -30 /tmp/zipserv-build-native.log >&2
    echo "bundle: the CUDA addon failed to build (log: /tmp/zipserv-build-native.log)" >&2
    exit 1
  }
fi
[[ -f "$addon" ]] || { echo "bundle: $addon is missing (run pnpm build:native)" >&2; exit 1; }
cp "$addon" "$out/zipserv_cuda.node"

node_bin="$(command -v node)"
if [[ ! -f "$out/node.xz" || "$node_bin" -nt "$out/node.xz" ]]; then
  echo "bundle: compressing $node_bin ($(node --version))"
  xz -T2 -6 -c "$node_bin" >"$out/node.xz.tmp" && mv "$out/node.xz.tmp" "$out/node.xz"
fi

webgpu_dir="$(cd "$repo/packages/backend-webgpu" 2>/dev/null && node -e "process.stdout.write(require('node:path').dirname(require.resolve('webgpu/package.json')))" 2>/dev/null || true)"
if [[ -n "$webgpu_dir" && -f "$webgpu_dir/dist/linux-x64/dawn.node" ]]; then
  # dist/ is where host-run.sh unpacks dawn.node on the host; never ship an unpacked copy.
  rm -rf "$out/node_modules/webgpu/dist"
  mkdir -p "$out/node_modules/webgpu"
  cp "$webgpu_dir/package.json" "$webgpu_dir/index.js" "$out/node_modules/webgpu/"
  [[ -f "$webgpu_dir/types.d.ts" ]] && cp "$webgpu_dir/types.d.ts" "$out/node_modules/webgpu/"
  if [[ ! -f "$out/dawn.node.xz" || "$webgpu_dir/dist/linux-x64/dawn.node" -nt "$out/dawn.node.xz" ]]; then
    echo "bundle: compressing dawn.node"
    xz -T2 -6 -c "$webgpu_dir/dist/linux-x64/dawn.node" >"$out/dawn.node.xz.tmp" && mv "$out/dawn.node.xz.tmp" "$out/dawn.node.xz"
  fi
else
  echo "bundle: warning: the webgpu package (Dawn) was not found; WebGPU runs on the host will fail" >&2
fi

echo "bundle: bundling JS (CLI, test suites)"
node "$repo/scripts/gpu/bundle.mjs" "$out" "backend-cuda,backend-webgpu"
cp "$repo/scripts/gpu/host-run.sh" "$out/host-run.sh"
# Provenance for the host's logs: the commit the bundle was built from, "+dirty" when the tree had changes.
sha="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git -C "$repo" diff --quiet HEAD 2>/dev/null || sha="$sha+dirty"
echo "$sha" >"$out/GIT_SHA"

total=$(du -sb "$out" | cut -f1)
echo "bundle: $out holds $((total / 1024 / 1024)) MiB"
if ((total > 56 * 1024 * 1024)); then
  echo "bundle: too large for the 64 MiB transfer (with the repo)" >&2
  exit 1
fi
