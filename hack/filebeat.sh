#!/usr/bin/env bash
# Provides Filebeat for the shipping tests (tests/shipping.rs) and prints the binary's path.
#
# - FILEBEAT set (an executable): used as is.
# - Otherwise built once from github.com/elastic/beats/v7/filebeat, pinned in
#   hack/filebeat/go.mod (with beats' own replace block), into
#   ${MESHLOGGING_CACHE:-~/.cache/meshlogging}/filebeat/<version>-<hash>/ (hack/lib/go-tool.sh).
#   First run: about 20 s of downloads and over a minute of compiling. As root, a copy the
#   unprivileged test user can run is kept under /var/tmp/meshlogging/filebeat/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/go-tool.sh"
use_env filebeat FILEBEAT
built=$(go_tool filebeat "$here/filebeat" github.com/elastic/beats/v7 github.com/elastic/beats/v7/filebeat "-s -w")
if [[ $(id -u) != 0 ]]; then
  echo "$built"
  exit 0
fi
# As root the tests run Filebeat as the unprivileged `meshlogging-es` user (like
# Elasticsearch, hack/elasticsearch.sh), who cannot enter root's home: a world-readable
# copy under /var/tmp, keyed like the cache.
shared="/var/tmp/meshlogging/filebeat/$(basename "$(dirname "$built")")"
copy() {
  mkdir "$1/out" && cp "$built" "$1/out/filebeat" && chmod -R a+rX "$1/out" &&
    chmod a+rx /var/tmp/meshlogging "$(dirname "$shared")"
}
build_once "$shared" copy filebeat
echo "$shared/filebeat"
