// Progress bars on stderr, only when stderr is a terminal (never in pipes, logs or JSON consumers).

import cliProgress from 'cli-progress';

export interface ProgressEvent {
  phase: string;
  file: string;
  bytesDone: number;
  bytesTotal: number;
}

export interface ProgressBar {
  update(event: ProgressEvent): void;
  stop(): void;
}

const silent: ProgressBar = { update() {}, stop() {} };

/** A bar that follows the phases of one operation; a no-op when stderr is not a TTY. */
export function createProgressBar(stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (!stream.isTTY) return silent;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      // `value` and `total` are the bar's own placeholders: the payload uses other names.
      format: '{phase} |{bar}| {percentage}% {doneMB}/{totalMB} MB {file}',
      hideCursor: true,
      clearOnComplete: true,
      barsize: 30,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let phase: string | null = null;
  return {
    update(e) {
      const payload = { phase: e.phase.padEnd(10), doneMB: (e.bytesDone / 1e6).toFixed(1), totalMB: (e.bytesTotal / 1e6).toFixed(1), file: e.file };
      if (phase === null) bar.start(e.bytesTotal, e.bytesDone, payload);
      else if (phase !== e.phase) bar.setTotal(e.bytesTotal);
      phase = e.phase;
      bar.update(e.bytesDone, payload);
    },
    stop() {
      if (phase !== null) bar.stop();
      phase = null;
    },
  };
}
