# Sourced by the GPU-host session scripts: `step NAME SECONDS CMD...` runs CMD time-boxed, appends its output to
# $log and a one-line result to the `summary` array.
summary=()
step() {
  local name=$1 limit=$2
  shift 2
  echo "== $name: $*" >>"$log"
  local t0=$SECONDS
  timeout "$limit" "$@" >>"$log" 2>&1
  local rc=$?
  summary+=("$(printf '%-14s rc=%-3s %4ss' "$name" "$rc" "$((SECONDS - t0))")")
  echo "== $name rc=$rc ($((SECONDS - t0)) s)" >>"$log"
}

# The GPU model in lower case (h100, h200, ...): result files are named by it.
gpu_tag() {
  local t
  t="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | grep -oiE '[A-Z][0-9]{2,4}' | head -1 | tr 'A-Z' 'a-z')"
  echo "${t:-gpu}"
}
