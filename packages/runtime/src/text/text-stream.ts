// Incremental detokenisation with stop strings. Text is re-decoded from all generated ids (so
// multi-token characters and SentencePiece spaces come out right) and only the new, settled part is
// emitted: a trailing U+FFFD (an incomplete UTF-8 sequence) and any tail that could still grow into
// a stop string are held back until the next token decides them.

import type { TextCodec } from './tokenizer.js';

export class TextStream {
  private emitted = 0;
  private text = '';
  private stopped = false;

  constructor(
    private readonly codec: TextCodec,
    private readonly stopStrings: readonly string[],
  ) {}

  /** True once a stop string appeared; `finalText` is cut before it. */
  get hitStop(): boolean {
    return this.stopped;
  }

  /** Feed all generated ids so far; returns the new text that can be shown now. */
  update(ids: readonly number[]): string {
    if (this.stopped) return '';
    this.text = this.codec.decode(ids);
    for (const s of this.stopStrings) {
      const at = s.length > 0 ? this.text.indexOf(s, Math.max(0, this.emitted - s.length + 1)) : -1;
      if (at >= 0) {
        this.stopped = true;
        this.text = this.text.slice(0, at);
      }
    }
    let settled = this.text.length;
    if (!this.stopped) {
      if (this.text.endsWith('\uFFFD')) settled--;
      settled = Math.min(settled, this.text.length - heldForStop(this.text, this.stopStrings));
    }
    if (settled <= this.emitted) return '';
    const out = this.text.slice(this.emitted, settled);
    this.emitted = settled;
    return out;
  }

  /** Whatever was held back, at the end of generation. */
  flush(): string {
    const out = this.text.slice(this.emitted);
    this.emitted = this.text.length;
    return out;
  }

  get finalText(): string {
    return this.text;
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
function heldForStop(text: string, stops: readonly string[]): number {
  let held = 0;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, text.length); k > held; k--) {
      if (text.endsWith(s.slice(0, k))) {
        held = k;
        break;
      }
    }
  }
  return held;
}
