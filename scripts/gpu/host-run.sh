#!/usr/bin/env bash
# Runs a command on the GPU host with the bundle of .carry/gpu (made by scripts/gpu/bundle.sh):
# unpacks Node into $TMPDIR and Dawn next to the bundles, puts `node` and `zipserv` on PATH, and
# points the code at the native pieces:
#   ZIPSERV_CUDA_ADDON   .carry/gpu/zipserv_cuda.node
#   ZIPSERV_REPO_ROOT    the repository copy (models/stories260K, ...)
#   LD_LIBRARY_PATH      + the CUDA toolkit's lib dirs (libcublas.so.13 for the vendor paths)
#   ZIPSERV_WEBGPU_OPTIONS  backend=vulkan unless set (Dawn on the NVIDIA Vulkan driver)
# If .gl/*.deb were carried (libvulkan1 etc., see the device README), they are unpacked into / first.
# Usage: bash scripts/gpu/host-run.sh <command...>
#   e.g. bash scripts/gpu/host-run.sh node .carry/gpu/backend-cuda-tests.mjs --json "$OUT/cuda.json"
#        bash scripts/gpu/host-run.sh zipserv run models/stories260K --backend cuda
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[[ -f "$repo/.carry/gpu/node.xz" ]] || repo="$(pwd)"
bundle="$repo/.carry/gpu"
[[ -f "$bundle/node.xz" ]] || { echo "host-run: $bundle/node.xz missing: run scripts/gpu/bundle.sh and carry .carry/gpu" >&2; exit 1; }

tmp="${TMPDIR:-/tmp}/zipserv-gpu"
mkdir -p "$tmp/bin"
if [[ ! -x "$tmp/bin/node" || "$bundle/node.xz" -nt "$tmp/bin/node" ]]; then
  xz -dc "$bundle/node.xz" >"$tmp/bin/node.tmp" && chmod +x "$tmp/bin/node.tmp" && mv "$tmp/bin/node.tmp" "$tmp/bin/node"
fi
cat >"$tmp/bin/zipserv" <<WRAP
#!/usr/bin/env bash
exec "$tmp/bin/node" "$bundle/zipserv.mjs" "\$@"
WRAP
chmod +x "$tmp/bin/zipserv"

dawn="$bundle/node_modules/webgpu/dist/linux-x64/dawn.node"
if [[ -f "$bundle/dawn.node.xz" && ! -f "$dawn" ]]; then
  mkdir -p "$(dirname "$dawn")"
  xz -dc "$bundle/dawn.node.xz" >"$dawn.tmp" && mv "$dawn.tmp" "$dawn"
fi
if compgen -G "$repo/.gl/*.deb" >/dev/null; then
  for f in "$repo"/.gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi

cuda_libs=""
for d in "${CUDA_HOME:-}/lib64" /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64; do
  [[ -d "$d" ]] && cuda_libs="$cuda_libs:$d"
done
export PATH="$tmp/bin:$PATH"
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}$cuda_libs"
export ZIPSERV_CUDA_ADDON="${ZIPSERV_CUDA_ADDON:-$bundle/zipserv_cuda.node}"
export ZIPSERV_DAWN_NODE="${ZIPSERV_DAWN_NODE:-$dawn}"
export ZIPSERV_REPO_ROOT="${ZIPSERV_REPO_ROOT:-$repo}"
export ZIPSERV_WEBGPU_OPTIONS="${ZIPSERV_WEBGPU_OPTIONS:-backend=vulkan}"
cd "$repo"
exec "$@"
