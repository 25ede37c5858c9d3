// A compiled op graph: the lowered nodes (validated by the TS side with validateGraph, then bounds-
// checked again here against the real buffer sizes), recorded once into a CUDA graph and replayed
// per run. Buffers are fixed at compile time; only their contents change between runs.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "addon/state.h"

namespace zipserv {

struct CompiledGraph {
  ~CompiledGraph();
  std::string label;
  std::vector<BufferRef> buffers;  // keeps every tensor the graph touches alive
  std::vector<WeightRef> weights;
  BufferRef scratch;      // shared scratch at capture time
  BufferRef constants;    // RoPE frequency tables
  BufferRef counters;     // attention's split-arrival counters (zero between launches)
  std::vector<std::string> matmulPaths;  // resolved path of each matmul, in node order
  cudaGraphExec_t exec = nullptr;
  int nodeCount = 0;
};

/** Lowers `nodes` (see src/lowering.ts), captures them on the state's stream, instantiates. */
std::unique_ptr<CompiledGraph> compile_graph(DeviceState& state, const Napi::Array& nodes, const std::string& label);

}  // namespace zipserv
