import { Command, CommanderError } from 'commander';
import { commands } from './commands/index.js';
import { CliError, describeError } from './errors.js';
import { VERSION } from './version.js';

export function buildProgram(): Command {
  const program = new Command('zipserv')
    .description('Lossless TCA-TBE compression of BF16 LLM weights, and inference on the compressed weights.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of commands) register(program);
  return program;
}

/** Runs the CLI; resolves to the process exit code. Never throws. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed help / version / the usage error.
      return err.exitCode;
    }
    process.stderr.write(`zipserv: ${describeError(err)}\n`);
    if (process.env.ZIPSERV_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return err instanceof CliError ? err.exitCode : 1;
  }
}
