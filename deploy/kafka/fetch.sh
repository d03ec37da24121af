#!/usr/bin/env bash
# Resolve Apache Kafka (broker + tools) from Maven Central into a cache outside the
# repository, and print the folder holding the jars. Idempotent: a complete cache
# is reused. Usage: deploy/kafka/fetch.sh [CACHE_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
cache=${1:-${COVENANT_CACHE:-$HOME/.cache/covenant}}
libs="$cache/kafka-$version/libs"
if [[ -f "$libs/.complete" ]]; then
  echo "$libs"
  exit 0
fi
command -v mvn >/dev/null || { echo "fetch.sh: Maven (mvn) is needed to fetch Kafka; apt-get install maven" >&2; exit 1; }
command -v java >/dev/null || { echo "fetch.sh: Java 17+ is needed to run Kafka; apt-get install openjdk-17-jre-headless" >&2; exit 1; }
rm -rf "$libs.tmp"
mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
  -DoutputDirectory="$libs.tmp" -DincludeScope=runtime >&2
rm -rf "$libs"
mv "$libs.tmp" "$libs"
touch "$libs/.complete"
echo "$libs"
