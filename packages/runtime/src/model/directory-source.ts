// A model directory, original Hugging Face or ZipServ-compressed, read through codec-ref's ModelReader.

import { ModelReader } from '@zipserv/codec-ref';
import { type WeightSource, type WeightStorage, f32ArrayToBf16 } from '@zipserv/format';
import type { ModelSource, SourceTensorInfo } from './model-source.js';

export class DirectoryModelSource implements ModelSource {
  readonly syntheticTiled = false;
  private readonly byName: Map<string, SourceTensorInfo>;

  private constructor(
    readonly dir: string,
    private readonly reader: ModelReader,
  ) {
    this.byName = new Map(reader.tensors().map((t) => [t.name, { name: t.name, dtype: t.dtype, shape: t.shape, storage: t.storage }]));
  }

  static async open(dir: string): Promise<DirectoryModelSource> {
    const reader = await ModelReader.open(dir);
    if (!reader.config) {
      await reader.close();
      throw new Error(`${dir}: no config.json (the engine needs it to know the architecture)`);
    }
    return new DirectoryModelSource(dir, reader);
  }

  get description(): string {
    return this.dir;
  }

  get rawConfig(): unknown {
    return this.reader.config;
  }

  get compressed(): boolean {
    return this.reader.compressed;
  }

  tensor(name: string): SourceTensorInfo | undefined {
    return this.byName.get(name);
  }

  async readMatrix(name: string, _prefer: WeightStorage): Promise<WeightSource> {
    const info = this.byName.get(name);
    if (!info) throw new Error(`${this.dir}: no tensor ${name}`);
    if (info.shape.length !== 2) throw new Error(`${this.dir}: ${name} has shape [${info.shape.join(', ')}], expected a matrix`);
    if (info.storage === 'tca-tbe' || info.dtype === 'BF16') return this.reader.readMatrix(name);
    // F32/F16 checkpoints: the contract's raw weights are BF16, so round once here (RNE).
    const [rows, cols] = info.shape as [number, number];
    return { storage: 'raw', rows, cols, data: f32ArrayToBf16(await this.reader.readTensorF32(name)) };
  }

  async readVector(name: string): Promise<Float32Array> {
    if (!this.byName.has(name)) throw new Error(`${this.dir}: no tensor ${name}`);
    return this.reader.readTensorF32(name);
  }

  async close(): Promise<void> {
    await this.reader.close();
  }
}
