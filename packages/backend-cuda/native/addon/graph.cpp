// See graph.h. Each node becomes a step: a closure that enqueues its kernels on a stream. The steps
// are captured once (cudaStreamBeginCapture .. EndCapture) into a cudaGraphExec_t.
#include "addon/graph.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "addon/gemm_bridge.h"
#include "addon/rope_freq.h"
#include "common/cuda_check.h"
#include "ops/ops.h"

namespace zipserv {
namespace {

using Step = std::function<cudaError_t(cudaStream_t, void* scratch)>;

constexpr size_t kAlign = 256;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

class NodeReader {
 public:
  NodeReader(DeviceState& st, CompiledGraph& g, Napi::Object o, int index)
      : state_(st), graph_(g), obj_(o), index_(index), op_(o.Get("op").As<Napi::String>().Utf8Value()) {}

  const std::string& op() const { return op_; }
  [[noreturn]] void fail(const std::string& msg) const {
    throw std::invalid_argument("graph node " + std::to_string(index_) + " (" + op_ + "): " + msg);
  }
  double num(const char* key) const {
    const Napi::Value v = obj_.Get(key);
    if (!v.IsNumber()) fail(std::string("missing numeric field '") + key + "'");
    return v.As<Napi::Number>().DoubleValue();
  }
  int i(const char* key) const {
    const double d = num(key);
    if (d != static_cast<double>(static_cast<long long>(d)) || d < -2147483648.0 || d > 2147483647.0) {
      fail(std::string("field '") + key + "' is not a 32-bit integer");
    }
    return static_cast<int>(d);
  }
  bool flag(const char* key) const { return obj_.Get(key).ToBoolean().Value(); }
  std::string str(const char* key) const {
    const Napi::Value v = obj_.Get(key);
    return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
  }
  Napi::Value raw(const char* key) const { return obj_.Get(key); }

  /** A tensor of at least minBytes, by id; kept alive by the graph. */
  void* buf(const char* key, size_t minBytes) const {
    const int id = i(key);
    auto it = state_.buffers.find(static_cast<uint32_t>(id));
    if (it == state_.buffers.end()) fail(std::string(key) + " refers to a freed or unknown tensor");
    if (it->second->bytes < minBytes) {
      fail(std::string(key) + " holds " + std::to_string(it->second->bytes) + " bytes, the op needs " +
           std::to_string(minBytes));
    }
    graph_.buffers.push_back(it->second);
    return it->second->ptr;
  }
  /** Optional tensor: id < 0 means none. */
  void* optBuf(const char* key, size_t minBytes) const { return i(key) < 0 ? nullptr : buf(key, minBytes); }
  WeightRef weight(const char* key) const {
    const int id = i(key);
    auto it = state_.weights.find(static_cast<uint32_t>(id));
    if (it == state_.weights.end()) fail(std::string(key) + " refers to a freed or unknown weight");
    graph_.weights.push_back(it->second);
    return it->second;
  }

 private:
  DeviceState& state_;
  CompiledGraph& graph_;
  Napi::Object obj_;
  int index_;
  std::string op_;
};

constexpr size_t F32 = 4, I32 = 4, BF16 = 2;
size_t sz(long long a, long long b = 1, long long c = 1) { return static_cast<size_t>(a) * b * c; }

enum class Path { Zipgemm, Dense, Vendor, DecompressVendor };

const char* path_name(Path p) {
  switch (p) {
    case Path::Zipgemm: return "zipgemm";
    case Path::Dense: return "dense";
    case Path::Vendor: return "vendor";
    case Path::DecompressVendor: return "decompress+vendor";
  }
  return "?";
}

Path resolve_path(const NodeReader& r, const std::string& name, const DeviceWeight& w, int N) {
  std::string blasWhy;
  const bool blas = cublas::available(&blasWhy);
  const bool gemm = gemm_bridge::built();
  if (name == "auto" || name.empty()) {
    if (w.compressed) {
      if (!gemm) r.fail(std::string("a tca-tbe weight needs the GEMM kernels: ") + gemm_bridge::not_built_reason());
      return blas && gemm_bridge::prefers_decompress_vendor(w.rows, w.cols, N) ? Path::DecompressVendor
                                                                               : Path::Zipgemm;
    }
    if (blas) return Path::Vendor;
    if (gemm) return Path::Dense;
    r.fail("no GEMM for a raw weight: " + blasWhy + "; " + gemm_bridge::not_built_reason());
  }
  Path p;
  if (name == "zipgemm") p = Path::Zipgemm;
  else if (name == "dense") p = Path::Dense;
  else if (name == "vendor") p = Path::Vendor;
  else if (name == "decompress+vendor") p = Path::DecompressVendor;
  else r.fail("unknown weight path '" + name + "'");
  const bool needsCompressed = p == Path::Zipgemm || p == Path::DecompressVendor;
  if (needsCompressed != w.compressed) {
    r.fail(std::string("path '") + name + "' needs a " + (needsCompressed ? "tca-tbe" : "raw") + " weight");
  }
  if ((p == Path::Vendor || p == Path::DecompressVendor) && !blas) r.fail("path '" + name + "': " + blasWhy);
  if (p != Path::Vendor && !gemm) r.fail("path '" + name + "': " + gemm_bridge::not_built_reason());
  return p;
}

/** What lowering gathers across nodes: scratch and counter sizes, the RoPE tables to pack. */
struct Lowering {
  DeviceState& st;
  CompiledGraph& g;
  size_t scratchNeed = 0;   // bytes of shared scratch the largest step uses
  size_t counterNeed = 0;   // attention arrival counters the largest attention node uses
  std::vector<std::vector<float>> ropeTables;
  std::vector<size_t*> ropeOffsets;  // where each table lands in g.constants, filled after lowering
};

/** A rope node's arguments; the frequency table's address is known only after all tables are packed, so the
 *  launch reads it through `tableOffset`. */
struct RopeNode {
  ops::RopeArgs args;
  std::shared_ptr<size_t> tableOffset;
  const float* table(const CompiledGraph* g) const {
    return reinterpret_cast<const float*>(static_cast<const char*>(g->constants->ptr) + *tableOffset);
  }
};

RopeNode read_rope(Lowering& L, const NodeReader& r) {
  const int N = r.i("N"), rowWidth = r.i("rowWidth"), firstHead = r.i("firstHead"), numHeads = r.i("numHeads");
  const int headDim = r.i("headDim");
  if (headDim % 2 || firstHead < 0 || (firstHead + numHeads) * headDim > rowWidth) r.fail("heads exceed the row");
  float* x = static_cast<float*>(r.buf("x", sz(N, rowWidth, F32)));
  const int32_t* positions = static_cast<const int32_t*>(r.buf("positions", sz(N, I32)));
  const RopeScalingDesc scaling = rope_scaling_from_js(r.raw("scaling"));
  try {
    L.ropeTables.push_back(rope_inv_freq(r.num("theta"), headDim, scaling));
  } catch (const std::invalid_argument& e) {
    r.fail(e.what());
  }
  RopeNode node{{x, positions, nullptr, N, rowWidth, firstHead, numHeads, headDim}, std::make_shared<size_t>(0)};
  L.ropeOffsets.push_back(node.tableOffset.get());
  return node;
}

struct KvAppendNode {
  ops::KvAppendArgs args;
  int N, rowWidth;
};

KvAppendNode read_kv_append(const NodeReader& r) {
  const int N = r.i("N"), rowWidth = r.i("rowWidth"), kOffset = r.i("kOffset"), vOffset = r.i("vOffset");
  const int kvWidth = r.i("kvWidth");
  const long long numSlots = static_cast<long long>(r.num("numSlots"));
  const bool bf16 = r.flag("bf16");
  if (kOffset < 0 || vOffset < 0 || kOffset + kvWidth > rowWidth || vOffset + kvWidth > rowWidth) {
    r.fail("k/v columns exceed the row width");
  }
  const float* qkv = static_cast<const float*>(r.buf("qkv", sz(N, rowWidth, F32)));
  const size_t cacheBytes = static_cast<size_t>(numSlots) * kvWidth * (bf16 ? BF16 : F32);
  void* kc = r.buf("kCache", cacheBytes);
  void* vc = r.buf("vCache", cacheBytes);
  const int32_t* slots = static_cast<const int32_t*>(r.buf("slots", sz(N, I32)));
  return {{qkv, kOffset, vOffset, kvWidth, kc, vc, bf16, numSlots, slots}, N, rowWidth};
}

/** A rope node followed by a kvAppend of the same rows (same buffer, checked by rope_kv_append_fusable): one
 *  fused launch (ops/rope_kv_append.cu, same bits). */
bool fusable(const RopeNode& rope, const KvAppendNode& kv) {
  return rope.args.N == kv.N && rope.args.rowWidth == kv.rowWidth && ops::rope_kv_append_fusable(rope.args, kv.args);
}

Step lower_rope(const RopeNode& rope, const CompiledGraph* g) {
  return [=](cudaStream_t s, void*) {
    const ops::RopeArgs& a = rope.args;
    return ops::rope(a.x, a.positions, rope.table(g), a.N, a.rowWidth, a.firstHead, a.numHeads, a.headDim, s);
  };
}

Step lower_kv_append(const KvAppendNode& kv) {
  return [=](cudaStream_t s, void*) {
    const ops::KvAppendArgs& a = kv.args;
    return ops::kv_append(a.qkv, kv.N, kv.rowWidth, a.kOffset, a.vOffset, a.kCache, a.vCache, a.bf16Cache,
                          a.numSlots, a.kvWidth, a.slots, s);
  };
}

Step lower_rope_kv_append(const RopeNode& rope, const KvAppendNode& kv, const CompiledGraph* g) {
  return [=](cudaStream_t s, void*) {
    ops::RopeArgs a = rope.args;
    a.invFreq = rope.table(g);
    return ops::rope_kv_append(a, kv.args, s);
  };
}

/** Lowers one node to a step; L.scratchNeed grows to the bytes of scratch the step uses. */
Step lower(Lowering& L, const NodeReader& r) {
  DeviceState& st = L.st;
  CompiledGraph& g = L.g;
  size_t& scratchNeed = L.scratchNeed;
  const std::string& op = r.op();
  if (op == "matmul") {
    const int N = r.i("N"), K = r.i("K"), M = r.i("M"), ldy = r.i("ldy"), outOffset = r.i("outOffset");
    WeightRef w = r.weight("weight");
    if (w->rows != M || w->cols != K) r.fail("weight shape differs from the node's M, K");
    if (outOffset < 0 || outOffset + M > ldy) r.fail("output columns exceed the row width");
    const float* x = static_cast<const float*>(r.buf("x", sz(N, K, F32)));
    float* y = static_cast<float*>(r.buf("out", sz(N, ldy, F32)));
    const float* bias = static_cast<const float*>(r.optBuf("bias", sz(M, F32)));
    const bool accumulate = r.flag("accumulate");
    const Path path = resolve_path(r, r.str("path"), *w, N);
    g.matmulPaths.emplace_back(path_name(path));
    switch (path) {
      case Path::Zipgemm:
      case Path::Dense: {
        const size_t ws = gemm_bridge::workspace_bytes(M, K, N);
        scratchNeed = std::max(scratchNeed, ws);
        const bool zip = path == Path::Zipgemm;
        return [=](cudaStream_t s, void* scratch) {
          const DeviceWeight& wt = *w;
          return zip ? gemm_bridge::zipgemm(wt, x, N, y, ldy, outOffset, bias, accumulate, scratch, ws, s)
                     : gemm_bridge::dense(wt, x, N, y, ldy, outOffset, bias, accumulate, scratch, ws, s);
        };
      }
      case Path::Vendor:
      case Path::DecompressVendor: {
        cublas::Blas* blas = &st.blas();
        const bool decompress = path == Path::DecompressVendor;
        const size_t xBytes = align_up(sz(N, K, BF16));
        const size_t wBytes = decompress ? align_up(sz(M, K, BF16)) : 0;
        scratchNeed = std::max(scratchNeed, xBytes + wBytes);
        return [=](cudaStream_t s, void* scratch) -> cudaError_t {
          uint16_t* xb = static_cast<uint16_t*>(scratch);
          const uint16_t* wb = static_cast<const uint16_t*>(w->compressed ? nullptr : w->raw->ptr);
          if (decompress) {
            uint16_t* dst = reinterpret_cast<uint16_t*>(static_cast<char*>(scratch) + xBytes);
            ZS_TRY(gemm_bridge::decompress(*w, dst, s));
            wb = dst;
          }
          ZS_TRY(ops::f32_to_bf16(x, xb, sz(N, K), s));
          ZS_TRY(blas->gemm_bf16(wb, M, K, xb, N, y + outOffset, ldy, accumulate ? 1.f : 0.f, s));
          if (bias) ZS_TRY(ops::add_bias(y, N, ldy, outOffset, bias, M, s));
          return cudaSuccess;
        };
      }
    }
  }
  if (op == "decompress") {
    WeightRef w = r.weight("weight");
    void* out = r.buf("out", sz(w->rows, w->cols, BF16));
    if (w->compressed) {
      if (!gemm_bridge::built()) r.fail(gemm_bridge::not_built_reason());
      return [=](cudaStream_t s, void*) { return gemm_bridge::decompress(*w, static_cast<uint16_t*>(out), s); };
    }
    const size_t bytes = sz(w->rows, w->cols, BF16);
    return [=](cudaStream_t s, void*) {
      return cudaMemcpyAsync(out, w->raw->ptr, bytes, cudaMemcpyDeviceToDevice, s);
    };
  }
  if (op == "embedding") {
    const int N = r.i("N");
    WeightRef w = r.weight("table");
    const int32_t* ids = static_cast<const int32_t*>(r.buf("ids", sz(N, I32)));
    float* out = static_cast<float*>(r.buf("out", sz(N, w->cols, F32)));
    if (w->compressed) {
      if (!gemm_bridge::built()) r.fail(gemm_bridge::not_built_reason());
      return [=](cudaStream_t s, void*) { return gemm_bridge::decompress_rows(*w, ids, N, out, s); };
    }
    return [=](cudaStream_t s, void*) {
      return ops::embedding_bf16(static_cast<const uint16_t*>(w->raw->ptr), w->rows, w->cols, ids, N, out, s);
    };
  }
  if (op == "rmsnorm") {
    const int rows = r.i("rows"), rowWidth = r.i("rowWidth"), offset = r.i("offset"), width = r.i("width");
    const int groupSize = r.i("groupSize");
    const float eps = static_cast<float>(r.num("eps"));
    if (offset < 0 || width < 0 || offset + width > rowWidth || groupSize <= 0 || width % groupSize) {
      r.fail("bad column range or group size");
    }
    const float* x = static_cast<const float*>(r.buf("x", sz(rows, rowWidth, F32)));
    const float* wt = static_cast<const float*>(r.buf("weight", sz(groupSize, F32)));
    float* out = static_cast<float*>(r.buf("out", sz(rows, rowWidth, F32)));
    return [=](cudaStream_t s, void*) {
      return ops::rmsnorm(x, wt, out, rows, rowWidth, offset, width, groupSize, eps, s);
    };
  }
  if (op == "rope") return lower_rope(read_rope(L, r), &g);
  if (op == "kvAppend") return lower_kv_append(read_kv_append(r));
  if (op == "attention") {
    ops::AttentionParams p{};
    p.N = r.i("N");
    p.rowWidth = r.i("rowWidth");
    p.qOffset = r.i("qOffset");
    p.bf16Cache = r.flag("bf16");
    p.numBlocks = r.i("numBlocks");
    p.blockSize = r.i("blockSize");
    p.maxBlocksPerSeq = r.i("maxBlocksPerSeq");
    p.S = r.i("S");
    p.H = r.i("H");
    p.Hkv = r.i("Hkv");
    p.hd = r.i("hd");
    p.scale = static_cast<float>(r.num("scale"));
    if (p.Hkv <= 0 || p.H % p.Hkv || p.qOffset < 0 || p.qOffset + p.H * p.hd > p.rowWidth) r.fail("bad head layout");
    p.qkv = static_cast<const float*>(r.buf("qkv", sz(p.N, p.rowWidth, F32)));
    const size_t cacheBytes = sz(p.numBlocks, p.blockSize, sz(p.Hkv, p.hd)) * (p.bf16Cache ? BF16 : F32);
    p.kCache = r.buf("kCache", cacheBytes);
    p.vCache = r.buf("vCache", cacheBytes);
    p.blockTables = static_cast<const int32_t*>(r.buf("blockTables", sz(p.S, p.maxBlocksPerSeq, I32)));
    p.contextLens = static_cast<const int32_t*>(r.buf("contextLens", sz(p.S, I32)));
    p.queryStarts = static_cast<const int32_t*>(r.buf("queryStarts", sz(p.S + 1, I32)));
    p.out = static_cast<float*>(r.buf("out", sz(p.N, p.H, p.hd) * F32));
    const size_t ws = ops::plan_attention(p, st.prop.multiProcessorCount);
    scratchNeed = std::max(scratchNeed, ws);
    const size_t counters = ops::attention_counter_count(p);
    L.counterNeed = std::max(L.counterNeed, counters);
    const bool counted = counters > 0;
    const CompiledGraph* graph = &g;
    return [=](cudaStream_t s, void* scratch) {
      ops::AttentionParams q = p;
      q.counters = counted ? static_cast<unsigned*>(graph->counters->ptr) : nullptr;
      return ops::attention(q, scratch, s);
    };
  }
  if (op == "siluMul") {
    const int N = r.i("N"), I = r.i("I");
    const float* x = static_cast<const float*>(r.buf("x", sz(N, 2 * static_cast<long long>(I), F32)));
    float* out = static_cast<float*>(r.buf("out", sz(N, I, F32)));
    return [=](cudaStream_t s, void*) { return ops::silu_mul(x, out, N, I, s); };
  }
  if (op == "add") {
    const size_t n = static_cast<size_t>(r.num("n"));
    const float* a = static_cast<const float*>(r.buf("a", n * F32));
    const float* b = static_cast<const float*>(r.buf("b", n * F32));
    float* out = static_cast<float*>(r.buf("out", n * F32));
    return [=](cudaStream_t s, void*) { return ops::add(a, b, out, n, s); };
  }
  if (op == "gatherRows") {
    const int xRows = r.i("xRows"), D = r.i("D"), R = r.i("R");
    const float* x = static_cast<const float*>(r.buf("x", sz(xRows, D, F32)));
    const int32_t* rows = static_cast<const int32_t*>(r.buf("rows", sz(R, I32)));
    float* out = static_cast<float*>(r.buf("out", sz(R, D, F32)));
    return [=](cudaStream_t s, void*) { return ops::gather_rows(x, xRows, D, rows, R, out, s); };
  }
  if (op == "argmax") {
    const int R = r.i("R"), V = r.i("V");
    const float* x = static_cast<const float*>(r.buf("x", sz(R, V, F32)));
    int32_t* out = static_cast<int32_t*>(r.buf("out", sz(R, I32)));
    if (R > 65535) r.fail("argmax over more than 65535 rows");
    scratchNeed = std::max(scratchNeed, ops::argmax_workspace_bytes(R, V));
    return [=](cudaStream_t s, void* scratch) { return ops::argmax(x, R, V, out, scratch, s); };
  }
  r.fail("op not supported by the CUDA backend");
}

/** ZIPSERV_GRAPH_SKIP=op,op,...: a profiling aid that leaves those steps (by op name, "rope+kvAppend" for the
 *  fused pair) out of the captured graph, so timing the rest attributes step time to op families. The graph's
 *  results are then meaningless: never set it outside such a measurement. Returned as ",a,b," for lookups. */
std::string profile_skip_list() {
  const char* v = std::getenv("ZIPSERV_GRAPH_SKIP");
  return v && *v ? "," + std::string(v) + "," : std::string();
}

}  // namespace

CompiledGraph::~CompiledGraph() {
  if (exec) cudaGraphExecDestroy(exec);
}

std::unique_ptr<CompiledGraph> compile_graph(DeviceState& st, const Napi::Array& nodes, const std::string& label) {
  st.makeCurrent();
  auto g = std::make_unique<CompiledGraph>();
  g->label = label;
  g->nodeCount = static_cast<int>(nodes.Length());
  std::vector<Step> steps;
  std::vector<std::string> names;
  Lowering L{st, *g};
  const bool fuse = std::getenv("ZIPSERV_NO_FUSE") == nullptr;
  const uint32_t count = nodes.Length();
  auto node = [&](uint32_t i) {
    const Napi::Value v = nodes.Get(i);
    if (!v.IsObject()) throw std::invalid_argument("graph node " + std::to_string(i) + " is not an object");
    return NodeReader(st, *g, v.As<Napi::Object>(), static_cast<int>(i));
  };
  for (uint32_t i = 0; i < count; ++i) {
    NodeReader reader = node(i);
    if (fuse && reader.op() == "rope" && i + 1 < count) {
      NodeReader next = node(i + 1);
      if (next.op() == "kvAppend") {
        const RopeNode rope = read_rope(L, reader);
        const KvAppendNode kv = read_kv_append(next);
        if (fusable(rope, kv)) {
          steps.push_back(lower_rope_kv_append(rope, kv, g.get()));
          names.push_back("rope+kvAppend");
        } else {
          steps.push_back(lower_rope(rope, g.get()));
          names.push_back("rope");
          steps.push_back(lower_kv_append(kv));
          names.push_back("kvAppend");
        }
        ++i;
        continue;
      }
    }
    steps.push_back(lower(L, reader));
    names.push_back(reader.op());
  }
  const std::vector<std::vector<float>>& ropeTables = L.ropeTables;
  const std::vector<size_t*>& ropeOffsets = L.ropeOffsets;
  const size_t scratchNeed = L.scratchNeed;
  // Pack the RoPE tables into one constant buffer (uploaded before capture: capture cannot copy from
  // pageable memory).
  if (!ropeTables.empty()) {
    std::vector<float> packed;
    for (size_t t = 0; t < ropeTables.size(); ++t) {
      *ropeOffsets[t] = packed.size() * sizeof(float);
      packed.insert(packed.end(), ropeTables[t].begin(), ropeTables[t].end());
      while (packed.size() % 64) packed.push_back(0.f);  // keep each table 256-byte aligned
    }
    g->constants = std::make_shared<DeviceBuffer>(&st, packed.size() * sizeof(float), false);
    check(cudaMemcpyAsync(g->constants->ptr, packed.data(), packed.size() * sizeof(float), cudaMemcpyHostToDevice,
                          st.stream),
          "upload of RoPE tables");
  }
  if (L.counterNeed) g->counters = std::make_shared<DeviceBuffer>(&st, L.counterNeed * sizeof(unsigned), true);
  g->scratch = st.scratch(scratchNeed);
  void* scratch = g->scratch ? g->scratch->ptr : nullptr;
  check(cudaStreamSynchronize(st.stream), "cudaStreamSynchronize before capture");

  cudaGraph_t graph = nullptr;
  // Relaxed: lazy kernel loading and cuBLAS's one-time setup may make calls that the stricter modes
  // refuse during capture; nothing in the steps touches other streams.
  check(cudaStreamBeginCapture(st.stream, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
  const std::string skip = profile_skip_list();
  for (size_t i = 0; i < steps.size(); ++i) {
    if (!skip.empty() && skip.find("," + names[i] + ",") != std::string::npos) continue;
    const cudaError_t err = steps[i](st.stream, scratch);
    if (err != cudaSuccess) {
      cudaGraph_t broken = nullptr;
      cudaStreamEndCapture(st.stream, &broken);
      if (broken) cudaGraphDestroy(broken);
      cudaGetLastError();  // clear the sticky launch error, if any
      throw CudaError(err, "graph node " + std::to_string(i) + " (" + names[i] + ") failed to launch");
    }
  }
  check(cudaStreamEndCapture(st.stream, &graph), "cudaStreamEndCapture");
  const cudaError_t inst = cudaGraphInstantiate(&g->exec, graph, 0);
  cudaGraphDestroy(graph);
  check(inst, "cudaGraphInstantiate");
  // Upload now so the first run does not pay for it.
  check(cudaGraphUpload(g->exec, st.stream), "cudaGraphUpload");
  return g;
}

}  // namespace zipserv
