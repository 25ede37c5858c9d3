// Node-API surface of zipserv_cuda.node (typed once on the TS side in src/addon.ts):
//   probe()                      -> { ok, reason, deviceCount, driverVersion, runtimeVersion, gemmBuilt, ... }
//   new Context(deviceIndex)     -> device memory, weights, graphs (all by numeric id)
//   gemmBench(optionsJson)       -> JSON string (the GEMM kernels' benchmark)
// Loading the module never touches the GPU; probe() and new Context() report a missing device,
// driver or a too-old driver as values / one-line errors.
#include <napi.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "addon/gemm_bridge.h"
#include "addon/graph.h"
#include "addon/rope_freq.h"
#include "addon/state.h"
#include "common/cuda_check.h"
#include "cublas/cublas_loader.h"

namespace zipserv {
namespace {

std::string device_unavailable_reason(cudaError_t err, int driverVersion) {
  if (driverVersion == 0) return "no CUDA device: the NVIDIA driver (libcuda.so.1) is not installed";
  if (err == cudaErrorNoDevice) return "no CUDA device: the driver sees no GPU";
  if (err == cudaErrorInsufficientDriver) {
    return "no usable CUDA device: the NVIDIA driver is too old (driver supports CUDA " +
           std::to_string(driverVersion / 1000) + "." + std::to_string(driverVersion % 1000 / 10) +
           ", this addon needs " + std::to_string(CUDART_VERSION / 1000) + "." +
           std::to_string(CUDART_VERSION % 1000 / 10) + ")";
  }
  return std::string("no usable CUDA device: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
}

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int driverVersion = 0, runtimeVersion = 0, count = 0;
  cudaDriverGetVersion(&driverVersion);
  cudaRuntimeGetVersion(&runtimeVersion);
  const cudaError_t err = cudaGetDeviceCount(&count);
  Napi::Object out = Napi::Object::New(env);
  const bool ok = err == cudaSuccess && count > 0;
  out.Set("ok", ok);
  out.Set("reason", ok ? env.Null() : Napi::String::New(env, device_unavailable_reason(
                                                            err == cudaSuccess ? cudaErrorNoDevice : err,
                                                            driverVersion)));
  if (err != cudaSuccess) cudaGetLastError();
  out.Set("deviceCount", ok ? count : 0);
  out.Set("driverVersion", driverVersion);
  out.Set("runtimeVersion", runtimeVersion);
  out.Set("gemmBuilt", gemm_bridge::built());
  out.Set("gemmNotBuiltReason", gemm_bridge::built() ? env.Null() : Napi::String::New(env, gemm_bridge::not_built_reason()));
  std::string blasWhy;
  const bool blas = cublas::available(&blasWhy);
  out.Set("cublasAvailable", blas);
  out.Set("cublasReason", blas ? env.Null() : Napi::String::New(env, blasWhy));
  return out;
}

Napi::Value GemmBench(const Napi::CallbackInfo& info) {
  const std::string options = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "{}";
  return Napi::String::New(info.Env(), gemm_bridge::bench(options));
}

// ropeInvFreq(theta, headDim, scaling?) -> Float32Array: the host-side RoPE table the rope op uses
// (exposed so CI checks it against the reference without a GPU).
Napi::Value RopeInvFreq(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double theta = info[0].As<Napi::Number>().DoubleValue();
  const int headDim = info[1].As<Napi::Number>().Int32Value();
  if (headDim < 2 || headDim % 2) throw Napi::RangeError::New(env, "headDim must be a positive even number");
  const RopeScalingDesc scaling = rope_scaling_from_js(info[2]);  // undefined past the arguments given
  std::vector<float> table;
  try {
    table = rope_inv_freq(theta, headDim, scaling);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  Napi::Float32Array out = Napi::Float32Array::New(env, table.size());
  std::memcpy(out.Data(), table.data(), table.size() * sizeof(float));
  return out;
}

/** Waits for a CUDA event on a libuv worker thread, then settles a promise on the main thread. */
class EventWaiter : public Napi::AsyncWorker {
 public:
  using Finish = std::function<Napi::Value(Napi::Env)>;
  EventWaiter(Napi::Env env, std::shared_ptr<DeviceState> state, cudaEvent_t event, Finish finish)
      : Napi::AsyncWorker(env, "zipserv:cuda-wait"),
        deferred_(Napi::Promise::Deferred::New(env)),
        state_(std::move(state)),
        event_(event),
        finish_(std::move(finish)) {}
  ~EventWaiter() override { cudaEventDestroy(event_); }
  Napi::Promise promise() const { return deferred_.Promise(); }

  /** Records an event on the state's stream and returns the promise of its completion. */
  static Napi::Promise after_stream(Napi::Env env, const std::shared_ptr<DeviceState>& state, Finish finish) {
    cudaEvent_t ev = nullptr;
    check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreate");
    const cudaError_t rec = cudaEventRecord(ev, state->stream);
    if (rec != cudaSuccess) {
      cudaEventDestroy(ev);
      throw CudaError(rec, "cudaEventRecord");
    }
    auto* w = new EventWaiter(env, state, ev, std::move(finish));
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }

 protected:
  void Execute() override {
    cudaSetDevice(state_->device);
    const cudaError_t err = cudaEventSynchronize(event_);
    if (err != cudaSuccess) SetError(std::string("CUDA work failed: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(finish_ ? finish_(env) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(env, e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<DeviceState> state_;
  cudaEvent_t event_;
  Finish finish_;
};

template <typename F>
auto guarded(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

class Context : public Napi::ObjectWrap<Context> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Context",
                       {
                           InstanceMethod<&Context::Info>("info"),
                           InstanceMethod<&Context::Alloc>("alloc"),
                           InstanceMethod<&Context::Free>("free"),
                           InstanceMethod<&Context::Write>("write"),
                           InstanceMethod<&Context::Read>("read"),
                           InstanceMethod<&Context::UploadWeight>("uploadWeight"),
                           InstanceMethod<&Context::FreeWeight>("freeWeight"),
                           InstanceMethod<&Context::Compile>("compile"),
                           InstanceMethod<&Context::RunGraph>("runGraph"),
                           InstanceMethod<&Context::TimeGraph>("timeGraph"),
                           InstanceMethod<&Context::DisposeGraph>("disposeGraph"),
                           InstanceMethod<&Context::Synchronize>("synchronize"),
                           InstanceMethod<&Context::MemoryInUse>("memoryInUse"),
                           InstanceMethod<&Context::Dispose>("dispose"),
                       });
  }

  explicit Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {
    Napi::Env env = info.Env();
    const int device = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
    int driverVersion = 0, count = 0;
    cudaDriverGetVersion(&driverVersion);
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
      cudaGetLastError();
      throw Napi::Error::New(env, device_unavailable_reason(err == cudaSuccess ? cudaErrorNoDevice : err, driverVersion));
    }
    if (device < 0 || device >= count) {
      throw Napi::RangeError::New(env, "CUDA device " + std::to_string(device) + " does not exist (" +
                                           std::to_string(count) + " device(s))");
    }
    guarded(env, [&] {
      state_ = std::make_shared<DeviceState>(device);
      return 0;
    });
  }

 private:
  DeviceState& state(Napi::Env env) {
    if (!state_ || state_->disposed) throw Napi::Error::New(env, "the CUDA backend was disposed");
    state_->makeCurrent();
    return *state_;
  }
  static uint32_t id_arg(const Napi::CallbackInfo& info, size_t i) {
    if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected a numeric id");
    return info[i].As<Napi::Number>().Uint32Value();
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& st = state(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", st.prop.name);
    o.Set("major", st.prop.major);
    o.Set("minor", st.prop.minor);
    o.Set("totalMemory", static_cast<double>(st.prop.totalGlobalMem));
    o.Set("multiProcessorCount", st.prop.multiProcessorCount);
    o.Set("l2CacheBytes", st.prop.l2CacheSize);
    o.Set("device", st.device);
    return o;
  }

  Napi::Value Alloc(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& st = state(env);
    const double bytes = info[0].As<Napi::Number>().DoubleValue();
    const bool zero = info.Length() < 2 || info[1].ToBoolean().Value();
    return guarded(env, [&] {
      auto buf = std::make_shared<DeviceBuffer>(&st, static_cast<size_t>(bytes), zero);
      const uint32_t id = st.nextId++;
      st.buffers.emplace(id, std::move(buf));
      return Napi::Number::New(env, id);
    });
  }

  Napi::Value Free(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& st = state(env);
    if (st.buffers.erase(id_arg(info, 0)) == 0) throw Napi::Error::New(env, "tensor was already freed");
    return env.Undefined();
  }

  static std::pair<const uint8_t*, size_t> bytes_of(const Napi::Value& v) {
    if (v.IsTypedArray()) {
      const Napi::TypedArray t = v.As<Napi::TypedArray>();
      return {static_cast<const uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset(), t.ByteLength()};
    }
    if (v.IsDataView()) {
      const Napi::DataView d = v.As<Napi::DataView>();
      return {static_cast<const uint8_t*>(d.ArrayBuffer().Data()) + d.ByteOffset(), d.ByteLength()};
    }
    if (v.IsArrayBuffer()) {
      Napi::ArrayBuffer a = v.As<Napi::ArrayBuffer>();
      return {static_cast<const uint8_t*>(a.Data()), a.ByteLength()};
    }
    throw Napi::TypeError::New(v.Env(), "expected an ArrayBufferView");
  }

  // write(id, view, byteOffset): ordered on the stream before later runs. A copy from pageable
  // memory is staged by the driver before cudaMemcpyAsync returns, so `view` may change right after.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& st = state(env);
    auto it = st.buffers.find(id_arg(info, 0));
    if (it == st.buffers.end()) throw Napi::Error::New(env, "write to a freed tensor");
    auto [data, len] = bytes_of(info[1]);
    const double offset = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0;
    if (offset < 0 || offset + len > it->second->bytes) {
      throw Napi::RangeError::New(env, "write of " + std::to_string(len) + " bytes at " + std::to_string(offset) +
                                           " exceeds the tensor's " + std::to_string(it->second->bytes) + " bytes");
    }
    if (len == 0) return env.Undefined();
    guarded(env, [&] {
      check(cudaMemcpyAsync(static_cast<char*>(it->second->ptr) + static_cast<size_t>(offset), data, len,
                            cudaMemcpyHostToDevice, st.stream),
            "cudaMemcpyAsync(host to device)");
      return 0;
    });
    return env.Undefined();
  }

  // read(id) -> Promise<ArrayBuffer> after all queued work; staged through pinned memory.
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& st = state(env);
    auto it = st.buffers.find(id_arg(info, 0));
    if (it == st.buffers.end()) throw Napi::Error::New(env, "read of a freed tensor");
    BufferRef buf = it->second;
    const size_t len = buf->bytes;
    return guarded(env, [&] {
      size_t cap = 0;
      void* pinned = st.pinned.acquire(len, &cap);
      const cudaError_t err = cudaMemcpyAsync(pinned, buf->ptr, len, cudaMemcpyDeviceToHost, st.stream);
      if (err != cudaSuccess) {
        st.pinned.release(pinned, cap);
        throw CudaError(err, "cudaMemcpyAsync(device to host)");
      }
      std::shared_ptr<DeviceState> keep = state_;
      return EventWaiter::after_stream(env, state_, [keep, buf, pinned, cap, len](Napi::Env e) -> Napi::Value {
        Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(e, len);
        std::memcpy(ab.Data(), pinned, len);
        keep->pinned.release(pinned, cap);
        return ab;
      });
    });
  }

  // uploadWeight({storage:'raw', rows, cols, data}) or
  // uploadWeight({storage:'tca-tbe', rows, cols, expBase, bitmaps, signMantissa, outliers, outlierOffsets})
  Napi::Value UploadWeight(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& st = state(env);
    const Napi::Object o = info[0].As<Napi::Object>();
    auto w = std::make_shared<DeviceWeight>();
    w->rows = o.Get("rows").As<Napi::Number>().Int32Value();
    w->cols = o.Get("cols").As<Napi::Number>().Int32Value();
    const std::string storage = o.Get("storage").ToString().Utf8Value();
    auto upload = [&](const char* key, size_t expected) {
      auto [data, len] = bytes_of(o.Get(key));
      if (expected != SIZE_MAX && len != expected) {
        throw std::invalid_argument(std::string("weight ") + key + " holds " + std::to_string(len) + " bytes, expected " +
                                    std::to_string(expected));
      }
      auto buf = std::make_shared<DeviceBuffer>(&st, len, false);
      if (len) {
        check(cudaMemcpyAsync(buf->ptr, data, len, cudaMemcpyHostToDevice, st.stream), std::string("upload of ") + key);
      }
      return buf;
    };
    guarded(env, [&] {
      if (storage == "raw") {
        w->raw = upload("data", static_cast<size_t>(w->rows) * w->cols * 2);
      } else if (storage == "tca-tbe") {
        w->compressed = true;
        w->expBase = o.Get("expBase").As<Napi::Number>().Int32Value();
        const size_t tiles = static_cast<size_t>((w->rows + 63) / 64) * ((w->cols + 63) / 64);
        check_outlier_segments(o, tiles);
        w->bitmaps = upload("bitmaps", tiles * 192 * 8);
        w->signMantissa = upload("signMantissa", tiles * 4096);
        w->outliers = upload("outliers", SIZE_MAX);
        w->outlierOffsets = upload("outlierOffsets", (tiles + 1) * 4);
      } else {
        throw std::invalid_argument("unknown weight storage '" + storage + "'");
      }
      return 0;
    });
    const uint32_t id = st.nextId++;
    st.weights.emplace(id, w);
    Napi::Object out = Napi::Object::New(env);
    out.Set("id", id);
    out.Set("deviceBytes", static_cast<double>(w->deviceBytes()));
    return out;
  }

  // The kernels trust the outlier segments: check each tile's outlier count (popcount of B1&B2&B3)
  // against its segment, as decoders must (SPEC.md section 3), before anything reaches the GPU.
  static void check_outlier_segments(const Napi::Object& o, size_t tiles) {
    auto [bm, bmLen] = bytes_of(o.Get("bitmaps"));
    auto [off, offLen] = bytes_of(o.Get("outlierOffsets"));
    auto [outl, outlLen] = bytes_of(o.Get("outliers"));
    if (bmLen != tiles * 192 * 8 || offLen != (tiles + 1) * 4) return;  // sizes are reported by upload()
    const uint64_t* words = reinterpret_cast<const uint64_t*>(bm);
    const uint32_t* offsets = reinterpret_cast<const uint32_t*>(off);
    if (offsets[0] != 0) throw std::invalid_argument("tca-tbe outlierOffsets[0] must be 0");
    for (size_t t = 0; t < tiles; ++t) {
      size_t count = 0;
      for (int k = 0; k < 64; ++k) {
        const uint64_t* w = words + (t * 64 + k) * 3;
        count += static_cast<size_t>(__builtin_popcountll(w[0] & w[1] & w[2]));
      }
      const size_t seg = offsets[t + 1] >= offsets[t] ? offsets[t + 1] - offsets[t] : SIZE_MAX;
      if (seg != (count + 15) / 16 * 16) {
        throw std::invalid_argument("tca-tbe tile " + std::to_string(t) + " has " + std::to_string(count) +
                                    " outliers but an outlier segment of " + std::to_string(offsets[t + 1]) + "-" +
                                    std::to_string(offsets[t]) + " bytes (corrupted weight)");
      }
    }
    if (offsets[tiles] != outlLen) {
      throw std::invalid_argument("tca-tbe outlier stream holds " + std::to_string(outlLen) + " bytes, offsets end at " +
                                  std::to_string(offsets[tiles]));
    }
  }

  Napi::Value FreeWeight(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& st = state(env);
    if (st.weights.erase(id_arg(info, 0)) == 0) throw Napi::Error::New(env, "weight was already freed");
    return env.Undefined();
  }

  // compile(nodes, label) -> { id, matmulPaths }
  Napi::Value Compile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DeviceState& st = state(env);
    const Napi::Array nodes = info[0].As<Napi::Array>();
    const std::string label = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    return guarded(env, [&] {
      std::unique_ptr<CompiledGraph> g = compile_graph(st, nodes, label);
      const uint32_t id = st.nextId++;
      Napi::Object out = Napi::Object::New(env);
      out.Set("id", id);
      Napi::Array paths = Napi::Array::New(env, g->matmulPaths.size());
      for (size_t i = 0; i < g->matmulPaths.size(); ++i) paths.Set(static_cast<uint32_t>(i), g->matmulPaths[i]);
      out.Set("matmulPaths", paths);
      graphs_.emplace(id, std::move(g));
      return out;
    });
  }

  CompiledGraph& graph(Napi::Env env, uint32_t id) {
    auto it = graphs_.find(id);
    if (it == graphs_.end()) throw Napi::Error::New(env, "the compiled graph was disposed");
    return *it->second;
  }

  // runGraph(id) -> Promise<void>: one graph launch; resolves when it has finished.
  Napi::Value RunGraph(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    state(env);
    CompiledGraph& g = graph(env, id_arg(info, 0));
    return guarded(env, [&] {
      check(cudaGraphLaunch(g.exec, state_->stream), "cudaGraphLaunch (" + g.label + ")");
      return EventWaiter::after_stream(env, state_, nullptr);
    });
  }

  // timeGraph(id, warmup, iterations) -> Promise<number[]>: device ms per launch (CUDA events).
  Napi::Value TimeGraph(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    state(env);
    CompiledGraph& g = graph(env, id_arg(info, 0));
    const int warmup = info[1].As<Napi::Number>().Int32Value();
    const int iterations = info[2].As<Napi::Number>().Int32Value();
    if (iterations < 1) throw Napi::RangeError::New(env, "timeGraph needs at least one iteration");
    return guarded(env, [&] {
      cudaStream_t s = state_->stream;
      for (int i = 0; i < warmup; ++i) check(cudaGraphLaunch(g.exec, s), "cudaGraphLaunch");
      auto events = std::make_shared<std::vector<cudaEvent_t>>(2 * static_cast<size_t>(iterations), nullptr);
      auto destroyAll = [events] {
        for (cudaEvent_t e : *events) {
          if (e) cudaEventDestroy(e);
        }
      };
      try {
        for (int i = 0; i < iterations; ++i) {
          check(cudaEventCreate(&(*events)[2 * i]), "cudaEventCreate");
          check(cudaEventCreate(&(*events)[2 * i + 1]), "cudaEventCreate");
          check(cudaEventRecord((*events)[2 * i], s), "cudaEventRecord");
          check(cudaGraphLaunch(g.exec, s), "cudaGraphLaunch");
          check(cudaEventRecord((*events)[2 * i + 1], s), "cudaEventRecord");
        }
      } catch (...) {
        destroyAll();
        throw;
      }
      return EventWaiter::after_stream(env, state_, [events, iterations, destroyAll](Napi::Env e) -> Napi::Value {
        Napi::Array out = Napi::Array::New(e, iterations);
        for (int i = 0; i < iterations; ++i) {
          float ms = 0.f;
          cudaEventElapsedTime(&ms, (*events)[2 * i], (*events)[2 * i + 1]);
          out.Set(static_cast<uint32_t>(i), ms);
        }
        destroyAll();
        return out;
      });
    });
  }

  Napi::Value DisposeGraph(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (state_ && !state_->disposed) {
      state_->makeCurrent();
      cudaStreamSynchronize(state_->stream);  // a launch in flight still uses the exec
    }
    graphs_.erase(id_arg(info, 0));
    return env.Undefined();
  }

  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    state(env);
    return guarded(env, [&] { return EventWaiter::after_stream(env, state_, nullptr); });
  }

  Napi::Value MemoryInUse(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return Napi::Number::New(env, state_ && !state_->disposed ? static_cast<double>(state_->bytesInUse) : 0);
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (state_ && !state_->disposed) {
      state_->makeCurrent();
      cudaStreamSynchronize(state_->stream);
      graphs_.clear();
      state_->buffers.clear();
      state_->weights.clear();
      state_->disposed = true;
      // Pending read promises hold the state; it (stream, cuBLAS) goes with the last of them.
      state_.reset();
    }
    return info.Env().Undefined();
  }

  std::shared_ptr<DeviceState> state_;
  std::unordered_map<uint32_t, std::unique_ptr<CompiledGraph>> graphs_;
};

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New<Probe>(env, "probe"));
  exports.Set("gemmBench", Napi::Function::New<GemmBench>(env, "gemmBench"));
  exports.Set("ropeInvFreq", Napi::Function::New<RopeInvFreq>(env, "ropeInvFreq"));
  exports.Set("Context", Context::Define(env));
  exports.Set("cudaRuntimeVersion", Napi::Number::New(env, CUDART_VERSION));
  return exports;
}

}  // namespace zipserv

static Napi::Object InitZipservCuda(Napi::Env env, Napi::Object exports) { return zipserv::Init(env, exports); }
NODE_API_MODULE(zipserv_cuda, InitZipservCuda)
