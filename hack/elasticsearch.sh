#!/usr/bin/env bash
# Provides a real Elasticsearch for the tests and prints its home folder.
#
# Elasticsearch publishes its integration-test distribution on Maven Central
# (org.elasticsearch.distribution.integ-test-zip:elasticsearch): the real server with
# security (TLS, file realm), templates, indices, aliases, rollover, `fs` repositories,
# bulk and search, without ILM, SLM, analysis-common and rest-root. The ordinary Maven
# client fetches it into its local repository (~/.m2, reused), and it is unpacked once into
#   ${MESHLOGGING_CACHE:-~/.cache/meshlogging}/elasticsearch/<version>/
# Elasticsearch refuses to run as root. When this runs as root (CI does), a system user
# `meshlogging-es` is created for the tests, and the home goes under
# /var/tmp/meshlogging/elasticsearch/<version>/ instead, because root's home folder is not
# readable by other users.
#
# MESHLOGGING_ES_VERSION picks the version (default: the newest 8.x that resolves; no 9.x
# integration-test distribution is published). MESHLOGGING_ES_HOME uses an unpacked home
# as is.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/cache.sh"
version=${MESHLOGGING_ES_VERSION:-8.19.21}
artifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:${version}:zip"
es_user=meshlogging-es

use_env elasticsearch MESHLOGGING_ES_HOME bin/elasticsearch

if [[ $(id -u) == 0 ]]; then
  root=/var/tmp/meshlogging/elasticsearch
  if ! id "$es_user" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$es_user" >&2 ||
      id "$es_user" >/dev/null 2>&1 # created concurrently
  fi
else
  root="${MESHLOGGING_CACHE:-$HOME/.cache/meshlogging}/elasticsearch"
fi
home="$root/$version"

fetch() {
  command -v mvn >/dev/null || { echo "elasticsearch: Maven (mvn) is needed to fetch $artifact" >&2; return 1; }
  echo "elasticsearch: fetching $artifact (first run only)" >&2
  mvn -B -q dependency:copy -Dartifact="$artifact" -DoutputDirectory="$1" -Dmdep.stripVersion=true >&2 &&
    unzip -q "$1/elasticsearch.zip" -d "$1" &&
    chmod -R a+rX "$1/elasticsearch-$version" &&
    mv "$1/elasticsearch-$version" "$1/out" &&
    chmod a+rx "$root"
}
build_once "$home" fetch bin/elasticsearch
echo "$home"
