#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (or number of runs), one after
# another, and prints libFuzzer's final figures per target.
#
#   fuzz/run.sh [seconds per target, default 1800] [runs, default 10000000] [targets...]
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Corpora grow in fuzz/corpus/<target> (seeded from fuzz/seeds/<target>);
# crashes land in fuzz/artifacts/<target>, and each one found becomes a
# regression test in tests/hardening/.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-1800}
runs=${2:-10000000}
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
mkdir -p logs
failed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    log="logs/$t.log"
    cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -runs="$runs" -max_total_time="$seconds" -max_len=16384 \
        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1 \
        && status=ok || { status="FAILED (see fuzz/$log)"; failed=1; }
    done_line=$(grep -E "^Done [0-9]+ runs" "$log" | tail -1 || true)
    cov=$(grep -E "#[0-9]+.*(DONE|pulse|NEW).*cov:" "$log" | tail -1 | grep -oE "cov: [0-9]+ ft: [0-9]+ corp: [0-9/]+[a-zA-Z]*" || true)
    printf '%-12s %s; %s; %s\n' "$t" "$status" "${done_line:-no final line}" "$cov"
done
exit "$failed"
