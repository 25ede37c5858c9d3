// Tensors that share one window when a model is compressed: the projections a runtime fuses into one matrix
// (q|k|v and gate|up of each layer, Hugging Face Llama-family names). Stacked TCA-TBE matrices need one expBase
// (concatTcaTbeRows in @zipserv/format), so giving them the same window lets a loader fuse them without decoding.

const PROJECTION = /^(.*\.layers\.\d+)\.(?:self_attn\.(q|k|v)_proj|mlp\.(gate|up)_proj)\.weight$/;

/** The window group of a tensor name (e.g. "model.layers.3/qkv"), or null when it shares its window with nothing. */
export function windowGroupOf(name: string): string | null {
  const m = PROJECTION.exec(name);
  if (!m) return null;
  return `${m[1]}/${m[2] ? 'qkv' : 'gateUp'}`;
}
