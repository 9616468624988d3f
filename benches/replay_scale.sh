#!/usr/bin/env bash
# How a replay's cost grows with its universe: the 2-year replay (2014-01-02..2015-12-31) of the
# 505 S&P 500 symbols, then of the same bars copied 4x under new names (AAPL, AAPL-2, AAPL-3,
# AAPL-4; 2,020 symbols), each in a fresh home, each timed as a whole process with its peak RSS
# (/usr/bin/time). Prints both and the ratios; the targets are at most 4.5x the time and 4x the
# memory. NOT PART OF THE PRODUCT (nothing in kobe runs it), and no test asserts on its timings.
#
#   benches/replay_scale.sh                   # BIN=target/release (build it first)
#   RUNS=3 KEEP=/tmp/scale benches/replay_scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
RUNS=${RUNS:-1}
bars=../shared/data/bars/sp500_5yr.csv.gz
universe=../shared/data/universe_sp500.csv
for f in "$BIN/kobe" "$BIN/runner"; do
  [ -x "$f" ] || { echo "replay_scale: $f is missing (cargo build --release --bins)" >&2; exit 2; }
done
out=${KEEP:-$(mktemp -d)}
mkdir -p "$out"

# The 4x set: every row once per copy, the copy's name in the Name column.
if [ ! -f "$out/bars_x4.csv" ]; then
  zcat "$bars" | awk -F, 'NR == 1 { print; next }
    { print; for (k = 2; k <= 4; k++) { line = $0; sub(/,[^,]*$/, "," $7 "-" k, line); print line } }' \
    >"$out/bars_x4.csv"
  awk 'NR == 1 { print; next } { print; for (k = 2; k <= 4; k++) print $0 "-" k }' \
    "$universe" >"$out/universe_x4.csv"
fi

run() { # name, bars file, universe file -> "seconds KiB" of the best of $RUNS runs
  local name=$1 file=$2 symbols=$3 best=""
  for i in $(seq "$RUNS"); do
    local home="$out/home_${name}_$i"
    rm -rf "$home"
    "$BIN/kobe" --home "$home" data import "$file" >/dev/null
    sync
    local t
    t=$( { /usr/bin/time -f '%e %M' "$BIN/runner" --home "$home" --mode paper --universe "$symbols" \
      --replay 2014-01-02..2015-12-31 --scan-times 09:35,10:30,15:55 >"$out/summary_${name}_$i.txt"; } 2>&1 | tail -1)
    echo "  $name run $i: ${t% *} s, ${t#* } KiB peak RSS" >&2
    if [ -z "$best" ] || awk -v a="${t% *}" -v b="${best% *}" 'BEGIN { exit !(a < b) }'; then best=$t; fi
  done
  echo "$best"
}
one=$(run x1 "$bars" "$universe")
four=$(run x4 "$out/bars_x4.csv" "$out/universe_x4.csv")
awk -v t1="${one% *}" -v m1="${one#* }" -v t4="${four% *}" -v m4="${four#* }" 'BEGIN {
  printf "505 symbols:   %6.2f s  %7.1f MiB\n", t1, m1 / 1024
  printf "2,020 symbols: %6.2f s  %7.1f MiB\n", t4, m4 / 1024
  printf "ratio:         %6.2fx (target <= 4.5x)  %5.2fx memory (target <= 4x)\n", t4 / t1, m4 / m1
}'
