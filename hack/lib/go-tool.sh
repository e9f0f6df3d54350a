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
#
# go_cache and go_build_once are its two halves, for a module that builds more than one
# binary into its folder (hack/envtest.sh).
source "$(dirname "${BASH_SOURCE[0]}")/cache.sh"

go_tool() {
  local tool=$1 mod=$2 version_of=$3 package=$4 ldflags=$5
  shift 5
  go_cache "$tool" "$mod" "$version_of" "$@" || return 1
  ldflags=${ldflags//\{version\}/$go_version}
  # go_build_once's BUILD; reads the locals above (bash scoping is dynamic)
  _go_tool_build() { go build -trimpath -ldflags "$ldflags" -o "$1/$tool" "$package"; }
  go_build_once "$tool" "$mod" "$version_of $go_version" _go_tool_build "$tool" || return 1
  echo "$go_dir/$tool"
}

# go_cache TOOL MODULE_DIR VERSION_OF [KEY_FILE...]
#   Sets go_version, the version MODULE_DIR/go.mod requires of VERSION_OF, and go_dir, the
#   folder ${MESHLOGGING_CACHE:-~/.cache/meshlogging}/TOOL/<version>-<hash of go.mod, go.sum
#   and the KEY_FILEs>.
go_cache() {
  local tool=$1 mod=$2 version_of=$3 key f
  shift 3
  go_version=$(awk -v m="$version_of" '{ if ($1 == "require") { $1 = ""; $0 = $0 } } $1 == m {print $2; exit}' "$mod/go.mod")
  [[ -n "$go_version" ]] || { echo "$tool: no $version_of version in $mod/go.mod" >&2; return 1; }
  key=$(for f in go.mod go.sum "$@"; do cat "$mod/$f"; done | sha256sum | cut -c1-12)
  go_dir="${MESHLOGGING_CACHE:-$HOME/.cache/meshlogging}/$tool/${go_version}-${key}"
}

# go_build_once TOOL MODULE_DIR WHAT BUILD BINARY...
#   Unless go_dir holds every BINARY, builds them there (build_once): `BUILD OUT` runs in
#   MODULE_DIR with CGO_ENABLED=0 and GOFLAGS=-mod=mod and builds the BINARYs into the folder
#   OUT. WHAT names what is built, for the progress message.
go_build_once() {
  local gb_tool=$1 gb_mod=$2 gb_what=$3 gb_build=$4
  shift 4
  # build_once's BUILD; reads the locals above
  _go_build_into() {
    command -v go >/dev/null || { echo "$gb_tool: Go is needed to build it" >&2; return 1; }
    echo "$gb_tool: building $gb_what into $go_dir (first run only)" >&2
    local gb_start
    gb_start=$(date +%s)
    mkdir -p "$1/out" &&
      (cd "$gb_mod" && export CGO_ENABLED=0 GOFLAGS=-mod=mod && "$gb_build" "$1/out" >&2) &&
      echo "$gb_tool: built in $(($(date +%s) - gb_start))s" >&2
  }
  build_once "$go_dir" _go_build_into "$@"
}

# kube_ldflags VERSION: the linker flags of a Kubernetes component built from the
# k8s.io/kubernetes module at VERSION (vX.Y.Z): stripped, and reporting that version.
kube_ldflags() {
  local minor=${1#v1.}
  minor=${minor%%.*}
  echo "-s -w -X k8s.io/component-base/version.gitVersion=$1" \
    "-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    "-X k8s.io/component-base/version.gitTreeState=clean"
}
