#!/usr/bin/env node
// `pnpm run bench`: every package's benchmark on this machine (turbo, one at a time: the codec on the
// CPU, each GPU backend that is available; the others say why they stepped aside), then ONE table of
// what this run measured, read back from the JSON files it wrote under bench/results/.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = join(root, 'bench/results');
const started = Date.now();

const turbo = spawnSync('pnpm', ['exec', 'turbo', 'run', 'bench', '--concurrency=1', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});

const fmt = (x, digits = 2) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '-');
const rows = [];
const fresh = readdirSync(resultsDir)
  .filter((f) => f.endsWith('.json') && statSync(join(resultsDir, f)).mtimeMs >= started)
  .sort();
for (const file of fresh) {
  let d;
  try {
    d = JSON.parse(readFileSync(join(resultsDir, file), 'utf8'));
  } catch {
    continue;
  }
  if (Array.isArray(d.cases) && d.machine) {
    // codec-ref: CPU encode/decode
    for (const c of d.cases) {
      rows.push(['codec', d.machine.cpu ?? 'CPU', `${c.name} ${c.shape}`, `encode ${fmt(c.encodeMBps?.singleThread, 0)} MB/s, decode ${fmt(c.decodeMBps?.singleThread, 0)} MB/s`, `ratio ${fmt(c.ratio, 3)}`]);
    }
  } else if (Array.isArray(d.rows) && d.adapter) {
    // backend-webgpu: ZipGEMM vs its dense twin
    for (const r of d.rows) {
      rows.push(['webgpu', d.adapter, `${r.M}x${r.K} N=${r.N}`, `zipgemm ${fmt(r.zipgemmUs, 1)} us, dense ${fmt(r.denseUs, 1)} us`, `${fmt(r.speedup)}x dense`]);
    }
  } else if (Array.isArray(d.cases) && d.gpu) {
    // backend-cuda: ZipGEMM vs cuBLAS
    for (const c of d.cases) {
      rows.push(['cuda', d.gpu, `${c.M}x${c.K} N=${c.N}`, `auto ${fmt(c.us?.auto, 1)} us (${c.auto}), cuBLAS ${fmt(c.us?.cublas, 1)} us`, `${fmt(c.speedup?.auto)}x cuBLAS`]);
    }
  }
}

if (rows.length > 0) {
  const head = ['suite', 'device', 'case', 'measured', 'ratio'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  console.log(`\nbench summary (${fresh.join(', ')})`);
  console.log(line(head));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
} else {
  console.log('\nbench summary: no benchmark wrote results in this run');
}
process.exitCode = turbo.status ?? 1;
