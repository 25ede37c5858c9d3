// zipserv doctor: what can run here. Backends and why not (GPU, driver, addon built, WebGPU
// adapter), Node and platform, the GPU as nvidia-smi sees it, and for an optional model directory
// its size, format and whether the engine supports its architecture.

import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ModelReader } from '@zipserv/codec-ref';
import { listBackends, parseModelConfig } from '@zipserv/runtime';
import { backendLoadProblems, registerInstalledBackends } from './run.js';

interface ModelReport {
  dir: string;
  bytes: number;
  files: number;
  format: 'zipserv-compressed' | 'huggingface';
  tensors: number;
  compressedTensors: number;
  architecture: string | null;
  supported: boolean;
  problem: string | null;
}

interface DoctorReport {
  node: string;
  platform: string;
  cpus: number;
  memoryBytes: number;
  nvidiaSmi: string | null;
  backends: Array<{ name: string; available: boolean; reason: string | null }>;
  model?: ModelReport;
}

function nvidiaSmi(): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { timeout: 5000 }, (err, stdout) => {
      resolve(err ? null : stdout.trim().split('\n').join('; ') || null);
    });
  });
}

async function dirBytes(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isFile()) {
      bytes += (await stat(join(dir, e.name))).size;
      files++;
    }
  }
  return { bytes, files };
}

async function inspectModelDir(dir: string): Promise<ModelReport> {
  const reader = await ModelReader.open(dir);
  try {
    const { bytes, files } = await dirBytes(reader.root);
    const tensors = reader.tensors();
    let problem: string | null = null;
    let architecture: string | null = null;
    if (!reader.config) problem = 'no config.json';
    else {
      const archs = reader.config.architectures;
      architecture = Array.isArray(archs) ? archs.join(', ') : String(reader.config.model_type ?? 'unknown');
      try {
        parseModelConfig(reader.config, join(dir, 'config.json'));
      } catch (err) {
        problem = (err as Error).message;
      }
    }
    return {
      dir,
      bytes,
      files,
      format: reader.compressed ? 'zipserv-compressed' : 'huggingface',
      tensors: tensors.length,
      compressedTensors: tensors.filter((t) => t.storage === 'tca-tbe').length,
      architecture,
      supported: problem === null,
      problem,
    };
  } finally {
    await reader.close();
  }
}

export function register(program: Command): void {
  program
    .command('doctor')
    .description('which backends are usable here and why not; optionally, what a model directory holds')
    .argument('[model]', 'model directory to check')
    .option('--json', 'print a JSON report')
    .action(async (model: string | undefined, o: { json?: boolean }) => {
      await registerInstalledBackends();
      const report: DoctorReport = {
        node: process.version,
        platform: `${os.platform()} ${os.arch()} (${os.release()})`,
        cpus: os.availableParallelism(),
        memoryBytes: os.totalmem(),
        nvidiaSmi: await nvidiaSmi(),
        backends: (await listBackends()).map((b) => (b.available || !backendLoadProblems.has(b.name) ? b : { ...b, reason: backendLoadProblems.get(b.name)! })),
      };
      if (model) report.model = await inspectModelDir(model);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      const lines = [
        `node      ${report.node} on ${report.platform}, ${report.cpus} CPUs, ${(report.memoryBytes / 2 ** 30).toFixed(1)} GiB`,
        `gpu       ${report.nvidiaSmi ?? 'nvidia-smi not found or no NVIDIA GPU'}`,
        'backends',
        ...report.backends.map((b) => `  ${b.name.padEnd(8)} ${b.available ? 'ok' : `unavailable: ${b.reason}`}`),
      ];
      const m = report.model;
      if (m) {
        lines.push(
          `model     ${m.dir}`,
          `  format  ${m.format}, ${m.files} files, ${(m.bytes / 2 ** 20).toFixed(1)} MiB, ${m.tensors} tensors (${m.compressedTensors} TCA-TBE)`,
          `  arch    ${m.architecture ?? 'unknown'}: ${m.supported ? 'supported' : `not supported (${m.problem})`}`,
        );
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
