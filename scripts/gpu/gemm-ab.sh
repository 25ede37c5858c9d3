# A/B of two builds of the kernel harness on the GPU host, same run: correctness suite of build B, then both
# builds timed alternately (A B A B) on the Llama 8B/70B shapes at N 1, 8, 16 with cuBLAS beside them each time.
# Build A: packages/backend-cuda/dev/build.sh (.carry/gemm); build B: OUT_DIR=$PWD/.carry/gemm2 ... build.sh.
# Device tool: carry [".carry/gemm", ".carry/gemm2"]. Prints per-build zip/cuBLAS geomeans at N <= 16.
OUT=${OUT:-/tmp}
A=.carry/gemm/zipgemm_bench; B=.carry/gemm2/zipgemm_bench
timeout 120 $B --correctness-only --seed 13 > $OUT/correctness-B.log 2>&1
echo "B correctness rc=$? $(grep -E '^correctness failures' $OUT/correctness-B.log)"; grep -E "FAIL" $OUT/correctness-B.log | head -5
i=0
for bin in $A $B $A $B; do
  i=$((i + 1)); tag=$([ $bin = $A ] && echo A || echo B)
  timeout 90 $bin --shapes llama3-8b,llama3-70b --ns 1,8,16 --repeats 5 --iters 10 --no-correctness --json $OUT/ab-$i-$tag.json > $OUT/ab-$i-$tag.log 2>&1
  awk -v t=$tag '/^ *[0-9]+x[0-9]+ +[0-9]+ /{n++; s+=log($8); z[$2]+=log($8); c[$2]++; us[$1" "$2]=$3} END{printf "%s geomean zip/cuBLAS N1-16 %.3f |", t, exp(s/n); for (k in z) printf " N=%s %.3f", k, exp(z[k]/c[k]); printf "\n"}' $OUT/ab-$i-$tag.log
done
