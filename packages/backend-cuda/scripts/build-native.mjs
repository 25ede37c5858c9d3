#!/usr/bin/env node
// `pnpm build:native`: compiles the addon with cmake-js + nvcc. On a machine without the CUDA
// toolkit or CMake it says so and steps aside (exit 0): the backend then reports itself unavailable
// and its GPU tests are named skips. CI sets ZIPSERV_REQUIRE_CUDA_ADDON=1, which turns a missing
// toolkit into a failure here too.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const onPath = (exe) => (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, exe)));
const nvcc =
  onPath('nvcc') || [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda'].some((d) => d && existsSync(join(d, 'bin', 'nvcc')));
const missing = [!nvcc && 'nvcc (CUDA toolkit 13)', !onPath('cmake') && 'cmake'].filter(Boolean);
if (missing.length > 0) {
  const msg = `build:native: ${missing.join(' and ')} not found; the CUDA addon is not built`;
  if (process.env.ZIPSERV_REQUIRE_CUDA_ADDON === '1') {
    console.error(msg);
    process.exit(1);
  }
  console.log(`${msg} (skipped; the cuda backend will report itself unavailable)`);
  process.exit(0);
}
const args = ['compile', '--out', 'build', '--parallel', '2', '--CDCMAKE_BUILD_TYPE=Release', '--CDZIPSERV_GEMM=ON'];
const run = spawnSync('cmake-js', args, { stdio: 'inherit', shell: process.platform === 'win32' });
process.exit(run.status ?? 1);
