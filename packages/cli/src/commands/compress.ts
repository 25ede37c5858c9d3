// PLACEHOLDER: replaced by the real command. Do not ship.
import type { Command } from 'commander';
import { CliError } from '../errors.js';

export function register(program: Command): void {
  program.command('compress').description('(not built yet)').action(() => {
    throw new CliError('compress is not built yet');
  });
}
