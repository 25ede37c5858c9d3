// Device probe for the subgroup reductions (rmsnorm, attention): they index workgroup memory by
// local_invocation_index / subgroup_size, which needs subgroups to be consecutive runs of the
// index with a size that divides 64. The probe counts invocations where that does not hold.

export const SUBGROUP_PROBE_SHADER = /* wgsl */ `
enable subgroups;
@group(0) @binding(0) var<storage, read_write> bad: atomic<u32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) size: u32) {
  let first = subgroupBroadcastFirst(lid);
  if (lane != lid % size || first != lid - lane || 64u % size != 0u || size > 64u) {
    atomicAdd(&bad, 1u);
  }
}`;
