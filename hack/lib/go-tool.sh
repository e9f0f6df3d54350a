# Sourced by the hack/ scripts that provide a Go tool for the tests: builds it once from a
# small Go module under hack/ (its go.mod pins the version), through the Go module proxy,
# into a cache outside the clone, and prints the binary's path:
#   ${MESHLOGGING_CACHE:-~/.cache/meshlogging}/<tool>/<version>-<hash of the module's files>/<tool>
# A later run finds it there and builds nothing; Go's module and build caches are reused.
#
# go_tool TOOL MODULE_DIR VERSION_OF PACKAGE LDFLAGS [KEY_FILE...]
#   VERSION_OF: the module path whose required version names the cache folder;
#   PACKAGE: what `go build` builds, inside MODULE_DIR;
#   LDFLAGS: `{version}` in it becomes the version;
#   KEY_FILE: files of MODULE_DIR besides go.mod and go.sum whose change means a rebuild.
go_tool() {
  local tool=$1 mod=$2 version_of=$3 package=$4 ldflags=$5
  shift 5
  local version key cache start tmp f
  version=$(awk -v m="$version_of" '{ if ($1 == "require") { $1 = ""; $0 = $0 } } $1 == m {print $2; exit}' "$mod/go.mod")
  [[ -n "$version" ]] || { echo "$tool: no $version_of version in $mod/go.mod" >&2; return 1; }
  ldflags=${ldflags//\{version\}/$version}
  key=$(for f in go.mod go.sum "$@"; do cat "$mod/$f"; done | sha256sum | cut -c1-12)
  cache="${MESHLOGGING_CACHE:-$HOME/.cache/meshlogging}/$tool/${version}-${key}"
  if [[ -x "$cache/$tool" ]]; then
    echo "$cache/$tool"
    return 0
  fi
  command -v go >/dev/null || { echo "$tool: Go is needed to build it" >&2; return 1; }
  echo "$tool: building $version_of $version into $cache (first run only)" >&2
  start=$(date +%s)
  tmp="$cache.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # shellcheck disable=SC2064 # expand now: the trap outlives the locals
  trap "rm -rf '$tmp'" EXIT
  (
    cd "$mod"
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$tmp/$tool" "$package" >&2
  ) || return 1
  # Publish atomically, so a concurrent or interrupted run never sees half a folder.
  rm -rf "$cache"
  mv "$tmp" "$cache"
  trap - EXIT
  echo "$tool: built in $(( $(date +%s) - start ))s" >&2
  echo "$cache/$tool"
}
