# ncu on the GPU host: the ZipGEMM stream kernel and cuBLAS's kernel on 28672x4096 at N = 1 (speed of light,
# occupancy, warp states, instruction counts, memory), one launch each, reports in $OUT/ncu-*.txt and a summary
# on stdout. Needs the harness (packages/backend-cuda/dev/build.sh -> .carry/gemm, or packed in .carry/gemmx); device
# tool carry [".carry/gemm"] or [".carry/gemmx"].
# Results of 2026-11-28 (H200): bench/results/ncu-h200-*.txt.
bash "$(dirname "$0")/unpack-harness.sh"
bin=.carry/gemm/zipgemm_bench
S="--section SpeedOfLight --section Occupancy --section WarpStateStats --section InstructionStats --section MemoryWorkloadAnalysis --section LaunchStats"
for k in stream_kernel nvjet; do
  timeout 120 ncu --clock-control none --kernel-name regex:$k --launch-skip 2 --launch-count 1 $S $bin --shapes 28672x4096 --ns 1 --repeats 1 --iters 3 --no-correctness > $OUT/ncu-$k.txt 2>&1
  echo "== $k"; grep -E "^  [a-z_].*\(|Duration|DRAM Throughput|Memory Throughput|Compute \(SM\)|Executed Ipc A|Issue Slots Busy|Achieved Occupancy|Theoretical Occupancy|Registers Per|Executed Instructions  |Warp Cycles Per Issued|Avg. Active Threads|Block Limit Reg|Waves Per SM|Grid Size|L2 Hit|Mem Busy|Max Bandwidth" $OUT/ncu-$k.txt | head -30
done
