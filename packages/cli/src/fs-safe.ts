// Interrupt safety for commands that write outputs: on Ctrl-C or SIGTERM, the temporary output
// directories are removed (model operations write atomically; this covers the process dying early)
// and the process exits with 128 + signal.

import { removeTempOutputsSync } from '@zipserv/codec-ref';
import { CliError } from './errors.js';

const SIGNALS = { SIGINT: 2, SIGTERM: 15 } as const;

/** Runs `work` with signal handlers that clean partial outputs before exiting. */
export async function withInterruptCleanup<T>(work: () => Promise<T>, onInterrupt: () => void = () => {}): Promise<T> {
  const handlers = Object.entries(SIGNALS).map(([signal, number]) => {
    const handler = () => {
      onInterrupt();
      removeTempOutputsSync();
      process.stderr.write(`\nzipserv: interrupted (${signal}); partial output removed\n`);
      process.exit(128 + number);
    };
    process.once(signal as NodeJS.Signals, handler);
    return [signal, handler] as const;
  });
  try {
    return await work();
  } finally {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler);
  }
}

/** A positive integer option (threads, ...), or a one-line error naming the option. */
export function parsePositiveInt(value: string, option: string, max = 1024): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new CliError(`${option} must be an integer from 1 to ${max}, got "${value}"`);
  }
  return n;
}
