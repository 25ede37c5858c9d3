#!/usr/bin/env bash
# The CUDA backend's correctness run on the GPU host, in one go (one device call):
#   1. device and toolkit facts (nvidia-smi, driver, cuBLAS found or not);
#   2. @zipserv/backend-cuda's test files, bundled under mini-vitest: the codec-ref conformance suite
#      (every op and weight path vs the reference backend), decompression bit-exactness on all 65,536
#      BF16 patterns and the stories260K fixture, zipgemm == dense bit for bit, long-context paged
#      attention, and the stories260K decode step as one replayed CUDA graph;
#   3. a short table last; full JSON in $OUT (or ./gpu-results) as cuda-tests.json.
# Here, first: bash scripts/gpu/bundle.sh. Then, through the device tool:
#   run(command="bash packages/backend-cuda/scripts/gpu-conformance.sh", carry=[".carry/gpu"])
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
out="${OUT:-$repo/gpu-results}"
mkdir -p "$out"
cd "$repo"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | head -2
  ls /usr/local/cuda*/lib64/libcublas.so.13 2>/dev/null | head -1
} | tee "$out/cuda-env.txt"

bash scripts/gpu/host-run.sh node .carry/gpu/backend-cuda-tests.mjs --json "$out/cuda-tests.json" 2>&1 | tee "$out/cuda-tests.log"
status=${PIPESTATUS[0]}

bash scripts/gpu/host-run.sh node -e '
const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
console.log("\n| suite | case | result | ms |\n| --- | --- | --- | --- |");
for (const t of r.results) {
  const parts = t.name.split(" > ");
  const suite = parts[0].replace(/ \(seed \d+\)/, "");
  const name = parts.slice(1).join(" > ").replace(/ — skipped: .*/, "").slice(0, 90);
  const result = t.status === "fail" ? `FAIL: ${String(t.error).slice(0, 160)}` : t.status;
  console.log(`| ${suite} | ${name} | ${result} | ${t.ms.toFixed(0)} |`);
}
console.log(`\ntotal: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped (${r.seconds.toFixed(1)} s), ${r.date}`);
' "$out/cuda-tests.json" 2>&1 | tee "$out/cuda-summary.md"
exit "$status"
