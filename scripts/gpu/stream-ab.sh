#!/usr/bin/env bash
# Stream-schedule A/B on the GPU host, one harness build (.carry/gemm, packages/backend-cuda/dev/build.sh):
# the correctness suite of each variant in ZS_CHECK (default: those of ZS_VARIANTS, default "8 9"), then every variant
# in ZS_VARIANTS timed beside the default
# schedule and cuBLAS in each case (--variants) on the Llama 8B/70B shapes at N 1-16, and per variant and N the
# geomean of cuBLAS time / variant time. Device tool: carry [".carry/gemm"] or [".carry/gemmx"]. Output under $OUT.
set -uo pipefail
bash "$(dirname "$0")/unpack-harness.sh"
OUT=${OUT:-/tmp}
bin=.carry/gemm/zipgemm_bench
variants="${ZS_VARIANTS:-8 9}"
for v in ${ZS_CHECK:-$variants}; do
  timeout 150 $bin --correctness-only --variant "$v" --seed "${ZS_SEED:-17}" > "$OUT/correct-v$v.log" 2>&1
  echo "correctness v$v rc=$? $(grep -E '^correctness failures' "$OUT/correct-v$v.log")"
  grep -E "FAIL" "$OUT/correct-v$v.log" | head -5
done
timeout "${ZS_TIMEOUT:-240}" $bin --shapes "${ZS_SHAPES:-llama3-8b,llama3-70b}" --ns "${ZS_NS:-1,2,4,8,16}" --repeats 5 --iters 10 \
  --no-correctness --variants "$(echo $variants | tr ' ' ',')" --git "$(cat .carry/gemm/GIT_SHA 2>/dev/null)" \
  --json "$OUT/stream-ab.json" > "$OUT/stream-ab.log" 2>&1
echo "timing rc=$?"
grep -E "^device|copy|FAIL" "$OUT/stream-ab.log" | head -8
awk '/^  variant [0-9]+ \(/{v=$2; z[v]=$(NF-4)+0; vs[v]=1}
     /^ *[0-9]+x[0-9]+ +[0-9]+ / && !seen[$1" "$2]++ {n=$2; cb=$5; for (v in vs) {s[v" "n]+=log(cb/z[v]); c[v" "n]++; a[v]+=log(cb/z[v]); ac[v]++}
       printf "%-12s N=%-3s cuBLAS %7.1f us |", $1, n, cb; for (v in vs) printf " v%s %7.1f", v, z[v]; printf "\n"}
     END{for (k in s) printf "geomean cuBLAS/zip %s: %.3f\n", k, exp(s[k]/c[k]); for (v in a) printf "geomean cuBLAS/zip v%s all: %.3f\n", v, exp(a[v]/ac[v])}' \
  "$OUT/stream-ab.log" | sort
