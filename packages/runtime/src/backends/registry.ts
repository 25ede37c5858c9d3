// Backend discovery by name. Providers are registered explicitly (the ref provider by default) or
// found by importing `@zipserv/backend-<name>` and taking the exported BackendProviderV1 of that name.

import { refBackendProvider } from '@zipserv/codec-ref';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BackendProviderV1, ZipservBackendV1 } from '@zipserv/format';

export type BackendChoice = 'auto' | 'cuda' | 'webgpu' | 'ref' | (string & {}) | ZipservBackendV1;

/** Order in which 'auto' tries backends. */
export const AUTO_BACKEND_ORDER = ['cuda', 'webgpu', 'ref'] as const;

const providers = new Map<string, BackendProviderV1>();
registerBackend(refBackendProvider);

export function registerBackend(provider: BackendProviderV1): void {
  if (!isProvider(provider)) throw new TypeError('registerBackend needs a BackendProviderV1 (specificationVersion "v1", name, unavailableReason, create)');
  providers.set(provider.name, provider);
}

export function isProvider(x: unknown): x is BackendProviderV1 {
  const p = x as BackendProviderV1 | null;
  return !!p && typeof p === 'object' && p.specificationVersion === 'v1' && typeof p.name === 'string' && typeof p.create === 'function' && typeof p.unavailableReason === 'function';
}

/** The registered provider of that name, else the one exported by `@zipserv/backend-<name>`. */
export async function findBackendProvider(name: string): Promise<BackendProviderV1> {
  const known = providers.get(name);
  if (known) return known;
  const specifier = `@zipserv/backend-${name}`;
  let mod: Record<string, unknown>;
  try {
    mod = await importPackage(specifier);
  } catch (err) {
    throw new Error(`backend '${name}': package ${specifier} is not installed or failed to load (${firstLine(err)})`);
  }
  const found = Object.values(mod).find((v): v is BackendProviderV1 => isProvider(v) && v.name === name);
  if (!found) throw new Error(`backend '${name}': ${specifier} exports no BackendProviderV1 named '${name}'`);
  providers.set(name, found);
  return found;
}

/** Imports a package from here or, failing that, from the current directory's node_modules. */
async function importPackage(specifier: string): Promise<Record<string, unknown>> {
  try {
    return (await import(specifier)) as Record<string, unknown>;
  } catch (first) {
    try {
      const resolved = createRequire(join(process.cwd(), 'noop.js')).resolve(specifier);
      return (await import(pathToFileURL(resolved).href)) as Record<string, unknown>;
    } catch {
      throw first;
    }
  }
}

export interface BackendAvailability {
  name: string;
  available: boolean;
  /** Why not, when unavailable. */
  reason: string | null;
}

/** Availability of every known backend (the 'auto' order plus anything registered). */
export async function listBackends(): Promise<BackendAvailability[]> {
  const names = [...new Set<string>([...AUTO_BACKEND_ORDER, ...providers.keys()])];
  const out: BackendAvailability[] = [];
  for (const name of names) {
    try {
      const reason = await (await findBackendProvider(name)).unavailableReason();
      out.push({ name, available: reason === null, reason });
    } catch (err) {
      out.push({ name, available: false, reason: firstLine(err) });
    }
  }
  return out;
}

export interface ResolvedBackend {
  backend: ZipservBackendV1;
  /** True when the engine created it and must dispose it. */
  owned: boolean;
}

export async function resolveBackend(choice: BackendChoice, options?: Record<string, unknown>): Promise<ResolvedBackend> {
  if (typeof choice === 'object') {
    if (choice?.specificationVersion !== 'v1') throw new TypeError('backend object is not a ZipservBackendV1 (specificationVersion "v1")');
    return { backend: choice, owned: false };
  }
  if (choice === 'auto') {
    const reasons: string[] = [];
    for (const name of AUTO_BACKEND_ORDER) {
      try {
        const provider = await findBackendProvider(name);
        // emulated() first: it may answer without touching the device (a probe can be noisy).
        const reason = (await provider.emulated?.()) ? 'software emulation only (ask for it by name to use it)' : await provider.unavailableReason();
        if (reason === null) return { backend: await provider.create(options), owned: true };
        reasons.push(`${name}: ${reason}`);
      } catch (err) {
        reasons.push(`${name}: ${firstLine(err)}`);
      }
    }
    throw new Error(`no backend is available (${reasons.join('; ')})`);
  }
  const provider = await findBackendProvider(choice);
  const reason = await provider.unavailableReason();
  if (reason !== null) throw new Error(`backend '${choice}' is unavailable: ${reason}`);
  return { backend: await provider.create(options), owned: true };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}
