// Finding a GPU object: navigator.gpu in browsers and Deno, Dawn (the `webgpu` npm package) in Node.

/** Environment variable with Dawn options for Node, whitespace- or ';'-separated,
 *  e.g. `backend=vulkan enable-dawn-features=vulkan_enable_f16_on_nvidia`. */
export const WEBGPU_OPTIONS_ENV = 'ZIPSERV_WEBGPU_OPTIONS';

/** Thrown when this runtime has no WebGPU implementation at all. */
export class NoWebGpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoWebGpuError';
  }
}

export interface FindGpuOptions {
  /** Dawn options for Node's `webgpu` package (`create(options)`); default from ZIPSERV_WEBGPU_OPTIONS. */
  dawnOptions?: readonly string[];
}

interface NodeProcessLike {
  versions?: { node?: string };
  env: Record<string, string | undefined>;
  platform?: string;
}

function nodeProcess(): NodeProcessLike | undefined {
  const p = (globalThis as { process?: NodeProcessLike }).process;
  // Deno also defines `process` for npm compatibility, but it has navigator.gpu first.
  return p?.versions?.node ? p : undefined;
}

/** Parses ZIPSERV_WEBGPU_OPTIONS-style text into Dawn option strings. */
export function parseDawnOptions(text: string | undefined): string[] {
  if (!text) return [];
  return text
    .split(/[\s;]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

// Dawn aborts the process when several of its instances drive the OpenGL ES backend, so each set of
// options makes one instance per process, shared by every backend created from it.
const dawnInstances = new Map<string, GPU>();

/**
 * Returns a GPU object: `navigator.gpu` where the runtime has one (browsers, Deno), else in Node the
 * `webgpu` package's `create(options)` (imported lazily, so browsers never load it).
 * Throws NoWebGpuError saying why when there is none.
 */
export async function findGpu(options: FindGpuOptions = {}): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const proc = nodeProcess();
  if (!proc) throw new NoWebGpuError('this runtime has no WebGPU (navigator.gpu is missing)');
  const dawnOptions = [...(options.dawnOptions ?? parseDawnOptions(proc.env[WEBGPU_OPTIONS_ENV]))];
  // Dawn's OpenGL ES backend needs an EGL display; on a headless Linux machine only the
  // surfaceless platform provides one (Mesa's llvmpipe). Must be set before Dawn loads EGL.
  if (proc.platform === 'linux' && dawnOptions.includes('backend=opengles') && !proc.env.EGL_PLATFORM) {
    proc.env.EGL_PLATFORM = 'surfaceless';
  }
  const key = dawnOptions.join(' ');
  const cached = dawnInstances.get(key);
  if (cached) return cached;
  let mod: { create(options: string[]): GPU };
  try {
    const name = 'webgpu';
    mod = (await import(/* @vite-ignore */ name)) as { create(options: string[]): GPU };
  } catch (err) {
    throw new NoWebGpuError(`no WebGPU in Node: the 'webgpu' package (Dawn) could not be loaded (${(err as Error).message})`);
  }
  try {
    const gpu = mod.create(dawnOptions);
    dawnInstances.set(key, gpu);
    return gpu;
  } catch (err) {
    throw new NoWebGpuError(`Dawn refused the options [${dawnOptions.join(' ')}]: ${(err as Error).message}`);
  }
}
