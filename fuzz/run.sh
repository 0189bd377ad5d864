#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each), starting
# from the published vectors in seeds/ and the corpus kept from earlier runs.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
#   fuzz/run.sh            # 60 s a target
#   fuzz/run.sh 600 config # 10 minutes, one target
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
python3 seeds.py
status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "== $target: ${seconds}s"
    if ! cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 2>&1 \
        | grep -E "^Done|panicked|SUMMARY|Test unit written"; then
        :
    fi
    if compgen -G "artifacts/$target/*" > /dev/null; then
        echo "!! $target left artifacts in fuzz/artifacts/$target: each is a crash to turn into a regression test"
        status=1
    fi
done
exit "$status"
