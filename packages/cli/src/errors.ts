// Errors the CLI prints as one line (no stack trace) with a chosen exit code.

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** One line for any error: its message, never a stack (set ZIPSERV_DEBUG=1 for the stack). */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const msg = err.message.split('\n')[0] ?? String(err);
    return code && !msg.includes(code) ? `${msg} (${code})` : msg;
  }
  return String(err);
}
