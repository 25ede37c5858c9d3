// Text <-> token ids through @huggingface/tokenizers (tokenizer.json + tokenizer_config.json).
// Models without tokenizer.json (the stories260K fixture) have no TextCodec: they work on ids.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

export interface TextCodec {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  tokenToId(token: string): number | undefined;
  /** tokenizer_config.json, when present (chat template, special tokens). */
  readonly config: Record<string, unknown>;
}

export async function readJsonIfExists(path: string): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${path}: invalid JSON (${(err as Error).message})`);
  }
}

export async function loadTextCodec(dir: string): Promise<TextCodec | null> {
  const tokenizerJson = await readJsonIfExists(join(dir, 'tokenizer.json'));
  if (!tokenizerJson) return null;
  const config = (await readJsonIfExists(join(dir, 'tokenizer_config.json'))) ?? {};
  return createTextCodec(tokenizerJson, config, join(dir, 'tokenizer.json'));
}

export function createTextCodec(tokenizerJson: object, config: Record<string, unknown>, where = 'tokenizer.json'): TextCodec {
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson, config);
  } catch (err) {
    throw new Error(`${where}: cannot build the tokenizer (${(err as Error).message.split('\n')[0]})`);
  }
  return {
    config,
    encode: (text, options) => tok.encode(text, { add_special_tokens: options?.addSpecialTokens ?? true }).ids,
    decode: (ids, options) => tok.decode([...ids], { skip_special_tokens: options?.skipSpecialTokens ?? true }),
    tokenToId: (token) => tok.token_to_id(token),
  };
}

/** A special token in tokenizer_config.json is a string or an AddedToken object {content}. */
export function specialTokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}
