#!/usr/bin/env bash
# WebGPU backend on the GPU host (H100/H200): Dawn on the NVIDIA Vulkan driver, run by node from the
# bundle that scripts/gpu/bundle.sh makes in .carry/gpu/. Two steps:
#
#   1. here (development machine):   bash packages/backend-webgpu/scripts/gpu-host.sh prepare
#      builds this package, runs scripts/gpu/bundle.sh (node.xz, dawn.node.xz, the test bundles),
#      and adds .carry/gpu/webgpu-bench.mjs. Also fetch the Vulkan loader once (device README):
#      .gl/*.deb (libvulkan1, ...).
#   2. on the host (device `run`, carry [".carry/gpu", ".gl"]):
#      bash packages/backend-webgpu/scripts/gpu-host.sh run
#      - unpacks node, Dawn and the Vulkan loader (scripts/gpu/host-run.sh);
#      - runs the package's tests (kernel cases + the shared conformance suite, Dawn backend=vulkan)
#        twice: with subgroups, and with ZIPSERV_WEBGPU_DISABLE=subgroups (the fallbacks);
#      - runs the ZipGEMM vs dense-twin benchmark on the Llama-3-8B shapes at N = 1, 4, 16, 64;
#      - writes JSON and logs into $OUT (else $TMPDIR/zipserv-webgpu-out) and prints a summary table last.
#      Whole run: about 3-5 minutes on an H100 (each step has its own timeout; 540 s at most).
# Environment: ZIPSERV_WEBGPU_OPTIONS (default: backend=vulkan enable-dawn-features=vulkan_enable_f16_on_nvidia),
#              BENCH_ARGS (extra bench flags, e.g. "--iterations 50").
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pkg="$(cd "$here/.." && pwd)"
repo="$(cd "$pkg/../.." && pwd)"
bundle="$repo/.carry/gpu"

prepare() {
  set -e
  (cd "$repo" && pnpm --filter @zipserv/backend-webgpu build >/tmp/zipserv-webgpu-build.log 2>&1) || {
    tail -20 /tmp/zipserv-webgpu-build.log >&2
    echo "gpu-host: building @zipserv/backend-webgpu failed" >&2
    exit 1
  }
  if [[ -f "$repo/packages/backend-cuda/build/Release/zipserv_cuda.node" ]]; then
    bash "$repo/scripts/gpu/bundle.sh" --no-native
  else
    bash "$repo/scripts/gpu/bundle.sh"
  fi
  cp "$pkg/dist/bench.js" "$bundle/webgpu-bench.mjs"
  [[ -f "$bundle/backend-webgpu-tests.mjs" ]] || { echo "gpu-host: $bundle/backend-webgpu-tests.mjs was not made" >&2; exit 1; }
  compgen -G "$repo/.gl/*.deb" >/dev/null || echo "gpu-host: note: no .gl/*.deb here; the host needs libvulkan1 (see the device README)" >&2
  echo "gpu-host: ready; on the host: bash packages/backend-webgpu/scripts/gpu-host.sh run (carry .carry/gpu and .gl)"
}

run_on_host() {
  local out="${OUT:-${TMPDIR:-/tmp}/zipserv-webgpu-out}"
  mkdir -p "$out"
  [[ -f "$bundle/webgpu-bench.mjs" && -f "$bundle/backend-webgpu-tests.mjs" ]] || {
    echo "gpu-host: $bundle lacks webgpu-bench.mjs or backend-webgpu-tests.mjs: run '$0 prepare' on the development machine" >&2
    exit 1
  }
  export ZIPSERV_WEBGPU_OPTIONS="${ZIPSERV_WEBGPU_OPTIONS:-backend=vulkan enable-dawn-features=vulkan_enable_f16_on_nvidia}"
  local hr="$repo/scripts/gpu/host-run.sh"
  local status=0

  echo "== WebGPU tests (Dawn: $ZIPSERV_WEBGPU_OPTIONS), subgroups on"
  timeout 120 bash "$hr" node "$bundle/backend-webgpu-tests.mjs" --json "$out/webgpu-tests.json" 2>&1 | tee "$out/webgpu-tests.log" | grep -v -E '^Warning|^ - While|^    at '
  [[ ${PIPESTATUS[0]} == 0 ]] || status=1

  echo "== WebGPU tests, subgroups off (ZIPSERV_WEBGPU_DISABLE=subgroups)"
  ZIPSERV_WEBGPU_DISABLE=subgroups timeout 120 bash "$hr" node "$bundle/backend-webgpu-tests.mjs" --json "$out/webgpu-tests-nosubgroups.json" >"$out/webgpu-tests-nosubgroups.log" 2>&1
  [[ $? == 0 ]] || status=1
  tail -1 "$out/webgpu-tests-nosubgroups.log"

  echo "== WebGPU bench: ZipGEMM vs dense twin, Llama-3-8B shapes"
  # shellcheck disable=SC2086
  timeout 300 bash "$hr" node "$bundle/webgpu-bench.mjs" --shapes llama3-8b --n 1,4,16,64 --out "$out/webgpu-bench.json" ${BENCH_ARGS:-} 2>&1 |
    tee "$out/webgpu-bench.log" | grep -v -E '^Warning|^ - While|^    at '
  [[ ${PIPESTATUS[0]} == 0 ]] || status=1

  echo
  echo "== summary (files in $out)"
  "${TMPDIR:-/tmp}/zipserv-gpu/bin/node" - "$out" <<'JS' || true
const fs = require('node:fs');
const out = process.argv[2];
const read = (f) => { try { return JSON.parse(fs.readFileSync(`${out}/${f}`, 'utf8')); } catch { return null; } };
for (const [f, label] of [['webgpu-tests.json', 'tests, subgroups on'], ['webgpu-tests-nosubgroups.json', 'tests, subgroups off']]) {
  const t = read(f);
  if (!t) { console.log(`| ${label} | no results |`); continue; }
  console.log(`| ${label} | ${t.passed} passed | ${t.failed} failed | ${t.skipped} skipped |`);
  for (const r of t.results.filter((r) => r.status === 'fail')) console.log(`|   FAIL ${r.name}: ${r.error}`);
}
const b = read('webgpu-bench.json');
if (b) {
  console.log(`\nbench on ${b.adapter} (${b.timing})`);
  console.log('| M x K | N | zipgemm us | dense us | dense/zipgemm | bit-identical |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of b.rows) console.log(`| ${r.M}x${r.K} | ${r.N} | ${r.zipgemmUs.toFixed(1)} | ${r.denseUs.toFixed(1)} | ${r.speedup.toFixed(2)} | ${r.bitIdentical ? 'yes' : 'NO'} |`);
  const small = b.rows.filter((r) => r.N <= 16);
  const ok = small.every((r) => r.speedup >= 1.2);
  console.log(`bar (ZipGEMM >= 1.2x dense twin at N <= 16): ${ok ? 'met' : 'NOT met'}; min ${Math.min(...small.map((r) => r.speedup)).toFixed(2)}x`);
} else console.log('bench: no results');
JS
  exit $status
}

case "${1:-}" in
  prepare) prepare ;;
  run) run_on_host ;;
  *) echo "usage: $0 prepare | run" >&2; exit 2 ;;
esac
