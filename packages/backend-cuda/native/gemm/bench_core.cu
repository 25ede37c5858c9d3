// Kernel-level correctness suite + benchmark: zipgemm, dense twin, cuBLAS, decompress+cuBLAS,
// decompression alone and 'auto', on N(0, 0.02) BF16 weights with cold L2 (rotating weight copies
// totalling > 4x L2). Prints a table, returns (and optionally writes) JSON.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gemm/bench_cublas.h"
#include "gemm/host_codec.h"
#include "gemm/zipgemm.h"

namespace zipserv::gemm::bench {
namespace {

void ck(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) throw std::runtime_error(what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

// ---------- data ----------
uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
uint16_t f32_to_bf16(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu)) return uint16_t((b >> 16) | 0x40);
  return uint16_t((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}
float bf16_to_f32(uint16_t h) {
  uint32_t b = uint32_t(h) << 16;
  float f;
  memcpy(&f, &b, 4);
  return f;
}
// Gaussian N(0, sigma) values (Box-Muller), multi-threaded, deterministic per (seed, index block).
void fill_normal(float* out, size_t n, float sigma, uint64_t seed) {
  const int threads = int(std::max(1u, std::min(16u, std::thread::hardware_concurrency())));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; t++) {
    pool.emplace_back([=] {
      const size_t lo = n * t / threads, hi = n * (t + 1) / threads;
      uint64_t s = seed * 0x100000001b3ull + uint64_t(t) * 0x9e3779b97f4a7c15ull;
      for (size_t i = lo; i < hi; i += 2) {
        const double u1 = (double(splitmix(s) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
        const double u2 = double(splitmix(s) >> 11) * (1.0 / 9007199254740992.0);
        const double r = std::sqrt(-2.0 * std::log(u1)) * sigma;
        out[i] = float(r * std::cos(6.283185307179586 * u2));
        if (i + 1 < hi) out[i + 1] = float(r * std::sin(6.283185307179586 * u2));
      }
    });
  }
  for (auto& th : pool) th.join();
}
std::vector<uint16_t> random_bf16_weights(size_t n, uint64_t seed) {
  std::vector<float> f(n);
  fill_normal(f.data(), n, 0.02f, seed);
  std::vector<uint16_t> b(n);
  for (size_t i = 0; i < n; i++) {
    b[i] = f32_to_bf16(f[i]);
    if ((b[i] & 0x7fff) == 0) b[i] = 0x3c00;  // never zeros
  }
  return b;
}

template <class T>
struct DevBuf {
  T* p = nullptr;
  size_t n = 0;
  DevBuf() = default;
  explicit DevBuf(size_t count) : n(count) { ck(cudaMalloc(&p, std::max<size_t>(count, 1) * sizeof(T)), "cudaMalloc"); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  DevBuf(DevBuf&& o) noexcept : p(o.p), n(o.n) { o.p = nullptr; }
  ~DevBuf() {
    if (p) cudaFree(p);
  }
  void upload(const T* src, size_t count) { ck(cudaMemcpy(p, src, count * sizeof(T), cudaMemcpyHostToDevice), "upload"); }
  std::vector<T> download(size_t count) const {
    std::vector<T> v(count);
    ck(cudaMemcpy(v.data(), p, count * sizeof(T), cudaMemcpyDeviceToHost), "download");
    return v;
  }
};

struct DevMatrix {
  DevBuf<uint64_t> bitmaps;
  DevBuf<uint8_t> sm, outl;
  DevBuf<uint32_t> offs;
  TcaTbeDeviceMatrix view{};
  size_t bytes = 0;
  explicit DevMatrix(const tca::HostMatrix& h)
      : bitmaps(h.bitmaps.size()), sm(h.signMantissa.size()), outl(h.outliers.size()), offs(h.outlierOffsets.size()) {
    bitmaps.upload(h.bitmaps.data(), h.bitmaps.size());
    sm.upload(h.signMantissa.data(), h.signMantissa.size());
    if (!h.outliers.empty()) outl.upload(h.outliers.data(), h.outliers.size());
    offs.upload(h.outlierOffsets.data(), h.outlierOffsets.size());
    view = TcaTbeDeviceMatrix{h.rows, h.cols, h.expBase, bitmaps.p, sm.p, outl.p, offs.p};
    bytes = h.storedBytes();
  }
};

__global__ void poison_kernel(float* y, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    y[i] = __uint_as_float(0x7fc00001u);  // NaN: an unwritten output fails every check
}
__global__ void to_bf16_kernel(const float* x, uint16_t* out, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const uint32_t b = __float_as_uint(x[i]);
    out[i] = ((b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu)) ? uint16_t((b >> 16) | 0x40u)
                                                                       : uint16_t((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
  }
}
void poison(float* y, size_t n) {
  poison_kernel<<<1024, 256>>>(y, n);
  ck(cudaGetLastError(), "poison");
}

std::string fmt(const char* f, double v) {
  char b[64];
  snprintf(b, sizeof b, f, v);
  return b;
}

// ---------- reporting ----------
std::ostringstream g_log;  // correctness lines (also printed)
int g_failures = 0;
int g_variant = 0;  // GemmTuning::variant under test (0: the default schedule)
void report(bool ok, const std::string& what) {
  if (!ok) g_failures++;
  const std::string line = std::string(ok ? "  ok    " : "  FAIL  ") + what;
  printf("%s\n", line.c_str());
  fflush(stdout);
  g_log << line << "\n";
}

// float64 reference of y[n, m] (bf16 x, bf16 W), relative error over the sampled set.
struct RefCheck {
  double relErr = 0;
  bool nan = false;
};
RefCheck check_against_ref(const std::vector<uint16_t>& w, int M, int K, const std::vector<float>& x, int N,
                           const std::vector<float>& y, int ldy, int outOffset, const std::vector<float>* bias,
                           const std::vector<float>* y0, int samples, uint64_t seed) {
  std::vector<uint16_t> xb(x.size());
  for (size_t i = 0; i < x.size(); i++) xb[i] = f32_to_bf16(x[i]);
  double num = 0, den = 0;
  RefCheck rc;
  const long long total = (long long)N * M;
  const bool all = samples <= 0 || total <= samples;
  const long long count = all ? total : samples;
  uint64_t s = seed;
  for (long long i = 0; i < count; i++) {
    const long long idx = all ? i : (long long)(splitmix(s) % uint64_t(total));
    const int n = int(idx / M), m = int(idx % M);
    double ref = 0;
    for (int k = 0; k < K; k++) ref += double(bf16_to_f32(w[size_t(m) * K + k])) * double(bf16_to_f32(xb[size_t(n) * K + k]));
    if (bias) ref += (*bias)[m];
    if (y0) ref += (*y0)[size_t(n) * ldy + outOffset + m];
    const double got = y[size_t(n) * ldy + outOffset + m];
    if (std::isnan(got)) rc.nan = true;
    num += (got - ref) * (got - ref);
    den += ref * ref;
  }
  rc.relErr = std::sqrt(num / std::max(den, 1e-300));
  return rc;
}

// ---------- correctness suite ----------
void check_decompress(const tca::HostMatrix& h, const std::vector<uint16_t>& bits, const std::string& name) {
  DevMatrix d(h);
  DevBuf<uint16_t> out(size_t(h.rows) * h.cols);
  ck(cudaMemset(out.p, 0xff, out.n * 2), "memset");
  ck(tca_decompress(d.view, out.p, 0), "tca_decompress " + name);
  ck(cudaDeviceSynchronize(), "decompress " + name);
  const auto got = out.download(out.n);
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); i++) bad += got[i] != bits[i];
  // Row gather: first, last and a middle row, plus one invalid id.
  std::vector<int32_t> ids = {0, h.rows - 1, h.rows / 2, h.rows};
  DevBuf<int32_t> dids(ids.size());
  dids.upload(ids.data(), ids.size());
  DevBuf<float> rows(ids.size() * h.cols);
  ck(tca_decompress_rows(d.view, dids.p, int(ids.size()), rows.p, 0), "tca_decompress_rows " + name);
  const auto r = rows.download(rows.n);
  size_t badRows = 0;
  for (int i = 0; i < 3; i++)
    for (int c = 0; c < h.cols; c++) {
      uint32_t b;
      memcpy(&b, &r[size_t(i) * h.cols + c], 4);
      badRows += b != (uint32_t(bits[size_t(ids[i]) * h.cols + c]) << 16);
    }
  for (int c = 0; c < h.cols; c++) badRows += !std::isnan(r[size_t(3) * h.cols + c]);
  report(bad == 0 && badRows == 0, "decompress " + name + " (" + std::to_string(h.rows) + "x" + std::to_string(h.cols) +
                                       ", expBase " + std::to_string(h.expBase) + "): " + std::to_string(bad) +
                                       " wrong of " + std::to_string(got.size()) + ", gather " +
                                       std::to_string(badRows) + " wrong");
}

void check_gemm_case(int M, int K, int N, uint64_t seed, GemmTuning t, bool withBias, bool accumulate,
                     int samples) {
  t.variant = g_variant;
  const auto w = random_bf16_weights(size_t(M) * K, seed);
  const tca::HostMatrix h = tca::encode(w.data(), M, K);
  DevMatrix d(h);
  DevBuf<uint16_t> dw(w.size());
  dw.upload(w.data(), w.size());
  std::vector<float> x(size_t(N) * K);
  fill_normal(x.data(), x.size(), 1.0f, seed + 1);
  const int outOffset = (M % 3), ldy = M + outOffset + 5;  // exercise ldy/outOffset
  std::vector<float> bias(M), y0(size_t(N) * ldy);
  fill_normal(bias.data(), bias.size(), 0.1f, seed + 2);
  fill_normal(y0.data(), y0.size(), 0.1f, seed + 3);
  DevBuf<float> dx(x.size()), dbias(M), dy(y0.size()), dy2(y0.size());
  const size_t wsBytes = gemm_workspace_bytes(M, K, N);
  DevBuf<uint8_t> ws(wsBytes);
  ck(cudaMemset(ws.p, 0xff, wsBytes), "memset workspace");  // NaN-poisoned: the pre-pass must write every column
  dx.upload(x.data(), x.size());
  dbias.upload(bias.data(), bias.size());
  auto run = [&](bool zip, DevBuf<float>& y) {
    if (accumulate) y.upload(y0.data(), y0.size());
    else poison(y.p, y.n);
    const cudaError_t e = zip ? zipgemm_tuned(d.view, dx.p, N, y.p, ldy, outOffset, withBias ? dbias.p : nullptr,
                                              accumulate, ws.p, wsBytes, t, 0)
                              : dense_gemm_tuned(dw.p, M, K, dx.p, N, y.p, ldy, outOffset,
                                                 withBias ? dbias.p : nullptr, accumulate, ws.p, wsBytes, t, 0);
    ck(e, zip ? "zipgemm" : "dense_gemm");
    ck(cudaDeviceSynchronize(), zip ? "zipgemm run" : "dense_gemm run");
    return y.download(y.n);
  };
  const auto yz = run(true, dy);
  const auto yd = run(false, dy2);
  const auto yz2 = run(true, dy);
  size_t diff = 0, rerun = 0;
  for (int n = 0; n < N; n++)
    for (int m = 0; m < M; m++) {
      const size_t i = size_t(n) * ldy + outOffset + m;
      diff += memcmp(&yz[i], &yd[i], 4) != 0;
      rerun += memcmp(&yz[i], &yz2[i], 4) != 0;
    }
  const RefCheck rc = check_against_ref(w, M, K, x, N, yz, ldy, outOffset, withBias ? &bias : nullptr,
                                        accumulate ? &y0 : nullptr, samples, seed + 4);
  const GemmTuning d0 = gemm_default_tuning(M, K, N, g_variant);
  char buf[256];
  snprintf(buf, sizeof buf, "gemm v%d %dx%d N=%d split=%d stages=%d nTile=%d%s%s: rel err %.2e, zip!=dense %zu, rerun diff %zu",
           d0.variant, M, K, N, t.splitK ? t.splitK : d0.splitK, t.stages ? t.stages : d0.stages, t.nTile ? t.nTile : d0.nTile,
           withBias ? " +bias" : "", accumulate ? " +acc" : "", rc.relErr, diff, rerun);
  report(!rc.nan && rc.relErr < 1e-2 && diff == 0 && rerun == 0, buf);
}

// Synthetic windows: exponents expBase..expBase+6 plus `outlierPct`% outliers (finite exponents below the
// window), so the patch path, segments longer than the staged 256 bytes and the code-7 carry at expBase 249
// are exercised in the GEMM. checkRef: also compare with float64 (off where values are Inf/NaN/subnormal).
void check_gemm_window(int base, int outlierPct, int M, int K, int N, uint64_t seed, bool checkRef) {
  std::vector<uint16_t> w(size_t(M) * K);
  uint64_t s = seed;
  for (auto& b : w) {
    const uint64_t r = splitmix(s);
    int e = base + int(r % 7);
    if (int((r >> 8) % 100) < outlierPct) e = std::max(1, base - 8 - int((r >> 16) % 50));
    b = uint16_t(((r >> 32) & 0x8000) | (uint32_t(e) << 7) | ((r >> 40) & 0x7f));
  }
  const tca::HostMatrix h = tca::encode(w.data(), M, K, base);
  DevMatrix d(h);
  DevBuf<uint16_t> dw(w.size());
  dw.upload(w.data(), w.size());
  std::vector<float> x(size_t(N) * K);
  fill_normal(x.data(), x.size(), 1.0f, seed + 1);
  DevBuf<float> dx(x.size()), dy(size_t(N) * M), dy2(size_t(N) * M);
  dx.upload(x.data(), x.size());
  const size_t wsBytes = gemm_workspace_bytes(M, K, N);
  DevBuf<uint8_t> ws(wsBytes);
  poison(dy.p, dy.n);
  poison(dy2.p, dy2.n);
  GemmTuning tv{};
  tv.variant = g_variant;
  ck(zipgemm_tuned(d.view, dx.p, N, dy.p, M, 0, nullptr, false, ws.p, wsBytes, tv, 0), "zipgemm window");
  ck(dense_gemm_tuned(dw.p, M, K, dx.p, N, dy2.p, M, 0, nullptr, false, ws.p, wsBytes, tv, 0), "dense window");
  ck(cudaDeviceSynchronize(), "window gemm");
  const auto a = dy.download(dy.n), b = dy2.download(dy2.n);
  size_t diff = 0, poisoned = 0;
  for (size_t i = 0; i < a.size(); i++) {
    diff += memcmp(&a[i], &b[i], 4) != 0;
    uint32_t u;
    memcpy(&u, &a[i], 4);
    poisoned += u == 0x7fc00001u;
  }
  RefCheck rc;
  if (checkRef) rc = check_against_ref(w, M, K, x, N, a, M, 0, nullptr, nullptr, 0, seed + 2);
  char buf[256];
  snprintf(buf, sizeof buf, "gemm v%d window expBase %d, %d%% outliers, %dx%d N=%d (max segment %u B): zip!=dense %zu, unwritten %zu%s",
           gemm_default_tuning(M, K, N, g_variant).variant, base, outlierPct, M, K, N, [&] {
             uint32_t mx = 0;
             for (size_t i = 0; i + 1 < h.outlierOffsets.size(); i++) mx = std::max(mx, h.outlierOffsets[i + 1] - h.outlierOffsets[i]);
             return mx;
           }(), diff, poisoned, checkRef ? (", rel err " + fmt("%.2e", rc.relErr)).c_str() : "");
  report(diff == 0 && poisoned == 0 && (!checkRef || (!rc.nan && rc.relErr < 1e-2)), buf);
}

// GEMM cases of the suite for the schedule in g_variant.
void gemm_suite(uint64_t seed) {
  const int shapes[][2] = {{1, 1}, {32, 64}, {64, 172}, {172, 64}, {65, 130}, {100, 77}, {512, 64}, {33, 4099}};
  uint64_t c = seed + 1000;
  for (const auto& sh : shapes)
    for (int N : {1, 3, 17})
      check_gemm_case(sh[0], sh[1], N, c++, GemmTuning{}, N == 3, N == 17, 0);
  // Schedules: split-K, stages, token tiles, larger N (N-chunks), 1-3 K tiles per CTA (fewer than the
  // consumer classes / ring stages of v5), stage counts below a variant's minimum.
  check_gemm_case(256, 1024, 8, c++, GemmTuning{1, 2, 8}, false, false, 0);
  check_gemm_case(256, 1024, 16, c++, GemmTuning{3, 3, 16}, true, false, 0);
  check_gemm_case(256, 1000, 33, c++, GemmTuning{8, 4, 32}, false, true, 0);
  check_gemm_case(192, 960, 70, c++, GemmTuning{5, 5, 64}, true, true, 0);
  check_gemm_case(128, 512, 128, c++, GemmTuning{2, 6, 64}, false, false, 0);
  check_gemm_case(128, 192, 5, c++, GemmTuning{1, 3, 8}, true, false, 0);
  check_gemm_case(64, 128, 16, c++, GemmTuning{1, 2, 16}, false, true, 0);
  check_gemm_case(200, 4096, 9, c++, GemmTuning{1, 6, 16}, false, false, 0);
  check_gemm_case(1024, 4096, 16, c++, GemmTuning{}, true, false, 4000);
  check_gemm_case(200, 70000, 2, c++, GemmTuning{}, false, false, 0);  // long K, ragged
  check_gemm_window(120, 2, 192, 640, 5, c++, true);
  check_gemm_window(120, 30, 130, 300, 9, c++, true);   // ~1200 outliers per tile: global segment fallback
  check_gemm_window(0, 3, 128, 256, 3, c++, false);     // subnormal window
  check_gemm_window(249, 3, 128, 256, 3, c++, false);   // code-7 carry into the sign bit
}

void correctness_suite(uint64_t seed, const std::vector<int>& variants) {
  printf("correctness (seed %llu)\n", (unsigned long long)seed);
  // Every BF16 bit pattern once, as a 256x256 matrix (NaN/Inf/subnormals included).
  {
    std::vector<uint16_t> bits(65536);
    for (int i = 0; i < 65536; i++) bits[i] = uint16_t(i);
    uint64_t s = seed;
    for (int i = 65535; i > 0; i--) std::swap(bits[i], bits[splitmix(s) % uint64_t(i + 1)]);
    const auto h = tca::encode(bits.data(), 256, 256);
    report(tca::decode(h) == bits, "host codec round trip, all 65536 patterns");
    check_decompress(h, bits, "all-patterns");
    for (int eb : {0, 100, 249}) check_decompress(tca::encode(bits.data(), 256, 256, eb), bits, "all-patterns forced");
  }
  // Windows at the ends of the exponent range (expBase 0 and 249) with ~3% outliers, ragged shapes.
  for (int base : {0, 249}) {
    const int M = 130, K = 200;
    std::vector<uint16_t> bits(size_t(M) * K);
    uint64_t s = seed + base;
    for (auto& b : bits) {
      const uint64_t r = splitmix(s);
      int e = base + int(r % 7);
      if ((r >> 8) % 100 < 3) e = int((r >> 16) & 0xff);
      b = uint16_t(((r >> 32) & 0x8000) | (uint32_t(e) << 7) | ((r >> 40) & 0x7f));
    }
    const auto h = tca::encode(bits.data(), M, K);
    report(h.expBase == base, "window choice at expBase " + std::to_string(base) + " (got " + std::to_string(h.expBase) + ")");
    check_decompress(h, bits, "edge window");
  }
  // Ragged shapes (stories260K-like), gemm vs dense vs float64.
  const int shapes[][2] = {{1, 1}, {32, 64}, {64, 172}, {172, 64}, {65, 130}, {100, 77}, {512, 64}, {33, 4099}};
  for (const auto& sh : shapes) {
    const auto w = random_bf16_weights(size_t(sh[0]) * sh[1], seed + sh[0] * 7 + sh[1]);
    check_decompress(tca::encode(w.data(), sh[0], sh[1]), w, "ragged");
  }
  for (int v : variants) {
    g_variant = v;
    const int before = g_failures;
    gemm_suite(seed);
    printf("variant %d: %d correctness failures\n", v, g_failures - before);
  }
}

// ---------- timing ----------
struct Shape {
  std::string model;
  int M, K;
};
std::vector<Shape> parse_shapes(const std::string& spec) {
  std::vector<Shape> out;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == "llama3-8b") {
      for (auto mk : {std::pair{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}}) out.push_back({"8B", mk.first, mk.second});
    } else if (item == "llama3-70b") {
      for (auto mk : {std::pair{10240, 8192}, {8192, 8192}, {57344, 8192}, {8192, 28672}}) out.push_back({"70B", mk.first, mk.second});
    } else if (!item.empty()) {
      int M = 0, K = 0;
      if (sscanf(item.c_str(), "%dx%d", &M, &K) != 2 || M < 1 || K < 1)
        throw std::runtime_error("bench: bad shape '" + item + "' (want MxK or llama3-8b/llama3-70b)");
      out.push_back({"custom", M, K});
    }
  }
  return out;
}
std::vector<int> parse_ints(const std::string& spec) {
  std::vector<int> out;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) {
      const int v = atoi(item.c_str());
      if (v < 1) throw std::runtime_error("bench: bad token count '" + item + "'");
      out.push_back(v);
    }
  return out;
}

template <class F>
double time_us(F&& launch, int rotations, int iters, int repeats, std::vector<double>* all = nullptr) {
  cudaEvent_t a, b;
  ck(cudaEventCreate(&a), "event");
  ck(cudaEventCreate(&b), "event");
  for (int i = 0; i < std::max(3, rotations); i++) launch(i % rotations);  // warm-up
  ck(cudaDeviceSynchronize(), "warm-up");
  std::vector<double> t;
  int r = 0;
  for (int rep = 0; rep < repeats; rep++) {
    ck(cudaEventRecord(a), "record");
    for (int i = 0; i < iters; i++) launch(r++ % rotations);
    ck(cudaEventRecord(b), "record");
    ck(cudaEventSynchronize(b), "sync");
    float ms = 0;
    ck(cudaEventElapsedTime(&ms, a, b), "elapsed");
    t.push_back(ms * 1000.0 / iters);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  if (all) *all = t;
  return t[t.size() / 2];
}


}  // namespace
}  // namespace zipserv::gemm::bench

std::string run_gemm_bench(const GemmBenchOptions& o) {
  using namespace zipserv::gemm::bench;
  namespace tca = zipserv::tca;
  g_failures = 0;
  g_log.str("");
  const uint64_t seed = o.seed ? o.seed : uint64_t(std::chrono::high_resolution_clock::now().time_since_epoch().count());
  int dev = 0;
  ck(cudaGetDevice(&dev), "cudaGetDevice");
  cudaDeviceProp prop{};
  ck(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
  printf("device: %s, %d SMs, L2 %d MiB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
  const std::vector<int> compare = o.variants.empty() ? std::vector<int>{} : parse_ints(o.variants);
  if (o.correctness) correctness_suite(seed, compare.empty() ? std::vector<int>{o.variant} : compare);
  g_variant = o.variant;
  if (!o.timings) {
    printf("correctness failures: %d\n", g_failures);
    return "{\"correctnessFailures\": " + std::to_string(g_failures) + "}\n";
  }
  std::vector<double> compareLogSum(compare.size(), 0.0);
  int compareCases = 0;
  Cublas blas;
  // Copy-bandwidth ceiling (bytes read + written).
  double copyTBs = 0;
  {
    const size_t bytes = size_t(1) << 30;
    DevBuf<uint8_t> a(bytes), b(bytes);
    ck(cudaMemset(a.p, 1, bytes), "memset");
    const double us = time_us([&](int) { ck(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice), "copy"); }, 1, 5, 5);
    copyTBs = 2.0 * bytes / us / 1e6;
    printf("device-to-device copy: %.2f TB/s (read + write)\n", copyTBs);
  }
  const auto shapes = parse_shapes(o.shapes);
  const auto ns = parse_ints(o.ns);
  const int nMax = *std::max_element(ns.begin(), ns.end());
  const double l2 = double(prop.l2CacheSize);
  std::ostringstream js, table;
  js << "{\n  \"gpu\": \"" << prop.name << "\",\n  \"sms\": " << prop.multiProcessorCount << ",\n  \"l2Bytes\": " << prop.l2CacheSize
     << ",\n  \"cublasVersion\": " << blas.version() << ",\n  \"command\": \"" << o.command << "\",\n  \"gitSha\": \"" << o.gitSha
     << "\",\n  \"seed\": " << seed << ",\n  \"copyTBs\": " << copyTBs << ",\n  \"repeats\": " << o.repeats
     << ",\n  \"itersPerRepeat\": " << o.itersPerRepeat << ",\n  \"variant\": " << o.variant << ",\n  \"cases\": [\n";
  table << "shape          N    zip_us  dense_us cublas_us dec+cb_us  auto_us  zip/cb auto/cb  zipTB/s  %ceil\n";
  bool firstCase = true;
  for (const auto& sh : shapes) {
    const size_t mk = size_t(sh.M) * sh.K;
    const auto w = random_bf16_weights(mk, seed + sh.M * 31 + sh.K);
    const auto h = tca::encode(w.data(), sh.M, sh.K);
    const size_t zipBytes = h.storedBytes(), denseBytes = mk * 2;
    const int rotZ = std::max(2, int(std::ceil(4.0 * l2 / double(zipBytes))));
    const int rotD = std::max(2, int(std::ceil(4.0 * l2 / double(denseBytes))));
    std::vector<std::unique_ptr<DevMatrix>> zs;
    for (int i = 0; i < rotZ; i++) zs.emplace_back(new DevMatrix(h));
    std::vector<DevBuf<uint16_t>> ds;
    for (int i = 0; i < rotD; i++) {
      ds.emplace_back(mk);
      ds.back().upload(w.data(), mk);
    }
    DevBuf<uint16_t> decoded(mk);
    std::vector<float> x(size_t(nMax) * sh.K);
    fill_normal(x.data(), x.size(), 1.0f, seed + 77);
    DevBuf<float> dx(x.size()), dy(size_t(nMax) * sh.M), dy2(size_t(nMax) * sh.M);
    DevBuf<uint16_t> dxb(x.size());
    const size_t wsBytes = gemm_workspace_bytes(sh.M, sh.K, nMax);
    DevBuf<uint8_t> ws(wsBytes);
    dx.upload(x.data(), x.size());
    to_bf16_kernel<<<1024, 256>>>(dx.p, dxb.p, x.size());
    ck(cudaGetLastError(), "to_bf16");
    // Decompression: bit-exact check, then timing.
    ck(tca_decompress(zs[0]->view, decoded.p, 0), "tca_decompress");
    {
      const auto got = decoded.download(mk);
      report(got == w, "decompress " + std::to_string(sh.M) + "x" + std::to_string(sh.K) + " bit-exact");
    }
    const double decUs = time_us([&](int r) { ck(tca_decompress(zs[r]->view, decoded.p, 0), "decompress"); }, rotZ, o.itersPerRepeat, o.repeats);
    const double decTBs = double(zipBytes + denseBytes) / decUs / 1e6;
    printf("%dx%d: %.3f bits/weight (ratio %.3f), decompress %.1f us = %.2f TB/s (read+write)\n", sh.M, sh.K,
           8.0 * zipBytes / mk, double(zipBytes) / denseBytes, decUs, decTBs);
    for (int N : ns) {
      // Correctness at this size: zip == dense bit for bit, zip vs float64 on samples.
      poison(dy.p, dy.n);
      poison(dy2.p, dy2.n);
      GemmTuning tv{};
      tv.variant = o.variant;
      ck(zipgemm_tuned(zs[0]->view, dx.p, N, dy.p, sh.M, 0, nullptr, false, ws.p, wsBytes, tv, 0), "zipgemm");
      ck(dense_gemm_tuned(ds[0].p, sh.M, sh.K, dx.p, N, dy2.p, sh.M, 0, nullptr, false, ws.p, wsBytes, tv, 0), "dense_gemm");
      ck(cudaDeviceSynchronize(), "gemm check");
      {
        const auto a = dy.download(size_t(N) * sh.M), b = dy2.download(size_t(N) * sh.M);
        size_t diff = 0;
        for (size_t i = 0; i < a.size(); i++) diff += memcmp(&a[i], &b[i], 4) != 0;
        std::vector<float> xs(x.begin(), x.begin() + size_t(N) * sh.K);
        const RefCheck rc = check_against_ref(w, sh.M, sh.K, xs, N, a, sh.M, 0, nullptr, nullptr, 256, seed + N);
        report(!rc.nan && rc.relErr < 1e-2 && diff == 0,
               std::to_string(sh.M) + "x" + std::to_string(sh.K) + " N=" + std::to_string(N) + ": rel err " +
                   fmt("%.2e", rc.relErr) + ", zip!=dense " + std::to_string(diff));
      }
      const int it = o.itersPerRepeat, rep = o.repeats;
      const double zipUs = time_us([&](int r) { ck(zipgemm_tuned(zs[r]->view, dx.p, N, dy.p, sh.M, 0, nullptr, false, ws.p, wsBytes, tv, 0), "zipgemm"); }, rotZ, it, rep);
      const double denseUs = time_us([&](int r) { ck(dense_gemm_tuned(ds[r].p, sh.M, sh.K, dx.p, N, dy.p, sh.M, 0, nullptr, false, ws.p, wsBytes, tv, 0), "dense"); }, rotD, it, rep);
      // Schedule comparison: each listed variant's zipgemm and dense twin (bit-identity checked here too).
      std::ostringstream variantsJs;
      for (size_t vi = 0; vi < compare.size(); vi++) {
        GemmTuning tc{};
        tc.variant = compare[vi];
        poison(dy.p, dy.n);
        poison(dy2.p, dy2.n);
        ck(zipgemm_tuned(zs[0]->view, dx.p, N, dy.p, sh.M, 0, nullptr, false, ws.p, wsBytes, tc, 0), "zipgemm variant");
        ck(dense_gemm_tuned(ds[0].p, sh.M, sh.K, dx.p, N, dy2.p, sh.M, 0, nullptr, false, ws.p, wsBytes, tc, 0), "dense variant");
        ck(cudaDeviceSynchronize(), "variant check");
        const auto a = dy.download(size_t(N) * sh.M), b = dy2.download(size_t(N) * sh.M);
        size_t diff = 0;
        for (size_t i = 0; i < a.size(); i++) diff += memcmp(&a[i], &b[i], 4) != 0;
        std::vector<float> xs(x.begin(), x.begin() + size_t(N) * sh.K);
        const RefCheck rc = check_against_ref(w, sh.M, sh.K, xs, N, a, sh.M, 0, nullptr, nullptr, 256, seed + N + 17);
        report(!rc.nan && rc.relErr < 1e-2 && diff == 0, "variant " + std::to_string(compare[vi]) + " " + std::to_string(sh.M) + "x" +
                                                              std::to_string(sh.K) + " N=" + std::to_string(N) + ": rel err " +
                                                              fmt("%.2e", rc.relErr) + ", zip!=dense " + std::to_string(diff));
        const double vz = time_us([&](int r) { ck(zipgemm_tuned(zs[r]->view, dx.p, N, dy.p, sh.M, 0, nullptr, false, ws.p, wsBytes, tc, 0), "zipgemm variant"); }, rotZ, it, rep);
        const double vd = time_us([&](int r) { ck(dense_gemm_tuned(ds[r].p, sh.M, sh.K, dx.p, N, dy.p, sh.M, 0, nullptr, false, ws.p, wsBytes, tc, 0), "dense variant"); }, rotD, it, rep);
        const GemmTuning rt = gemm_default_tuning(sh.M, sh.K, N, compare[vi]);
        compareLogSum[vi] += std::log(vz);
        printf("  variant %d (split %d, stages %d): zip %.1f us, dense %.1f us\n", compare[vi], rt.splitK, rt.stages, vz, vd);
        variantsJs << (vi ? ", " : "") << "{\"variant\": " << compare[vi] << ", \"splitK\": " << rt.splitK << ", \"stages\": " << rt.stages
                   << ", \"zipgemm\": " << vz << ", \"dense\": " << vd << "}";
      }
      if (!compare.empty()) compareCases++;
      const double cbUs = time_us([&](int r) {
        if (blas.gemm(ds[r].p, sh.M, sh.K, dxb.p, N, dy.p, sh.M, 0) != 0) throw std::runtime_error("cublasGemmEx failed");
      }, rotD, it, rep);
      const double dcbUs = time_us([&](int r) {
        ck(tca_decompress(zs[r]->view, decoded.p, 0), "decompress");
        if (blas.gemm(decoded.p, sh.M, sh.K, dxb.p, N, dy.p, sh.M, 0) != 0) throw std::runtime_error("cublasGemmEx failed");
      }, rotZ, it, rep);
      const GemmPath path = choose_gemm_path(sh.M, sh.K, N);
      const double autoUs = path == GemmPath::Zipgemm ? zipUs : dcbUs;
      // Optional schedule sweep (zipgemm only).
      std::ostringstream sweep;
      if (o.sweep) {
        bool first = true;
        for (int v : compare.empty() ? std::vector<int>{o.variant} : compare) {
          double best = 1e30;
          int bestSk = 0, bestSt = 0;
          const GemmTuning dv = gemm_default_tuning(sh.M, sh.K, N, v);
          const bool streamV = dv.variant >= 8;  // stream/wide: no ring stages: sweep every split instead
          const std::vector<int> splits = streamV ? std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8} : std::vector<int>{1, 2, 3, 4, 6, 8};
          const std::vector<int> stageList = streamV ? std::vector<int>{0} : std::vector<int>{3, 4, 6};
          for (int sk : splits)
            for (int st : stageList) {
              GemmTuning t = dv;
              t.splitK = sk;
              t.stages = st;
              const double us = time_us([&](int r) { ck(zipgemm_tuned(zs[r]->view, dx.p, N, dy.p, sh.M, 0, nullptr, false, ws.p, wsBytes, t, 0), "zipgemm sweep"); }, rotZ, it, 5);
              sweep << (first ? "" : ", ") << "{\"variant\": " << t.variant << ", \"splitK\": " << sk << ", \"stages\": " << st << ", \"us\": " << us << "}";
              first = false;
              if (us < best) best = us, bestSk = sk, bestSt = st;
            }
          printf("  sweep variant %d: best split %d stages %d: %.1f us\n", v, bestSk, bestSt, best);
        }
      }
      const double zipTBs = double(zipBytes) / zipUs / 1e6;
      const GemmTuning t = gemm_default_tuning(sh.M, sh.K, N, o.variant);
      char line[256];
      snprintf(line, sizeof line, "%5dx%-6d %4d %9.1f %9.1f %9.1f %9.1f %8.1f %7.2f %7.2f %8.2f %5.0f%%\n", sh.M, sh.K, N, zipUs,
               denseUs, cbUs, dcbUs, autoUs, cbUs / zipUs, cbUs / autoUs, zipTBs, 100.0 * zipTBs / copyTBs);
      table << line;
      printf("%s", line);
      fflush(stdout);
      // Floors: compressed bytes at the measured copy ceiling, FLOPs at 790 TFLOP/s (dense bf16).
      const double bytesFloorUs = double(zipBytes + size_t(N) * sh.K * 4 + size_t(N) * sh.M * 4) / (copyTBs * 1e6);
      const double flopFloorUs = 2.0 * mk * N / 790e6;
      js << (firstCase ? "" : ",\n") << "    {\"model\": \"" << sh.model << "\", \"M\": " << sh.M << ", \"K\": " << sh.K
         << ", \"N\": " << N << ", \"zipBytes\": " << zipBytes << ", \"denseBytes\": " << denseBytes
         << ", \"bitsPerWeight\": " << 8.0 * zipBytes / mk << ", \"variant\": " << t.variant << ", \"splitK\": " << t.splitK << ", \"stages\": " << t.stages
         << ", \"nTile\": " << t.nTile << ", \"us\": {\"zipgemm\": " << zipUs << ", \"dense\": " << denseUs
         << ", \"cublas\": " << cbUs << ", \"decompressCublas\": " << dcbUs << ", \"auto\": " << autoUs
         << ", \"decompress\": " << decUs << "}, \"auto\": \"" << (path == GemmPath::Zipgemm ? "zipgemm" : "decompress+cublas")
         << "\", \"speedup\": {\"zipgemm\": " << cbUs / zipUs << ", \"auto\": " << cbUs / autoUs << ", \"dense\": " << cbUs / denseUs
         << "}, \"zipTBs\": " << zipTBs << ", \"decompressTBs\": " << decTBs << ", \"bytesFloorUs\": " << bytesFloorUs
         << ", \"flopFloorUs\": " << flopFloorUs;
      if (!compare.empty()) js << ", \"variants\": [" << variantsJs.str() << "]";
      if (o.sweep) js << ", \"sweep\": [" << sweep.str() << "]";
      js << "}";
      firstCase = false;
    }
  }
  js << "\n  ],\n  \"correctnessFailures\": " << g_failures << ",\n  \"correctnessLog\": [";
  {
    std::istringstream lines(g_log.str());
    std::string l;
    bool first = true;
    while (std::getline(lines, l)) {
      std::string esc;
      for (char ch : l) esc += (ch == '"' || ch == '\\') ? std::string("\\") + ch : std::string(1, ch);
      js << (first ? "\n    \"" : ",\n    \"") << esc << "\"";
      first = false;
    }
  }
  js << "\n  ]\n}\n";
  printf("\n%s", table.str().c_str());
  if (compareCases) {
    size_t best = 0;
    printf("variant geomean zipgemm us:");
    for (size_t vi = 0; vi < compare.size(); vi++) {
      printf(" v%d %.2f", compare[vi], std::exp(compareLogSum[vi] / compareCases));
      if (compareLogSum[vi] < compareLogSum[best]) best = vi;
    }
    printf("\nbest variant: %d\n", compare[best]);
  }
  printf("correctness failures: %d\n", g_failures);
  const std::string doc = js.str();
  if (!o.jsonPath.empty()) {
    std::ofstream f(o.jsonPath);
    if (!f) throw std::runtime_error("bench: cannot write " + o.jsonPath);
    f << doc;
  }
  return doc;
}

// Flat JSON object -> options (string, number and boolean values only).
std::string run_gemm_bench_json(const std::string& j) {
  GemmBenchOptions o;
  auto find = [&](const char* key) -> std::string {
    const std::string k = std::string("\"") + key + "\"";
    size_t p = j.find(k);
    if (p == std::string::npos) return "";
    p = j.find(':', p + k.size());
    if (p == std::string::npos) throw std::runtime_error(std::string("bench options: no value for ") + key);
    p = j.find_first_not_of(" \t\r\n", p + 1);
    if (p == std::string::npos) return "";
    if (j[p] == '"') {
      const size_t e = j.find('"', p + 1);
      if (e == std::string::npos) throw std::runtime_error(std::string("bench options: unterminated string for ") + key);
      return j.substr(p + 1, e - p - 1);
    }
    const size_t e = j.find_first_of(",} \t\r\n", p);
    return j.substr(p, e - p);
  };
  std::string v;
  if (!(v = find("shapes")).empty()) o.shapes = v;
  if (!(v = find("ns")).empty()) o.ns = v;
  if (!(v = find("repeats")).empty()) o.repeats = std::max(1, atoi(v.c_str()));
  if (!(v = find("itersPerRepeat")).empty()) o.itersPerRepeat = std::max(1, atoi(v.c_str()));
  if (!(v = find("seed")).empty()) o.seed = strtoull(v.c_str(), nullptr, 10);
  if (!(v = find("correctness")).empty()) o.correctness = v == "true";
  if (!(v = find("sweep")).empty()) o.sweep = v == "true";
  if (!(v = find("timings")).empty()) o.timings = v == "true";
  if (!(v = find("variant")).empty()) o.variant = atoi(v.c_str());
  if (!(v = find("variants")).empty()) o.variants = v;
  if (!(v = find("jsonPath")).empty()) o.jsonPath = v;
  if (!(v = find("command")).empty()) o.command = v;
  if (!(v = find("gitSha")).empty()) o.gitSha = v;
  return run_gemm_bench(o);
}
