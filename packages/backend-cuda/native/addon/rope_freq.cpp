// See rope_freq.h. Mirrors transformers' _compute_default_rope_parameters,
// _compute_linear_scaling_rope_parameters and _compute_llama3_parameters in float32.
#include "addon/rope_freq.h"

#include <napi.h>

#include <cmath>
#include <stdexcept>

namespace zipserv {

RopeScalingDesc rope_scaling_from_js(const Napi::Value& value) {
  RopeScalingDesc scaling;
  if (!value.IsObject()) return scaling;
  const Napi::Object so = value.As<Napi::Object>();
  scaling.type = so.Get("type").ToString().Utf8Value();
  auto num = [&](const char* k, double& dst) {
    if (so.Get(k).IsNumber()) dst = so.Get(k).As<Napi::Number>().DoubleValue();
  };
  num("factor", scaling.factor);
  num("lowFreqFactor", scaling.lowFreqFactor);
  num("highFreqFactor", scaling.highFreqFactor);
  num("originalMaxPositionEmbeddings", scaling.originalMaxPositionEmbeddings);
  return scaling;
}

std::vector<float> rope_inv_freq(double theta, int headDim, const RopeScalingDesc& scaling) {
  // f(x): round to float32, as each torch op on a float32 tensor does. A Python scalar meeting a
  // tensor is cast to f32; `scalar / tensor` runs as tensor.reciprocal() * scalar.
  auto f = [](double x) { return static_cast<float>(x); };
  const int half = headDim / 2;
  std::vector<float> inv(half);
  for (int i = 0; i < half; ++i) {
    // 1.0 / (base ** (arange(0, dim, 2).float() / dim))
    const float exponent = f(static_cast<double>(2 * i) / headDim);
    inv[i] = f(1.0 / f(std::pow(static_cast<double>(f(theta)), static_cast<double>(exponent))));
  }
  if (scaling.type.empty()) return inv;
  if (scaling.type == "linear") {
    for (float& v : inv) v = f(static_cast<double>(v) / f(scaling.factor));
    return inv;
  }
  if (scaling.type != "llama3") throw std::invalid_argument("unknown rope scaling '" + scaling.type + "'");
  const double oldCtx = scaling.originalMaxPositionEmbeddings;
  const float lowFreqWavelen = f(oldCtx / scaling.lowFreqFactor);
  const float highFreqWavelen = f(oldCtx / scaling.highFreqFactor);
  for (float& v : inv) {
    const float wavelen = f(static_cast<double>(f(1.0 / v)) * f(2.0 * M_PI));  // 2*pi / inv_freq
    float scaled = wavelen > lowFreqWavelen ? f(static_cast<double>(v) / f(scaling.factor)) : v;
    const bool medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    if (medium) {
      // smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
      const float ratio = f(static_cast<double>(f(1.0 / wavelen)) * f(oldCtx));
      const float smooth = f(static_cast<double>(f(static_cast<double>(ratio) - f(scaling.lowFreqFactor))) /
                             f(scaling.highFreqFactor - scaling.lowFreqFactor));
      // (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama, left to right
      const float a = f(static_cast<double>(f(1.0 - smooth)) * scaled);
      const float b = f(static_cast<double>(a) / f(scaling.factor));
      const float c = f(static_cast<double>(smooth) * scaled);
      scaled = f(static_cast<double>(b) + c);
    }
    v = scaled;
  }
  return inv;
}

}  // namespace zipserv
