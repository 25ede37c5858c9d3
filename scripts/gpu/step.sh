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
