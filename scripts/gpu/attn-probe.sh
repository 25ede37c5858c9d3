# Where the batch-1 decode step's attention time goes (see packages/backend-cuda/dev/NOTES.md, H200 e2e):
# ncu per-kernel durations of one decode step in the real engine configuration, then graph timings with all but
# attention left out of the step graph (ZIPSERV_GRAPH_SKIP), at two split caps.
H=scripts/gpu/host-run.sh
OUT=${OUT:-/tmp}
B="zipserv bench e2e --model synthetic:llama-3-8b --backend cuda --batch 1 --weights zipgemm --prompt-len 128"
timeout 200 bash $H ncu --clock-control none --metrics gpu__time_duration.sum --graph-profiling node --launch-skip 700 --launch-count 300 \
  --print-summary per-kernel --csv node .carry/gpu/zipserv.mjs ${B#zipserv } --gen 8 > $OUT/probe-ncu.csv 2>$OUT/probe-ncu.err
grep -vE "^==PROF==" $OUT/probe-ncu.csv | cut -d, -f4,6,9,15 | cut -c1-150 | head -40
rest="matmul,embedding,rmsnorm,rope,kvAppend,rope+kvAppend,siluMul,gatherRows,argmax"
for v in "64 matmul" "64 $rest" "1 $rest" "64 matmul,attention"; do
  set -- $v
  ZIPSERV_ATTENTION_MAX_SPLITS=$1 ZIPSERV_GRAPH_SKIP=$2 timeout 100 bash $H $B --gen 32 --json /tmp/a.json >/dev/null 2>&1
  bash $H node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1]));for(const x of r.rows)console.log("split cap",process.argv[2],"skip",process.argv[3].slice(0,40),x.decode_tokens_per_s.toFixed(1),"tok/s graph",x.graph_ms_per_step?.toFixed(3))' /tmp/a.json $1 $2
done
