// Runs test/deno/run.ts (kernel cases + the shared conformance suite) in Deno, whose WebGPU
// (wgpu) finds Mesa's lavapipe on a CPU machine, and reports each case here by name. Without Deno
// or an adapter the cases are named skips.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RunAllReport } from './shared/run-all.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The Deno command: ZIPSERV_DENO, else the `deno` devDependency (its bin.cjs finds the platform
 *  binary even though pnpm skipped the package's install script). */
function denoCommand(): { cmd: string; args: string[] } | { missing: string } {
  if (process.env.ZIPSERV_DENO) return { cmd: process.env.ZIPSERV_DENO, args: [] };
  try {
    const bin = join(dirname(createRequire(import.meta.url).resolve('deno/package.json')), 'bin.cjs');
    if (existsSync(bin)) return { cmd: process.execPath, args: [bin] };
  } catch {
    // fall through
  }
  return { missing: "the 'deno' devDependency is not installed (or set ZIPSERV_DENO)" };
}

function runDeno(): RunAllReport & { skipReason?: string } {
  const deno = denoCommand();
  if ('missing' in deno) return { adapter: null, features: null, results: [], skipReason: deno.missing };
  const proc = spawnSync(deno.cmd, [...deno.args, 'run', '-A', '--config', join(here, 'deno', 'deno.json'), join(here, 'deno', 'run.ts')], {
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', NO_COLOR: '1' },
    maxBuffer: 64 << 20,
  });
  const last = proc.stdout?.trim().split('\n').pop() ?? '';
  let report: RunAllReport;
  try {
    report = JSON.parse(last) as RunAllReport;
  } catch {
    throw new Error(`deno run failed (exit ${proc.status}${proc.signal ? `, ${proc.signal}` : ''}): ${(proc.stderr ?? '').trim().split('\n').slice(-5).join(' | ')}`);
  }
  if (report.adapter === null) return { ...report, skipReason: `Deno has no WebGPU adapter here: ${report.reason}` };
  return report;
}

const report = runDeno();

describe(`Deno WebGPU (${report.adapter ?? 'unavailable'})`, () => {
  if (report.skipReason) {
    it.skip(`kernel cases and conformance suite — skipped: ${report.skipReason}`, () => {});
    return;
  }
  it('ran every kernel case and the conformance suite', () => {
    expect(report.results.filter((r) => r.suite.startsWith('kernels')).length).toBeGreaterThan(10);
    expect(report.results.filter((r) => r.suite.startsWith('conformance')).length).toBeGreaterThan(20);
  });
  for (const r of report.results) {
    const title = `[${r.suite.split(' ')[0]}] ${r.name.replace(/^conformance: .*? > /, '')}`;
    if (r.status === 'skip') it.skip(title, () => {});
    else
      it(title, () => {
        if (r.status === 'fail') throw new Error(r.error ?? 'failed');
      });
  }
});
