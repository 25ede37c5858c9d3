#!/usr/bin/env bash
# Runs the kernel suite on the GPU host (through the device tool), from the repository root:
#   packages/backend-cuda/scripts/gpu-kernels.sh [first|quick|full|sanitize|sweep|v8|wide|v5]
# v5: correctness suite per schedule variant (4 5 6 7, separate processes), variant comparison + sweep on the
# 8B shapes at N=1,16, then the full benchmark with the fastest correct variant (v4 timed beside it), SASS
# histograms and one ncu profile: one device call, at most 6 files back.
# Needs the harness built on the dev machine by packages/backend-cuda/dev/build.sh into .carry/gemm
# (pass carry: [".carry/gemm"]). Writes JSON + logs under $OUT (or ./gpu-out when OUT is unset).
set -uo pipefail
mode="${1:-full}"
out="${OUT:-$PWD/gpu-out}"
mkdir -p "$out"
bin=.carry/gemm/zipgemm_bench
[ -x "$bin" ] || { echo "gpu-kernels: $bin missing: run packages/backend-cuda/dev/build.sh first" >&2; exit 2; }
sha="$(cat .carry/gemm/GIT_SHA 2>/dev/null || echo unknown)"
# Result files are named by the GPU model (zipgemm-$gpu_tag.json, zipgemm-h200.json, ...).
gpu_tag="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | grep -oiE '[A-Z][0-9]{2,4}' | head -1 | tr 'A-Z' 'a-z')"
gpu_tag="${gpu_tag:-gpu}"
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
    # ZS_SHAPES: extra/other shapes; ZS_VARIANTS: schedules timed beside the default in every case.
    "$bin" --shapes "${ZS_SHAPES:-llama3-8b,llama3-70b}" --ns ${ZS_NS:-1,2,4,8,16,32,64,128,512,2048} --repeats 7 --iters 20 --git "$sha" \
      ${ZS_VARIANTS:+--variants "$ZS_VARIANTS"} --json "$out/zipgemm-$gpu_tag.json" > "$out/full.log" 2>&1
    rc=$?
    # The same timings with programmatic dependent launch off (each call isolated), N <= 16.
    ZIPSERV_NO_PDL=1 "$bin" --shapes "${ZS_SHAPES:-llama3-8b,llama3-70b}" --ns 1,2,4,8,16 --repeats 5 --iters 20 --no-correctness --git "$sha" \
      --json "$out/zipgemm-$gpu_tag-nopdl.json" > "$out/nopdl.log" 2>&1 || tail -n 5 "$out/nopdl.log"
    grep -E "FAIL|correctness failures|device|copy" "$out/full.log" | head -n 30
    sed -n '/^shape /,$p' "$out/full.log"
    [ $rc -eq 0 ] || { tail -n 20 "$out/full.log"; exit $rc; }
    "$bin" --shapes llama3-8b --ns 1,16,64 --repeats 5 --iters 10 --no-correctness --sweep --git "$sha" \
      --json "$out/sweep.json" > "$out/sweep.log" 2>&1 || tail -n 20 "$out/sweep.log"
    ;;
  sweep)
    # Split-K sweep of the default schedule (every split for the stream schedules) on the 8B and 70B shapes.
    timeout 400 "$bin" --shapes "${ZS_SHAPES:-llama3-8b,llama3-70b}" --ns "${ZS_NS:-1,8,16}" --repeats 5 --iters 10 --no-correctness --sweep \
      --git "$sha" --json "$out/sweep.json" > "$out/sweep.log" 2>&1
    echo "sweep rc=$?"
    grep -E "sweep variant" "$out/sweep.log"
    ;;
  v8)
    # stream schedules (ZS_VARIANTS, default 8,9): correctness suite per variant, then those variants beside v4 and
    # cuBLAS at N 1-16 on the 8B and 70B shapes, the v8 SASS histogram and one ncu profile with stall reasons.
    for v in ${ZS_VARIANTS:-8 9}; do
      v=${v//,/ }
      timeout 150 "$bin" --correctness-only --variant $v --seed 11 > "$out/correct$v.log" 2>&1
      echo "correctness v$v rc=$? $(grep -cE 'FAIL' "$out/correct$v.log") FAIL lines; $(grep -E '^correctness failures' "$out/correct$v.log")"
      grep -E "FAIL" "$out/correct$v.log" | head -n 8
    done
    ZS_SPLIT_DEBUG=1 timeout 240 "$bin" --shapes "${ZS_SHAPES:-llama3-8b,llama3-70b}" --ns "${ZS_NS:-1,2,4,8,16}" --repeats 5 --iters 10 --no-correctness \
      --variants "$(echo ${ZS_VARIANTS:-8 9} | tr ' ' ',')" --git "$sha" --json "$out/v8.json" > "$out/v8.log" 2>&1
    echo "bench rc=$?"
    grep -E "device|copy" "$out/v8.log" | head -n 5
    sed -n '/^shape /,$p' "$out/v8.log" | grep -E "^ *[0-9]+x" | awk '{printf "%s/%s v4 %s cb %s; ", $1, $2, $3, $5}'; echo
    grep -E "variant [0-9] \(" "$out/v8.log" | awk '{printf "v%s s%s %s/%s; ", $2, $4, $9, $12}'; echo
    grep -E "geomean|best variant" "$out/v8.log"
    cuobjdump -sass "$bin" | awk '/Function : .*stream_kernelILb1ELi1ELi4/{f=1} /Function :/{if(!/stream_kernelILb1ELi1ELi4/)f=0} f' > "$out/v9zip1.sass"
    echo "v9 zip N<=8 SASS: $(grep -cE '^ +/\*[0-9a-f]+\*/' "$out/v9zip1.sass") instructions"
    timeout 100 ncu --clock-control none --kernel-name regex:stream_kernel --launch-count 1 --section SpeedOfLight --section Occupancy \
      --section LaunchStats --metrics "regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum" "$bin" --shapes 6144x4096 --ns 1 \
      --repeats 1 --iters 1 --no-correctness --variant ${ZS_NCU_VARIANT:-9} > "$out/ncu8.txt" 2>&1
    grep -E "Duration|DRAM Throughput|Warp Cycles Per Issued|Registers|Theoretical Occ|Achieved Active|Grid Size|Waves|inst_executed" "$out/ncu8.txt" | head -12
    grep -E "stalled" "$out/ncu8.txt" | awk '$NF > 0.1 {print $1, $NF}' | sort -k2 -rn | head -10
    ;;
  wide)
    # The wide schedule (v10, ZS_VARIANTS default "9,10" timed beside the default): memcheck on small ragged
    # shapes (ZS_NO_MEMCHECK=1 skips), the correctness suite of each of ZS_CHECK (default "10 11"), timings at
    # N 8-128 on the 8B and 70B shapes (summary: us per variant and cuBLAS), and a split sweep of v10 on the
    # 8B shapes (ZS_NO_SWEEP=1 skips).
    if [ -z "${ZS_NO_MEMCHECK:-}" ]; then
      timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 "$bin" --shapes 192x320,130x200 --ns 17,40,64,100 \
        --repeats 1 --iters 1 --no-correctness --variants 10 --seed 7 --git "$sha" > "$out/sanitize.log" 2>&1
      echo "memcheck v10 rc=$? $(grep -cE 'FAIL' "$out/sanitize.log") FAIL lines"; grep -E "FAIL|ERROR SUMMARY|Invalid" "$out/sanitize.log" | head -n 6
    fi
    for v in ${ZS_CHECK:-10 11}; do
      timeout 150 "$bin" --correctness-only --variant $v --seed 11 > "$out/correct$v.log" 2>&1
      echo "correctness v$v rc=$? $(grep -cE 'FAIL' "$out/correct$v.log") FAIL lines; $(grep -E '^correctness failures' "$out/correct$v.log")"
      grep -E "FAIL" "$out/correct$v.log" | head -n 8
    done
    timeout 300 "$bin" --shapes "${ZS_SHAPES:-llama3-8b,llama3-70b}" --ns "${ZS_NS:-8,16,32,64,128}" --repeats 5 --iters 10 --no-correctness \
      --variants "${ZS_VARIANTS:-9,10}" --git "$sha" --json "$out/wide.json" > "$out/wide.log" 2>&1
    echo "bench rc=$?"; grep -E "FAIL" "$out/wide.log" | head -n 5
    python3 - "$out/wide.json" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
for c in d["cases"]:
    v = " ".join("v%d %.1f/s%d" % (x["variant"], x["zipgemm"], x["splitK"]) for x in c.get("variants", []))
    print("%5dx%-5d N=%-3d cb %6.1f default(v%d) %6.1f dcb %6.1f | %s" % (c["M"], c["K"], c["N"], c["us"]["cublas"], c["variant"], c["us"]["zipgemm"], c["us"]["decompressCublas"], v))
PY
    if [ -z "${ZS_NO_SWEEP:-}" ]; then
      timeout 150 "$bin" --shapes llama3-8b --ns 32,64 --repeats 5 --iters 10 --no-correctness --sweep --variant 10 --git "$sha" \
        --json "$out/sweep10.json" > "$out/sweep10.log" 2>&1
      echo "sweep rc=$?"; grep -E "sweep variant" "$out/sweep10.log"
    fi
    ;;
  v5)
    pass=""
    for v in 4 5 6 7; do
      timeout 100 "$bin" --correctness-only --variant $v --seed 11 > /tmp/correct_v$v.log 2>&1
      rc=$?
      f=$(grep -oE "^correctness failures: [0-9]+" /tmp/correct_v$v.log | awk '{print $3}')
      echo "variant $v: rc=$rc correctness failures=${f:-?} (t=${SECONDS}s)"
      [ $rc -eq 0 ] && [ "${f:-x}" = "0" ] && pass="$pass${pass:+,}$v"
      { cat /tmp/correct_v$v.log; echo "=== end variant $v rc=$rc"; } >> "$out/correct.log"
    done
    grep -E "FAIL" "$out/correct.log" | head -n 20
    best=4
    if [ -n "$pass" ]; then
      timeout 150 "$bin" --no-correctness --shapes llama3-8b --ns 1,16 --repeats 5 --iters 10 --variant 4 --variants "$pass" \
        --sweep --seed 12 --git "$sha" --json "$out/compare.json" > "$out/compare.log" 2>&1
      echo "compare rc=$? (t=${SECONDS}s)"
      grep -E "FAIL|^ +[0-9]+x|variant|best" "$out/compare.log" | head -n 90
      b=$(grep -oE "^best variant: [0-9]+" "$out/compare.log" | awk '{print $3}')
      [ -n "$b" ] && best=$b
    fi
    echo "full run with variant $best (passed: ${pass:-none})"
    extra=""
    [ "$best" != 4 ] && extra="--variants 4"
    timeout 300 "$bin" --shapes llama3-8b,llama3-70b --ns 1,2,4,8,16,32,64,128,512 --repeats 7 --iters 20 --variant "$best" $extra \
      --git "$sha" --json "$out/zipgemm-$gpu_tag.json" > "$out/full.log" 2>&1
    echo "full rc=$? (t=${SECONDS}s)"
    grep -E "FAIL|correctness failures|device|copy" "$out/full.log" | head -n 20
    sed -n '/^shape /,$p' "$out/full.log"
    {
      for k in 'ILb1ELi8ELi4ELb0' 'ILb1ELi8ELi8ELb1' 'ILb1ELi16ELi8ELb1'; do
        cuobjdump -sass "$bin" | awk -v k="$k" '/Function :/{f=index($0,k)>0} f' > /tmp/k.sass
        echo "SASS gemm_kernel$k: $(grep -cE '^ +/\*[0-9a-f]+\*/' /tmp/k.sass) instrs"
        grep -oE "^ +/\*[0-9a-f]+\*/ +(@!?U?P[0-9T] +)?[A-Z0-9]+" /tmp/k.sass | awk '{print $NF}' | sort | uniq -c | sort -rn | head -25 | tr '\n' ' '
        echo
      done
      left=$((560 - SECONDS))
      if [ $left -gt 40 ]; then
        timeout $((left - 10)) ncu --clock-control none --kernel-name regex:gemm_kernel --launch-count 1 --section SpeedOfLight \
          --section Occupancy --section WarpStateStats --section InstructionStats --section MemoryWorkloadAnalysis "$bin" \
          --shapes 6144x4096 --ns 16 --repeats 1 --iters 1 --no-correctness --variant "$best"
      fi
    } > "$out/prof.txt" 2>&1
    grep -E "^SASS|Duration|Throughput|Achieved Active|Warp Cycles|Executed Ipc|Registers|Block Limit|Theoretical Occ" "$out/prof.txt" | head -30
    ;;
  *) echo "gpu-kernels: unknown mode $mode (first|quick|full|sanitize|v5)" >&2; exit 2 ;;
esac
if [ "$mode" = full ] && [ -n "${ZS_PROFILE:-}" ]; then
  ncu --clock-control none --kernel-name regex:gemm_kernel --launch-count 1 --section SpeedOfLight --section Occupancy \
    --section WarpStateStats --section InstructionStats "$bin" --shapes 6144x4096 --ns 1 --repeats 1 --iters 1 \
    --no-correctness 2>&1 | grep -E "Duration|Throughput|Achieved Active|Warp Cycles|Executed Ipc|Issued Warp|Stall" | head -20
  cuobjdump -sass "$bin" | awk '/Function : .*gemm_kernelILb1ELi8/{f=1;next} /Function :/{f=0} f' > "$out/zip8.sass"
  grep -oE "^ +/\*[0-9a-f]+\*/ +(@!?U?P[0-9T] +)?[A-Z0-9]+" "$out/zip8.sass" | awk '{print $NF}' | sort | uniq -c | sort -rn | head -25 | tr '\n' ' '
fi
