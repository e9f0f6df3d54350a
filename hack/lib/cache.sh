# Sourced by the hack/ scripts that provide a tool for the tests: the two steps they share.
#
# use_env TOOL VAR [FILE...]
#   When the variable VAR is set, the tool is taken from there as is: without FILEs, $VAR must
#   be an executable; with FILEs, a folder holding each of them as an executable. Prints $VAR
#   and exits the script (1, with a message, when it does not hold the tool). Unset: returns.
#
# build_once DEST BUILD FILE...
#   Unless DEST already holds every FILE as an executable, calls `BUILD SCRATCH` (a function),
#   which puts what DEST should hold into the new folder SCRATCH/out; then publishes that folder
#   as DEST atomically, so a concurrent or interrupted run never sees half a folder. SCRATCH
#   lies beside DEST (same file system) and is removed on exit. Returns 1 when BUILD fails;
#   BUILD runs where `set -e` does not apply, so it chains its steps with &&.

use_env() {
  local tool=$1 var=$2 f
  shift 2
  local value=${!var:-}
  [[ -n "$value" ]] || return 0
  if (($# == 0)); then
    [[ -x "$value" ]] || { echo "$tool: $var=$value is not an executable" >&2; exit 1; }
  fi
  for f in "$@"; do
    [[ -x "$value/$f" ]] || { echo "$tool: $var=$value has no $f" >&2; exit 1; }
  done
  echo "$value"
  exit 0
}

build_once() {
  # Prefixed locals: BUILD sees them (bash scoping is dynamic) and must not find its own
  # callers' variables shadowed.
  local bo_dest=$1 bo_build=$2 bo_f bo_scratch bo_missing=0
  shift 2
  for bo_f in "$@"; do
    [[ -x "$bo_dest/$bo_f" ]] || bo_missing=1
  done
  ((bo_missing)) || return 0
  bo_scratch="$bo_dest.tmp.$$"
  rm -rf "$bo_scratch"
  mkdir -p "$bo_scratch"
  # shellcheck disable=SC2064 # expand now: the trap outlives the locals
  trap "rm -rf '$bo_scratch'" EXIT
  "$bo_build" "$bo_scratch" || return 1
  rm -rf "$bo_dest"
  mv "$bo_scratch/out" "$bo_dest"
  rm -rf "$bo_scratch"
  trap - EXIT
}
