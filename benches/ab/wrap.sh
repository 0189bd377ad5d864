#!/usr/bin/env bash
# A/B wrapper for benches/load (WEBHOOKS_BENCH_WRAP="benches/ab/wrap.sh {server}"):
# the "floor" slot runs the ready server of another build (AB_OLD, the path of
# that build's load bench binary) on AB_CONFIG; every other slot runs this
# build's ready server on AB_CONFIG too. Each ratio of the report is then
# "this build / that build", measured in the same run, alternating rounds.
# AB_OLD_CONFIG, when set, is the floor slot's configuration instead: with
# AB_OLD set to this build's own binary, the report is then "this
# configuration / that one" (e.g. the event log on against off).
set -euo pipefail
name=$1
exe=$2
: "${AB_OLD:?AB_OLD: the load bench binary of the build to compare with}"
: "${AB_CONFIG:?AB_CONFIG: the configuration both servers run}"
if [ "$name" = floor ]; then
  exec "$AB_OLD" --serve ready "${AB_OLD_CONFIG:-$AB_CONFIG}"
fi
exec "$exe" --serve ready "$AB_CONFIG"
