// dlopen'ed cuBLAS: see cublas_loader.h.
#include "cublas/cublas_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "common/cuda_check.h"

namespace zipserv::cublas {
namespace {

// From cublas_api.h / library_types.h (values are ABI, unchanged since CUDA 11).
using cublasStatus_t = int;
constexpr cublasStatus_t CUBLAS_STATUS_SUCCESS = 0;
constexpr int CUBLAS_OP_N = 0;
constexpr int CUBLAS_OP_T = 1;
constexpr int CUDA_R_32F = 0;
constexpr int CUDA_R_16BF = 14;
constexpr int CUBLAS_COMPUTE_32F = 68;
constexpr int CUBLAS_GEMM_DEFAULT = -1;
constexpr int CUBLAS_DEFAULT_MATH = 0;

using CreateFn = cublasStatus_t (*)(Handle**);
using DestroyFn = cublasStatus_t (*)(Handle*);
using SetStreamFn = cublasStatus_t (*)(Handle*, cudaStream_t);
using SetWorkspaceFn = cublasStatus_t (*)(Handle*, void*, size_t);
using SetMathModeFn = cublasStatus_t (*)(Handle*, int);
using GetVersionFn = cublasStatus_t (*)(Handle*, int*);
using GemmExFn = cublasStatus_t (*)(Handle*, int transa, int transb, int m, int n, int k, const void* alpha,
                                    const void* A, int Atype, int lda, const void* B, int Btype, int ldb,
                                    const void* beta, void* C, int Ctype, int ldc, int computeType, int algo);

struct Api {
  void* lib = nullptr;
  std::string error;
  CreateFn create = nullptr;
  DestroyFn destroy = nullptr;
  SetStreamFn setStream = nullptr;
  SetWorkspaceFn setWorkspace = nullptr;
  SetMathModeFn setMathMode = nullptr;
  GetVersionFn getVersion = nullptr;
  GemmExFn gemmEx = nullptr;
  int version = 0;
};

Api& api() {
  static Api a;
  return a;
}
std::once_flag loadOnce;

std::vector<std::string> candidates() {
  std::vector<std::string> out;
  if (const char* explicitPath = std::getenv("ZIPSERV_CUBLAS")) out.emplace_back(explicitPath);
  // The dynamic loader's own search (LD_LIBRARY_PATH, ldconfig cache) first.
  out.emplace_back("libcublas.so.13");
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"}) {
    if (const char* root = std::getenv(var)) {
      out.emplace_back(std::string(root) + "/lib64/libcublas.so.13");
      out.emplace_back(std::string(root) + "/targets/x86_64-linux/lib/libcublas.so.13");
    }
  }
  for (const char* root : {"/usr/local/cuda", "/usr/local/cuda-13", "/usr/local/cuda-13.0", "/usr/local/cuda-13.1"}) {
    out.emplace_back(std::string(root) + "/lib64/libcublas.so.13");
    out.emplace_back(std::string(root) + "/targets/x86_64-linux/lib/libcublas.so.13");
  }
  out.emplace_back("/usr/lib/x86_64-linux-gnu/libcublas.so.13");
  return out;
}

void load() {
  Api& a = api();
  for (const std::string& path : candidates()) {
    a.lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (a.lib) break;
  }
  if (!a.lib) {
    a.error = "cuBLAS (libcublas.so.13) not found in LD_LIBRARY_PATH, $CUDA_HOME/lib64 or /usr/local/cuda*/lib64; "
              "set ZIPSERV_CUBLAS=/path/to/libcublas.so.13, or use the zipgemm/dense weight paths";
    return;
  }
  auto sym = [&](const char* name) {
    void* p = dlsym(a.lib, name);
    if (!p && a.error.empty()) a.error = std::string("cuBLAS library lacks symbol ") + name;
    return p;
  };
  a.create = reinterpret_cast<CreateFn>(sym("cublasCreate_v2"));
  a.destroy = reinterpret_cast<DestroyFn>(sym("cublasDestroy_v2"));
  a.setStream = reinterpret_cast<SetStreamFn>(sym("cublasSetStream_v2"));
  a.setWorkspace = reinterpret_cast<SetWorkspaceFn>(sym("cublasSetWorkspace_v2"));
  a.setMathMode = reinterpret_cast<SetMathModeFn>(sym("cublasSetMathMode"));
  a.getVersion = reinterpret_cast<GetVersionFn>(sym("cublasGetVersion_v2"));
  a.gemmEx = reinterpret_cast<GemmExFn>(sym("cublasGemmEx"));
  if (!a.error.empty()) {
    dlclose(a.lib);
    a.lib = nullptr;
  }
}

void throw_status(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + " failed: cuBLAS status " + std::to_string(st));
}

}  // namespace

void ensure_loaded() {
  std::call_once(loadOnce, load);
  if (!api().lib) throw std::runtime_error(api().error);
}

bool available(std::string* why) {
  std::call_once(loadOnce, load);
  if (!api().lib && why) *why = api().error;
  return api().lib != nullptr;
}

int version() { return api().version; }

Blas::Blas() {
  ensure_loaded();
  Api& a = api();
  throw_status(a.create(&handle_), "cublasCreate");
  int v = 0;
  if (a.getVersion(handle_, &v) == CUBLAS_STATUS_SUCCESS) a.version = v;
  throw_status(a.setMathMode(handle_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  // A fixed user workspace: cuBLAS then never allocates inside a captured graph. 32 MiB covers the
  // Hopper kernels' split-K needs (NVIDIA's recommendation for sm_90).
  workspaceBytes_ = 32u << 20;
  check(cudaMalloc(&workspace_, workspaceBytes_), "cudaMalloc(cuBLAS workspace)");
  throw_status(a.setWorkspace(handle_, workspace_, workspaceBytes_), "cublasSetWorkspace");
}

Blas::~Blas() {
  if (handle_) api().destroy(handle_);
  if (workspace_) cudaFree(workspace_);
}

cudaError_t Blas::gemm_bf16(const uint16_t* w, int M, int K, const uint16_t* x, int N, float* y, int ldy, float beta,
                            cudaStream_t s) {
  Api& a = api();
  // Row-major y[N, ldy] is column-major [ldy, N]; y = W x^T in column-major is (W^T)^T x with
  // W row-major [M, K] = column-major [K, M] (lda = K) and x row-major [N, K] = column-major [K, N].
  if (a.setStream(handle_, s) != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
  if (a.setWorkspace(handle_, workspace_, workspaceBytes_) != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
  const float alpha = 1.f;
  const cublasStatus_t st = a.gemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, M, N, K, &alpha, w, CUDA_R_16BF, K, x,
                                     CUDA_R_16BF, K, &beta, y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT);
  return st == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorLaunchFailure;
}

}  // namespace zipserv::cublas
