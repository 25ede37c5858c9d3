// Tests of the conformance suite itself: registration, named skips (explicit and from
// capabilities), and that deliberately broken backends fail the right cases with the seed printed.

import { type OpGraph, OP_NAMES, type OpNode, type ZipservBackendV1 } from '@zipserv/format';
import { describe, expect, it } from 'vitest';
import { createRefBackend } from '../src/backend/index.js';
import {
  CONFORMANCE_CASES,
  CONFORMANCE_CASE_IDS,
  type ConformanceHarness,
  type ConformanceOptions,
  ConformanceSkip,
  type ConformanceTestFn,
  defineConformanceSuite,
  unsupportedReason,
} from '../src/conformance/index.js';

interface Registered {
  name: string;
  skipped: boolean;
  fn?: ConformanceTestFn;
}

/** A harness that records what the suite registers instead of running it. */
async function register(options: ConformanceOptions): Promise<{ title: string; tests: Registered[]; cleanups: (() => unknown)[] }> {
  const tests: Registered[] = [];
  const cleanups: (() => unknown)[] = [];
  let title = '';
  const it = Object.assign((name: string, fn: ConformanceTestFn) => void tests.push({ name, skipped: false, fn }), {
    skip: (name: string) => void tests.push({ name, skipped: true }),
  });
  const harness: ConformanceHarness = {
    describe(name, fn) {
      title = name;
      fn();
    },
    it,
    afterAll: (fn) => void cleanups.push(fn),
  };
  await defineConformanceSuite(harness, options);
  return { title, tests, cleanups };
}

const byId = (tests: Registered[], id: string) => {
  const t = tests.find((x) => x.name.startsWith(`${id} — `));
  if (!t) throw new Error(`case ${id} not registered`);
  return t;
};

/** The ref backend with a hook that tampers with results after each run (a buggy kernel), and optional lies in its capabilities. */
function brokenBackend(tamper: (node: OpNode, inner: ZipservBackendV1) => Promise<void> | void, options: { rewrite?: (g: OpGraph) => OpGraph; caps?: Partial<ZipservBackendV1['capabilities']>; inner?: ZipservBackendV1 } = {}): ZipservBackendV1 {
  const inner = options.inner ?? createRefBackend();
  return {
    specificationVersion: 'v1',
    name: 'broken',
    capabilities: { ...inner.capabilities, ...options.caps },
    createTensor: (d, init) => inner.createTensor(d, init),
    writeTensor: (t, data, offset) => inner.writeTensor(t, data, offset),
    readTensor: (t) => inner.readTensor(t),
    uploadWeight: (s) => inner.uploadWeight(s),
    free: (h) => inner.free(h),
    synchronize: () => inner.synchronize(),
    dispose: () => inner.dispose(),
    compileGraph(graph) {
      const compiled = inner.compileGraph(options.rewrite ? options.rewrite(graph) : graph);
      return {
        label: compiled.label,
        nodeCount: compiled.nodeCount,
        async run() {
          await compiled.run();
          for (const node of graph.nodes) await tamper(node, inner);
        },
        dispose: () => compiled.dispose(),
      };
    },
  };
}

async function runCase(backend: ZipservBackendV1, id: string, seed = 1234): Promise<void> {
  const { tests } = await register({ name: 'broken', createBackend: async () => backend, seed });
  await byId(tests, id).fn!();
}

describe('conformance registration', () => {
  it('has one case per id, in the exported order, and puts the seed in the title', async () => {
    expect(CONFORMANCE_CASES.map((c) => c.id)).toEqual([...CONFORMANCE_CASE_IDS]);
    const { title, tests } = await register({ name: 'ref', createBackend: async () => createRefBackend(), seed: 77 });
    expect(title).toBe('conformance: ref vs ref (seed 77)');
    expect(tests.map((t) => t.name.split(' — ')[0])).toEqual([...CONFORMANCE_CASE_IDS]);
    expect(tests.every((t) => !t.skipped)).toBe(true);
    // ...and the reference backend supports every case, so none skips itself at run time either.
    const caps = createRefBackend().capabilities;
    expect(CONFORMANCE_CASES.filter((c) => unsupportedReason(c, caps) !== null).map((c) => c.id)).toEqual([]);
  });

  it('registers synchronously, so a call without await still defines every case', () => {
    const names: string[] = [];
    const it = Object.assign((name: string) => void names.push(name), { skip: (name: string) => void names.push(name) });
    void defineConformanceSuite({ describe: (_name, fn) => fn(), it }, { name: 'sync', createBackend: async () => createRefBackend() });
    expect(names).toHaveLength(CONFORMANCE_CASE_IDS.length);
  });

  it('skips explicitly listed cases in the title, and cases the capabilities rule out at run time, naming the reason', async () => {
    const partial = createRefBackend({ ops: OP_NAMES.filter((op) => op !== 'attention'), weightPaths: ['zipgemm', 'dense'] });
    const { tests } = await register({ name: 'partial', createBackend: async () => partial, skips: { rope: 'not ready yet' } });
    expect(tests.filter((t) => t.skipped).map((t) => t.name)).toEqual(['rope — skipped: not ready yet']);
    class Skipped extends Error {}
    const context = {
      skip(note?: string): never {
        throw new Skipped(note);
      },
    };
    const reasons: Record<string, string> = {};
    for (const t of tests.filter((x) => !x.skipped)) {
      try {
        await t.fn!(context);
      } catch (err) {
        expect(err).toBeInstanceOf(Skipped);
        reasons[t.name.split(' — ')[0]!] = (err as Error).message;
      }
    }
    expect(reasons).toEqual({
      'matmul.vendor': "weight path 'vendor' not in capabilities.weightPaths",
      'matmul.decompress+vendor': "weight path 'decompress+vendor' not in capabilities.weightPaths",
      'attention.decode': "op 'attention' not in capabilities.ops",
      'attention.prefill': "op 'attention' not in capabilities.ops",
      'attention.long-context': "op 'attention' not in capabilities.ops",
      'attention.bf16-cache': "op 'attention' not in capabilities.ops",
      'graph.sequence': "op 'attention' not in capabilities.ops",
    });
    // Without a context (a plain runner), the skip is a ConformanceSkip error carrying the reason.
    await expect(byId(tests, 'matmul.vendor').fn!()).rejects.toThrow(ConformanceSkip);
  });

  it('refuses unknown skip ids, skips everything when unavailable, and reports a failing createBackend', async () => {
    await expect(register({ name: 'x', createBackend: async () => createRefBackend(), skips: { 'matmul.fast': 'typo' } as never })).rejects.toThrow(/unknown case id 'matmul.fast'/);
    const unavailable = await register({ name: 'cuda', createBackend: async () => createRefBackend(), unavailable: 'no CUDA device' });
    expect(unavailable.tests.every((t) => t.skipped && t.name.endsWith('— skipped: no CUDA device'))).toBe(true);
    expect(unavailable.tests).toHaveLength(CONFORMANCE_CASE_IDS.length);
    const failing = await register({
      name: 'gpu',
      createBackend: async () => {
        throw new Error('driver too old');
      },
    });
    await expect(failing.tests[0]!.fn!()).rejects.toThrow("conformance suite 'gpu': createBackend failed: driver too old");
    await expect(failing.tests[1]!.fn!()).rejects.toThrow('skipped: the backend could not be created (see the first failure)');
  });

  it('creates the backend once, on first use, and disposes both backends through afterAll', async () => {
    const backend = createRefBackend();
    let created = 0;
    const { tests, cleanups } = await register({
      name: 'ref',
      createBackend: async () => {
        created++;
        return backend;
      },
    });
    expect(created).toBe(0);
    await byId(tests, 'add').fn!();
    await byId(tests, 'argmax').fn!();
    expect(created).toBe(1);
    for (const c of cleanups) await c();
    expect(() => backend.createTensor({ dtype: 'f32', shape: [1] })).toThrow(/after dispose/);
  });
});

describe('conformance catches broken backends', () => {
  const poisonTail = (t: Parameters<ZipservBackendV1['writeTensor']>[0], inner: ZipservBackendV1) => inner.writeTensor(t, new Float32Array([Number.NaN]), t.byteLength - 4);

  it('an unwritten last element (siluMul)', async () => {
    const backend = brokenBackend((node, inner) => (node.op === 'siluMul' ? poisonTail(node.out, inner) : undefined));
    await expect(runCase(backend, 'siluMul', 99)).rejects.toThrow(/broken siluMul: siluMul \[7, 172\]: 1 NaN values .* \[reproduce with seed 99/);
  });

  it('zipgemm one ulp away from dense', async () => {
    const backend = brokenBackend(async (node, inner) => {
      if (node.op === 'matmul' && node.path === 'zipgemm') {
        const y = (await inner.readTensor(node.out)) as Float32Array;
        new Uint32Array(y.buffer)[0]! += 1;
        inner.writeTensor(node.out, y);
      }
    });
    await expect(runCase(backend, 'matmul.zipgemm-equals-dense')).rejects.toThrow(/zipgemm vs dense: not bit-exact, first difference at flat index 0/);
    await runCase(backend, 'matmul.zipgemm'); // one ulp is within tolerance of float64
  });

  it('attention writing rows no sequence owns', async () => {
    const backend = brokenBackend((node, inner) => (node.op === 'attention' ? inner.writeTensor(node.out, new Float32Array(node.out.shape[1]!)) : undefined));
    await expect(runCase(backend, 'attention.decode')).rejects.toThrow(/outside the written region, changed/);
  });

  it('rope ignoring llama3 scaling', async () => {
    const dropScaling = (g: OpGraph): OpGraph => ({ ...g, nodes: g.nodes.map((n) => (n.op === 'rope' ? { ...n, scaling: undefined } : n)) });
    const backend = brokenBackend(() => undefined, { rewrite: dropScaling });
    await runCase(backend, 'rope');
    await expect(runCase(backend, 'rope.llama3')).rejects.toThrow(/llama3 hd 64: q and k heads rotated.*relative error/);
  });

  it('a backend that rounds matmul inputs to BF16 but declares f32', async () => {
    const liar = brokenBackend(() => undefined, { inner: createRefBackend({ matmulInputPrecision: 'bf16' }), caps: { matmulInputPrecision: 'f32' } });
    await expect(runCase(liar, 'matmul.dense')).rejects.toThrow(/vs float64 of the inputs the backend multiplies: relative error/);
    const honest = createRefBackend({ matmulInputPrecision: 'bf16' });
    for (const id of ['matmul.dense', 'matmul.zipgemm-equals-dense', 'matmul.epilogue', 'graph.sequence']) await runCase(honest, id);
  });

  it('a freed handle that still runs', async () => {
    const inner = createRefBackend();
    const backend: ZipservBackendV1 = { ...brokenBackend(() => undefined, { inner }), free: () => undefined };
    await expect(runCase(backend, 'errors.freed-handle')).rejects.toThrow(/compileGraph with a freed tensor: expected an error, none was thrown/);
  });
});
