// A minimal describe/it/afterAll harness for running the conformance suite outside vitest (Deno,
// and the bundled GPU-host runner). Tests run in registration order, one at a time.

import type { ConformanceHarness } from '@zipserv/codec-ref';

export interface TestResult {
  suite: string;
  name: string;
  status: 'pass' | 'fail' | 'skip';
  ms: number;
  error?: string;
}

interface Entry {
  name: string;
  fn?: () => Promise<void>;
}

export function createMiniHarness(suite: string): { harness: ConformanceHarness; run(): Promise<TestResult[]> } {
  const entries: Entry[] = [];
  const after: (() => unknown)[] = [];
  const prefix: string[] = [];
  const full = (name: string) => [...prefix, name].join(' > ');
  const it = Object.assign((name: string, fn: () => Promise<void>) => void entries.push({ name: full(name), fn }), {
    skip: (name: string) => void entries.push({ name: full(name) }),
  });
  const harness: ConformanceHarness = {
    describe(name, fn) {
      prefix.push(name);
      try {
        fn();
      } finally {
        prefix.pop();
      }
    },
    it,
    afterAll: (fn) => void after.push(fn),
  };
  return {
    harness,
    async run() {
      const results: TestResult[] = [];
      for (const e of entries) {
        if (!e.fn) {
          results.push({ suite, name: e.name, status: 'skip', ms: 0 });
          continue;
        }
        const t0 = performance.now();
        try {
          await e.fn();
          results.push({ suite, name: e.name, status: 'pass', ms: performance.now() - t0 });
        } catch (err) {
          results.push({ suite, name: e.name, status: 'fail', ms: performance.now() - t0, error: (err as Error).message });
        }
      }
      for (const fn of after) await fn();
      return results;
    },
  };
}
