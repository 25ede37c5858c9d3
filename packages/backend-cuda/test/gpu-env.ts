// Whether this machine can run the CUDA backend, and why not: GPU tests skip with this reason.
import { existsSync } from 'node:fs';
import { addonPath, cudaUnavailableReason } from '../src/index.js';

export const addonBuilt = existsSync(addonPath());
/** null when a CUDA device is usable here. */
export const unavailable: string | null = cudaUnavailableReason();
export const hasGpu = unavailable === null;
/** Test title suffix for a skip: names the reason. */
export const skipTitle = (title: string): string => `${title} [skipped: ${unavailable}]`;
