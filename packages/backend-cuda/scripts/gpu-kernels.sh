#!/usr/bin/env bash
# Runs the kernel suite on the GPU host (through the device tool), from the repository root:
#   packages/backend-cuda/scripts/gpu-kernels.sh [first|quick|full|sanitize]
# Needs the harness built on the dev machine by packages/backend-cuda/dev/build.sh into .carry/gemm
# (pass carry: [".carry/gemm"]). Writes JSON + logs under $OUT (or ./gpu-out when OUT is unset).
set -uo pipefail
mode="${1:-full}"
out="${OUT:-$PWD/gpu-out}"
mkdir -p "$out"
bin=.carry/gemm/zipgemm_bench
[ -x "$bin" ] || { echo "gpu-kernels: $bin missing: run packages/backend-cuda/dev/build.sh first" >&2; exit 2; }
sha="$(cat .carry/gemm/GIT_SHA 2>/dev/null || echo unknown)"
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv,noheader | tee "$out/gpu.txt"
case "$mode" in
  sanitize)
    compute-sanitizer --tool memcheck --error-exitcode 9 "$bin" --shapes 192x320 --ns 1,17 --repeats 1 --iters 1 \
      --seed 7 --git "$sha" 2>&1 | tail -n 25
    ;;
  first)
    # correctness suite + quick timing of the 8B shapes + one ncu profile + SASS histogram of the zip kernel
    timeout 300 "$bin" --shapes llama3-8b --ns 1,16 --repeats 5 --iters 10 --git "$sha" --json "$out/first.json" > "$out/first.log" 2>&1
    echo "bench rc=$?"
    grep -E "FAIL|correctness failures|device|copy|bits/weight" "$out/first.log" | head -n 30
    sed -n '/^shape /,$p' "$out/first.log"
    timeout 120 ncu --clock-control none --kernel-name regex:gemm_kernel --launch-count 1 --section SpeedOfLight --section Occupancy \
      --section WarpStateStats --section InstructionStats --section MemoryWorkloadAnalysis "$bin" --shapes 6144x4096 --ns 16 --repeats 1 --iters 1 \
      --no-correctness > "$out/ncu.txt" 2>&1
    grep -E "Duration|Throughput|Achieved Active|Warp Cycles|Executed Ipc|Issued Warp|Registers|Shared Memory Config|Block Limit|Theoretical Occ|Bank" "$out/ncu.txt" | head -30
    timeout 150 "$bin" --shapes llama3-8b --ns 1,16 --repeats 5 --iters 10 --no-correctness --sweep --git "$sha" \
      --json "$out/sweep.json" > "$out/sweep.log" 2>&1 || tail -n 5 "$out/sweep.log"
    cuobjdump -sass "$bin" | awk '/Function : .*gemm_kernelILb1ELi8/{f=1} /Function :/{if(!/gemm_kernelILb1ELi8/)f=0} f' > "$out/zip8.sass"
    grep -oE "^ +/\*[0-9a-f]+\*/ +(@!?U?P[0-9T] +)?[A-Z0-9]+" "$out/zip8.sass" | awk '{print $NF}' | sort | uniq -c | sort -rn | head -30 | tr '\n' ' '
    echo
    ;;
  quick)
    "$bin" --shapes llama3-8b --ns 1,16 --repeats 5 --iters 10 --no-correctness --git "$sha" --json "$out/quick.json" 2>&1 | tee "$out/quick.log"
    ;;
  full)
    "$bin" --shapes llama3-8b,llama3-70b --ns 1,2,4,8,16,32,64,128,512 --repeats 7 --iters 20 --git "$sha" \
      --json "$out/zipgemm-h100.json" > "$out/full.log" 2>&1
    rc=$?
    grep -E "FAIL|correctness failures|device|copy" "$out/full.log" | head -n 30
    sed -n '/^shape /,$p' "$out/full.log"
    [ $rc -eq 0 ] || { tail -n 20 "$out/full.log"; exit $rc; }
    "$bin" --shapes llama3-8b --ns 1,16,64 --repeats 5 --iters 10 --no-correctness --sweep --git "$sha" \
      --json "$out/sweep.json" > "$out/sweep.log" 2>&1 || tail -n 20 "$out/sweep.log"
    ;;
  *) echo "gpu-kernels: unknown mode $mode (first|quick|full|sanitize)" >&2; exit 2 ;;
esac
if [ "$mode" = full ] && [ -n "${ZS_PROFILE:-}" ]; then
  ncu --clock-control none --kernel-name regex:gemm_kernel --launch-count 1 --section SpeedOfLight --section Occupancy \
    --section WarpStateStats --section InstructionStats "$bin" --shapes 6144x4096 --ns 1 --repeats 1 --iters 1 \
    --no-correctness 2>&1 | grep -E "Duration|Throughput|Achieved Active|Warp Cycles|Executed Ipc|Issued Warp|Stall" | head -20
  cuobjdump -sass "$bin" | awk '/Function : .*gemm_kernelILb1ELi8/{f=1;next} /Function :/{f=0} f' > "$out/zip8.sass"
  grep -oE "^ +/\*[0-9a-f]+\*/ +(@!?U?P[0-9T] +)?[A-Z0-9]+" "$out/zip8.sass" | awk '{print $NF}' | sort | uniq -c | sort -rn | head -25 | tr '\n' ' '
fi
