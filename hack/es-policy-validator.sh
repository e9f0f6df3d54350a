#!/usr/bin/env bash
# Builds the ILM/SLM policy validator (hack/es-policy-validator/*.java: Elasticsearch's own
# x-pack-core parsing and validation, no cluster) and prints the command that runs it:
#
#   $(hack/es-policy-validator.sh) < requests.ndjson
#
# (one JSON request per line in, one JSON answer per line out; see PolicyValidator.java).
# The classes come from the Elasticsearch home hack/elasticsearch.sh provides
# (lib/*.jar, modules/x-pack-core/*.jar). Compiled once with the JDK's javac into
#   ${MESHLOGGING_CACHE:-~/.cache/meshlogging}/es-policy-validator/<es version>-<sources hash>/
# (validator.jar) together with a class-data-sharing archive that makes the JVM start faster; a warm cache
# is reused as is.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
es_home=$("$here/elasticsearch.sh")
version=$(basename "$(ls "$es_home"/modules/x-pack-core/x-pack-core-*.jar)" .jar)
version=${version#x-pack-core-}
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
javac=${JAVA_HOME:+$JAVA_HOME/bin/}javac
jar=${JAVA_HOME:+$JAVA_HOME/bin/}jar
command -v "$javac" >/dev/null || { echo "es-policy-validator: a JDK (javac) is needed" >&2; exit 1; }

hash=$(cat "$here"/es-policy-validator/*.java "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)
root="${MESHLOGGING_CACHE:-$HOME/.cache/meshlogging}/es-policy-validator"
dir="$root/$version-$hash"
# The jars by name (not `dir/*`): a class-data-sharing archive needs an explicit class path.
jars=$(printf '%s:' "$es_home"/lib/*.jar "$es_home"/modules/x-pack-core/*.jar)
jars=${jars%:}
classpath="$dir/validator.jar:$jars"
[[ "$classpath" != *" "* ]] || { echo "es-policy-validator: paths with spaces are not supported: $classpath" >&2; exit 1; }
run=("$java" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xss1m -Xmx256m -cp "$classpath")

built() { [[ -f "$dir/validator.jar" && -f "$dir/app.jsa" ]]; }
if ! built; then
  # One build at a time (test binaries run this concurrently); the others wait and reuse it.
  mkdir -p "$root"
  exec 9>"$root/.lock"
  flock 9
fi
if ! built; then
  echo "es-policy-validator: compiling for Elasticsearch $version (first run only)" >&2
  tmp=$(mktemp -d "$root/.tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  "$javac" -nowarn -d "$tmp/classes" -cp "$jars" \
    "$here"/es-policy-validator/*.java >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  # A jar, not a folder: class-data sharing only archives classes from jars.
  "$jar" cf "$dir/validator.jar" -C "$tmp/classes" .
  # One training run over an ILM and an SLM body, archiving the classes it loaded (the
  # archive records the class path, so this runs from the final folder).
  printf '%s\n' \
    '{"kind":"ilm","name":"p","body":{"policy":{"phases":{"hot":{"actions":{"rollover":{"max_age":"1d"}}},"warm":{"min_age":"2d","actions":{"shrink":{"number_of_shards":1}}}}}}}' \
    '{"kind":"slm","name":"s","body":{"schedule":"0 30 1 * * ?","name":"<s-{now/d}>","repository":"r","retention":{"min_count":1}}}' |
    "${run[@]}" -XX:ArchiveClassesAtExit="$tmp/app.jsa" PolicyValidator >/dev/null 2>"$tmp/training.log" ||
    { cat "$tmp/training.log" >&2; exit 1; }
  [[ -s "$tmp/app.jsa" ]] || : >"$tmp/app.jsa" # empty: run without the archive
  mv "$tmp/app.jsa" "$dir/app.jsa"
fi
if [[ -s "$dir/app.jsa" ]]; then
  run+=(-XX:SharedArchiveFile="$dir/app.jsa" -Xshare:auto)
fi
echo "${run[*]} PolicyValidator"
