// A vitest-compatible subset for machines without vitest (the GPU host has no pnpm, no network):
// the GPU bundles alias `vitest` to this module, so the packages' own test files run unchanged.
// Supported: describe/it/test (+ .skip, .skipIf, .runIf, .todo), beforeAll/afterAll/beforeEach/
// afterEach, and expect() with the common matchers (+ .not, .rejects, .resolves). An unsupported
// matcher fails its test with a message naming it, never silently passes.

import { writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';

type Fn = () => unknown;

interface TestNode {
  kind: 'test';
  name: string;
  fn?: Fn;
  skip: string | null;
  timeoutMs: number;
}

interface SuiteNode {
  kind: 'suite';
  name: string;
  skip: string | null;
  children: (SuiteNode | TestNode)[];
  beforeAll: Fn[];
  afterAll: Fn[];
  beforeEach: Fn[];
  afterEach: Fn[];
}

const newSuite = (name: string, skip: string | null): SuiteNode => ({ kind: 'suite', name, skip, children: [], beforeAll: [], afterAll: [], beforeEach: [], afterEach: [] });
const root = newSuite('', null);
let current = root;
const DEFAULT_TIMEOUT_MS = Number(process.env.ZIPSERV_TEST_TIMEOUT_MS ?? 600_000);

function addSuite(name: string, fn: Fn, skip: string | null): void {
  const suite = newSuite(name, skip);
  current.children.push(suite);
  const parent = current;
  current = suite;
  try {
    const r = fn();
    if (r && typeof (r as Promise<unknown>).then === 'function') throw new Error(`describe('${name}') must be synchronous`);
  } finally {
    current = parent;
  }
}

function addTest(name: string, fn: Fn | undefined, skip: string | null, timeoutMs?: number): void {
  current.children.push({ kind: 'test', name, fn, skip, timeoutMs: timeoutMs ?? DEFAULT_TIMEOUT_MS });
}

type DescribeFn = ((name: string, fn: Fn) => void) & {
  skip(name: string, fn: Fn): void;
  skipIf(cond: unknown): (name: string, fn: Fn) => void;
  runIf(cond: unknown): (name: string, fn: Fn) => void;
};
type ItFn = ((name: string, fn: Fn, timeoutMs?: number) => void) & {
  skip(name: string, fn?: Fn, timeoutMs?: number): void;
  skipIf(cond: unknown): (name: string, fn: Fn, timeoutMs?: number) => void;
  runIf(cond: unknown): (name: string, fn: Fn, timeoutMs?: number) => void;
  todo(name: string): void;
};

export const describe: DescribeFn = Object.assign((name: string, fn: Fn) => addSuite(name, fn, null), {
  skip: (name: string, fn: Fn) => addSuite(name, fn, 'skip'),
  skipIf: (cond: unknown) => (name: string, fn: Fn) => addSuite(name, fn, cond ? 'skipIf' : null),
  runIf: (cond: unknown) => (name: string, fn: Fn) => addSuite(name, fn, cond ? null : 'runIf'),
});

export const it: ItFn = Object.assign((name: string, fn: Fn, timeoutMs?: number) => addTest(name, fn, null, timeoutMs), {
  skip: (name: string, fn?: Fn, timeoutMs?: number) => addTest(name, fn, 'skip', timeoutMs),
  skipIf: (cond: unknown) => (name: string, fn: Fn, timeoutMs?: number) => addTest(name, fn, cond ? 'skipIf' : null, timeoutMs),
  runIf: (cond: unknown) => (name: string, fn: Fn, timeoutMs?: number) => addTest(name, fn, cond ? null : 'runIf', timeoutMs),
  todo: (name: string) => addTest(name, undefined, 'todo'),
});
export const test = it;

export const beforeAll = (fn: Fn): void => void current.beforeAll.push(fn);
export const afterAll = (fn: Fn): void => void current.afterAll.push(fn);
export const beforeEach = (fn: Fn): void => void current.beforeEach.push(fn);
export const afterEach = (fn: Fn): void => void current.afterEach.push(fn);

// ---- expect

export class AssertionError extends Error {
  override name = 'AssertionError';
}

const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as ArrayLike<number>).length ?? v.byteLength})`;
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  try {
    const s = JSON.stringify(v);
    return s && s.length > 200 ? `${s.slice(0, 200)}...` : String(s);
  } catch {
    return String(v);
  }
};

function matchesObject(actual: unknown, expected: unknown): boolean {
  if (expected === null || typeof expected !== 'object') return Object.is(actual, expected) || isDeepStrictEqual(actual, expected);
  if (actual === null || typeof actual !== 'object') return false;
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => matchesObject(actual[i], e));
  return Object.entries(expected).every(([k, e]) => matchesObject((actual as Record<string, unknown>)[k], e));
}

function looseEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) return isDeepStrictEqual(a, b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => looseEqual(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b) && !(Object.getPrototypeOf(a) === Object.prototype || Object.getPrototypeOf(b) === Object.prototype)) return false;
    const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
    const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => looseEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

function errorMatches(err: unknown, expected: unknown): boolean {
  if (expected === undefined) return true;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof expected === 'string') return message.includes(expected);
  if (expected instanceof RegExp) return expected.test(message);
  if (typeof expected === 'function') return err instanceof (expected as new (...a: unknown[]) => unknown);
  if (expected instanceof Error) return message === expected.message;
  return false;
}

type Matchers = Record<string, (...args: unknown[]) => void>;

function syncMatchers(actual: unknown, negate: boolean, label: string): Matchers {
  const check = (pass: boolean, what: string): void => {
    if (pass === negate) throw new AssertionError(`${label}expected ${show(actual)} ${negate ? 'not ' : ''}${what}`);
  };
  const num = (v: unknown): number => Number(v);
  return {
    toBe: (e) => check(Object.is(actual, e), `to be ${show(e)}`),
    toEqual: (e) => check(looseEqual(actual, e), `to equal ${show(e)}`),
    toStrictEqual: (e) => check(isDeepStrictEqual(actual, e), `to strictly equal ${show(e)}`),
    toBeNull: () => check(actual === null, 'to be null'),
    toBeUndefined: () => check(actual === undefined, 'to be undefined'),
    toBeDefined: () => check(actual !== undefined, 'to be defined'),
    toBeTruthy: () => check(Boolean(actual), 'to be truthy'),
    toBeFalsy: () => check(!actual, 'to be falsy'),
    toBeNaN: () => check(Number.isNaN(actual), 'to be NaN'),
    toBeLessThan: (e) => check(num(actual) < num(e), `to be < ${show(e)}`),
    toBeLessThanOrEqual: (e) => check(num(actual) <= num(e), `to be <= ${show(e)}`),
    toBeGreaterThan: (e) => check(num(actual) > num(e), `to be > ${show(e)}`),
    toBeGreaterThanOrEqual: (e) => check(num(actual) >= num(e), `to be >= ${show(e)}`),
    toBeCloseTo: (e, digits = 2) => check(Math.abs(num(actual) - num(e)) < 10 ** -num(digits) / 2, `to be close to ${show(e)}`),
    toMatch: (e) => check(typeof actual === 'string' && (e instanceof RegExp ? e.test(actual) : actual.includes(String(e))), `to match ${String(e)}`),
    toContain: (e) => check((typeof actual === 'string' && actual.includes(String(e))) || (Array.isArray(actual) && actual.includes(e)), `to contain ${show(e)}`),
    toHaveLength: (e) => check((actual as { length?: number })?.length === e, `to have length ${show(e)}`),
    toBeInstanceOf: (e) => check(actual instanceof (e as new (...a: unknown[]) => unknown), `to be an instance of ${(e as { name?: string }).name}`),
    toMatchObject: (e) => check(matchesObject(actual, e), `to match object ${show(e)}`),
    toHaveProperty: (k) => check(actual != null && String(k) in Object(actual), `to have property ${show(k)}`),
    toThrow: (e) => {
      if (typeof actual !== 'function') throw new AssertionError(`${label}toThrow needs a function`);
      let thrown: unknown;
      let threw = false;
      try {
        (actual as () => unknown)();
      } catch (err) {
        threw = true;
        thrown = err;
      }
      if (negate) {
        if (threw) throw new AssertionError(`${label}expected no throw, got ${show(thrown)}`);
        return;
      }
      if (!threw) throw new AssertionError(`${label}expected a throw${e === undefined ? '' : ` matching ${String(e)}`}`);
      if (!errorMatches(thrown, e)) throw new AssertionError(`${label}expected a throw matching ${String(e)}, got ${show(thrown)}`);
    },
  };
}

function guard(matchers: Matchers): Matchers {
  return new Proxy(matchers, {
    get(target, prop) {
      if (typeof prop === 'string' && !(prop in target)) {
        return () => {
          throw new AssertionError(`mini-vitest: expect(...).${prop} is not supported on the GPU host runner`);
        };
      }
      return target[prop as string];
    },
  });
}

export function expect(actual: unknown, message?: string) {
  const label = message ? `${message}: ` : '';
  const base = guard(syncMatchers(actual, false, label));
  const asyncOf = (mode: 'rejects' | 'resolves') =>
    guard(
      Object.fromEntries(
        Object.keys(syncMatchers(undefined, false, '')).map((name) => [
          name,
          async (...args: unknown[]) => {
            let settled: unknown;
            try {
              settled = await (actual as Promise<unknown>);
              if (mode === 'rejects') throw new AssertionError(`${label}expected a rejection, the promise resolved to ${show(settled)}`);
            } catch (err) {
              if (err instanceof AssertionError) throw err;
              if (mode === 'resolves') throw new AssertionError(`${label}expected a resolution, the promise rejected: ${show(err)}`);
              settled = err;
            }
            if (mode === 'rejects' && name === 'toThrow') {
              if (!errorMatches(settled, args[0])) throw new AssertionError(`${label}expected a rejection matching ${String(args[0])}, got ${show(settled)}`);
              return;
            }
            syncMatchers(settled, false, label)[name]!(...args);
          },
        ]),
      ) as Matchers,
    );
  return Object.assign(base, {
    not: guard(syncMatchers(actual, true, label)),
    get rejects() {
      return asyncOf('rejects');
    },
    get resolves() {
      return asyncOf('resolves');
    },
  });
}

// ---- runner

export interface TestResult {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  ms: number;
  error?: string;
}

async function withTimeout(fn: Fn, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(fn),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const firstLine = (err: unknown): string => (err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err)).split('\n')[0]!;

async function runSuite(suite: SuiteNode, path: string[], eachHooks: { before: Fn[]; after: Fn[] }, results: TestResult[], skipped: boolean): Promise<void> {
  const title = (name: string) => [...path, suite.name, name].filter(Boolean).join(' > ');
  const hasRunnable = (s: SuiteNode): boolean => s.children.some((c) => (c.kind === 'test' ? !c.skip : !c.skip && hasRunnable(c)));
  const runHooks = !skipped && hasRunnable(suite);
  let setupError: unknown = null;
  if (runHooks) {
    for (const h of suite.beforeAll) {
      try {
        await withTimeout(h, DEFAULT_TIMEOUT_MS, `beforeAll of ${[...path, suite.name].filter(Boolean).join(' > ') || 'root'}`);
      } catch (err) {
        setupError = err;
        break;
      }
    }
  }
  const hooks = { before: [...eachHooks.before, ...suite.beforeEach], after: [...suite.afterEach, ...eachHooks.after] };
  for (const child of suite.children) {
    if (child.kind === 'suite') {
      await runSuite(child, [...path, suite.name], hooks, results, skipped || child.skip !== null || setupError !== null);
      continue;
    }
    const name = title(child.name);
    if (skipped || child.skip || !child.fn) {
      results.push({ name, status: 'skip', ms: 0 });
      console.log(`  - ${name}`);
      continue;
    }
    if (setupError) {
      results.push({ name, status: 'fail', ms: 0, error: `setup failed: ${firstLine(setupError)}` });
      console.log(`  x ${name}: setup failed: ${firstLine(setupError)}`);
      continue;
    }
    const t0 = performance.now();
    try {
      for (const h of hooks.before) await h();
      await withTimeout(child.fn, child.timeoutMs, name);
      for (const h of hooks.after) await h();
      const ms = performance.now() - t0;
      results.push({ name, status: 'pass', ms });
      console.log(`  ok ${name} (${ms.toFixed(0)} ms)`);
    } catch (err) {
      const ms = performance.now() - t0;
      results.push({ name, status: 'fail', ms, error: firstLine(err) });
      console.log(`  x ${name} (${ms.toFixed(0)} ms): ${firstLine(err)}`);
      if (process.env.ZIPSERV_TEST_STACKS === '1' && err instanceof Error) console.log(err.stack);
    }
  }
  if (runHooks) {
    for (const h of suite.afterAll) {
      try {
        await h();
      } catch (err) {
        results.push({ name: `afterAll of ${[...path, suite.name].filter(Boolean).join(' > ')}`, status: 'fail', ms: 0, error: firstLine(err) });
      }
    }
  }
}

/** Runs every registered test; prints one line per test and a summary; writes JSON to `jsonPath`. */
export async function runAll(options: { title: string; jsonPath?: string }): Promise<TestResult[]> {
  const results: TestResult[] = [];
  console.log(`# ${options.title}`);
  const t0 = performance.now();
  await runSuite(root, [], { before: [], after: [] }, results, false);
  const count = (s: TestResult['status']) => results.filter((r) => r.status === s).length;
  const summary = { title: options.title, passed: count('pass'), failed: count('fail'), skipped: count('skip'), seconds: (performance.now() - t0) / 1000, date: new Date().toISOString(), results };
  console.log(`# ${options.title}: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped in ${summary.seconds.toFixed(1)} s`);
  if (options.jsonPath) writeFileSync(options.jsonPath, `${JSON.stringify(summary, null, 2)}\n`);
  if (summary.failed > 0) process.exitCode = 1;
  return results;
}
