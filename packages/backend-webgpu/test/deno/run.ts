// Deno entry: kernel cases and the conformance suite on Deno's WebGPU (wgpu; lavapipe on a CPU
// machine). Prints one JSON line (RunAllReport) last; exit code 1 when a case fails, 3 when there is
// no adapter. Options: --filter=REGEX, --seed=N, --disable=subgroups,shader-f16.

import { runAll } from '../shared/run-all.js';

// The few Deno globals used here (the package typechecks with Node's types).
declare const Deno: { args: string[]; exit(code: number): never };

const arg = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const filter = arg('filter');
const seed = arg('seed');
const report = await runAll({
  filter: filter ? new RegExp(filter) : undefined,
  seed: seed ? Number(seed) : undefined,
  disableFeatures: arg('disable')?.split(',') ?? [],
  label: 'webgpu/deno',
});
for (const r of report.results) {
  console.error(`${r.status.toUpperCase()} [${r.suite}] ${r.name} (${r.ms.toFixed(0)} ms)${r.error ? `\n  ${r.error}` : ''}`);
}
console.log(JSON.stringify(report));
Deno.exit(report.adapter === null ? 3 : report.results.some((r) => r.status === 'fail') ? 1 : 0);
