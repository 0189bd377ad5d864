#!/usr/bin/env bash
# A/B wrapper for benches/load (WEBHOOKS_BENCH_WRAP="benches/ab/wrap.sh {server}"):
# the "floor" slot runs the ready server of another build (AB_OLD, the path of
# that build's load bench binary) on AB_CONFIG; every other slot runs this
# build's ready server on AB_CONFIG too. Each ratio of the report is then
# "this build / that build", measured in the same run, alternating rounds.
set -euo pipefail
name=$1
exe=$2
: "${AB_OLD:?AB_OLD: the load bench binary of the build to compare with}"
: "${AB_CONFIG:?AB_CONFIG: the configuration both servers run}"
if [ "$name" = floor ]; then
  exec "$AB_OLD" --serve ready "$AB_CONFIG"
fi
exec "$exe" --serve ready "$AB_CONFIG"
