// Numeric values of the WebGPU flag namespaces (GPUBufferUsage, GPUMapMode). Node's `webgpu`
// package does not install its globals, so the backend never relies on them being defined.

export const BufferUsage = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
  QUERY_RESOLVE: 0x0200,
} as const;

export const MapMode = { READ: 0x0001, WRITE: 0x0002 } as const;
