import { describe, expect, it } from 'vitest';
import { CliError } from '../src/errors.js';
import { formatBytes, formatRate, formatTable } from '../src/format-table.js';
import { parsePositiveInt } from '../src/fs-safe.js';
import { createProgressBar } from '../src/progress.js';

describe('formatTable', () => {
  it('pads columns to the widest cell, right-aligning numbers', () => {
    const t = formatTable(['name', 'bytes'], [['a', '1'], ['long-name', '12345']], ['left', 'right']);
    expect(t.split('\n')).toEqual(['name       bytes', '---------  -----', 'a              1', 'long-name  12345']);
  });
});

describe('number formats', () => {
  it('bytes in decimal units, rates in MB/s', () => {
    expect([0, 999, 1000, 525032, 344_100_000, 14_960_000_000].map(formatBytes)).toEqual(['0 B', '999 B', '1.00 kB', '525.0 kB', '344.1 MB', '14.96 GB']);
    expect(formatRate(50e6, 2)).toBe('25.0 MB/s');
    expect(formatRate(1, 0)).toBe('- MB/s');
  });
  it('positive integers or a CliError naming the option', () => {
    expect(parsePositiveInt('8', '--threads')).toBe(8);
    for (const bad of ['0', '-1', '1.5', 'x', '', '99999']) expect(() => parsePositiveInt(bad, '--threads')).toThrow(CliError);
    expect(() => parsePositiveInt('x', '--threads')).toThrow(/--threads must be an integer from 1 to 1024, got "x"/);
  });
});

describe('createProgressBar', () => {
  /** A stand-in for a terminal stream that records what is drawn. */
  function fakeStream(isTTY: boolean) {
    const writes: string[] = [];
    const stream = {
      isTTY,
      columns: 100,
      write: (s: string) => writes.push(s) > 0,
      cursorTo: () => true,
      clearLine: () => true,
      moveCursor: () => true,
      clearScreenDown: () => true,
      on: () => stream,
      removeListener: () => stream,
    };
    return { stream: stream as unknown as NodeJS.WriteStream, writes };
  }

  it('draws nothing when the stream is not a terminal', () => {
    const { stream, writes } = fakeStream(false);
    const bar = createProgressBar(stream);
    bar.update({ phase: 'compress', file: 'model.safetensors', bytesDone: 5e6, bytesTotal: 10e6 });
    bar.stop();
    expect(writes).toEqual([]);
  });

  it('draws the phase, percentage and megabytes on a terminal', () => {
    const { stream, writes } = fakeStream(true);
    const bar = createProgressBar(stream);
    bar.update({ phase: 'compress', file: 'model.safetensors', bytesDone: 5e6, bytesTotal: 10e6 });
    bar.update({ phase: 'compress', file: 'model.safetensors', bytesDone: 10e6, bytesTotal: 10e6 });
    bar.stop();
    const drawn = writes.join('');
    expect(drawn).toMatch(/compress/);
    expect(drawn).toMatch(/50%|100%/);
    expect(drawn).toMatch(/5\.0\/10\.0 MB model\.safetensors/);
  });
});
