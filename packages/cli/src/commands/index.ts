// Every subcommand is one file exporting `register(program)`; this list is the whole CLI.
import type { Command } from 'commander';
import { register as bench } from './bench.js';
import { register as chat } from './chat.js';
import { register as compress } from './compress.js';
import { register as decompress } from './decompress.js';
import { register as demo } from './demo.js';
import { register as doctor } from './doctor.js';
import { register as inspect } from './inspect.js';
import { register as run } from './run.js';
import { register as verify } from './verify.js';

export const commands: ReadonlyArray<(program: Command) => void> = [
  compress,
  decompress,
  verify,
  inspect,
  run,
  chat,
  bench,
  doctor,
  demo,
];
