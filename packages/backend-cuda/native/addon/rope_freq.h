// RoPE inverse frequencies, computed on the host exactly as Hugging Face transformers does
// (float32 tensors, same order of operations), so cos/sin tables match torch's bit for bit.
#pragma once

#include <string>
#include <vector>

namespace Napi {
class Value;
}

namespace zipserv {

struct RopeScalingDesc {
  std::string type;  // "", "llama3" or "linear"
  // Python floats in config.json: kept in double, cast to f32 where torch casts them.
  double factor = 1.0;
  double lowFreqFactor = 1.0;
  double highFreqFactor = 4.0;
  double originalMaxPositionEmbeddings = 8192.0;
};

// The contract's RopeScaling object ({ type, factor, lowFreqFactor, highFreqFactor,
// originalMaxPositionEmbeddings }) as a RopeScalingDesc; a missing field keeps its default, and a value that is
// not an object means no scaling.
RopeScalingDesc rope_scaling_from_js(const Napi::Value& value);

// inv_freq[i] = 1 / theta^(2i/headDim) (f32), then the scaling: [headDim / 2] floats.
std::vector<float> rope_inv_freq(double theta, int headDim, const RopeScalingDesc& scaling);

}  // namespace zipserv
