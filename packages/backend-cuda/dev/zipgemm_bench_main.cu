// Standalone kernel benchmark: zipgemm_bench [--shapes S] [--ns LIST] [--repeats R] [--iters I] [--seed S]
//   [--no-correctness] [--correctness-only] [--sweep] [--variant V] [--variants LIST] [--json PATH] [--git SHA].
//   Prints a table, writes JSON.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "gemm/zipgemm.h"

int main(int argc, char** argv) {
  GemmBenchOptions o;
  std::string cmd;
  for (int i = 0; i < argc; i++) cmd += (i ? " " : "") + std::string(argv[i]);
  o.command = cmd;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        fprintf(stderr, "zipgemm_bench: %s needs a value\n", a.c_str());
        exit(2);
      }
      return argv[++i];
    };
    if (a == "--shapes") o.shapes = next();
    else if (a == "--ns") o.ns = next();
    else if (a == "--repeats") o.repeats = atoi(next().c_str());
    else if (a == "--iters") o.itersPerRepeat = atoi(next().c_str());
    else if (a == "--seed") o.seed = strtoull(next().c_str(), nullptr, 10);
    else if (a == "--no-correctness") o.correctness = false;
    else if (a == "--sweep") o.sweep = true;
    else if (a == "--correctness-only") o.timings = false;
    else if (a == "--variant") o.variant = atoi(next().c_str());
    else if (a == "--variants") o.variants = next();
    else if (a == "--json") o.jsonPath = next();
    else if (a == "--git") o.gitSha = next();
    else {
      fprintf(stderr, "zipgemm_bench: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  try {
    run_gemm_bench(o);
  } catch (const std::exception& e) {
    fprintf(stderr, "zipgemm_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
