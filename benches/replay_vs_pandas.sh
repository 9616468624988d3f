#!/usr/bin/env bash
# kobe's paper replay against an independent pandas backtest, trade for trade and stopwatch in
# hand. NOT PART OF THE PRODUCT: a bench and a cross-check (nothing in kobe runs it).
#
# On one machine, in one script: (a) `kobe data import` of the S&P 500 file into a fresh home
# (not timed); (b) the whole-process replay
#   runner --mode paper --universe U --replay FROM..TO --scan-times T
# (timed); (c) the whole-process `benches/pandas_replay.py` over the same bars and dates
# (timed). Then kobe's closed trades (`kobe ledger export`) and the script's are put in one
# canonical form — symbol, strategy, entry and exit sessions, qty, prices in cents, exit
# reason — and compared line by line. Prints both times and their ratio; exits 1 if the trades
# differ (the differing lines are shown), 2 on bad setup.
#
#   benches/replay_vs_pandas.sh                       # BIN=target/release (build it first)
#   BIN=/tmp/kobe-base-bin benches/replay_vs_pandas.sh
#   FROM=2014-01-02 TO=2014-12-31 SCAN_TIMES=09:35,10:30,15:55 PY=/work/pyenv/bin/python \
#     KEEP=/tmp/out benches/replay_vs_pandas.sh        # KEEP: keep the home and trade files
#   RUNS=5 benches/replay_vs_pandas.sh                # 4 more timed pairs, kobe and pandas
#
# A shared VM's speed drifts within minutes, and pandas' memory-bound work drifts most: one
# pair is one sample. RUNS=N times N pairs, each kobe run in a fresh copy of the imported
# home, each pair back to back, and prints every pair's ratio and their median.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
FROM=${FROM:-2014-01-02}
TO=${TO:-2015-12-31}
SCAN_TIMES=${SCAN_TIMES:-09:35,10:30,15:55}
RUNS=${RUNS:-1}
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "replay_vs_pandas: RUNS=$RUNS: expected a whole number from 1" >&2; exit 2; }
bars=${BARS:-../shared/data/bars/sp500_5yr.csv.gz}
universe=${UNIVERSE:-../shared/data/universe_sp500.csv}
if [ -z "${PY:-}" ]; then
  if [ -x /work/pyenv/bin/python ]; then PY=/work/pyenv/bin/python; else PY=python3; fi
fi
for f in "$BIN/kobe" "$BIN/runner"; do
  [ -x "$f" ] || { echo "replay_vs_pandas: $f is missing (cargo build --release --bins, or set BIN)" >&2; exit 2; }
done
for f in "$bars" "$universe"; do
  [ -f "$f" ] || { echo "replay_vs_pandas: $f is missing" >&2; exit 2; }
done
"$PY" -c 'import pandas' 2>/dev/null || { echo "replay_vs_pandas: $PY has no pandas (set PY)" >&2; exit 2; }

out=${KEEP:-$(mktemp -d)}
mkdir -p "$out"
home="$out/home"
rm -rf "$home"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$out"' EXIT

# (a) Import, not timed.
"$BIN/kobe" --home "$home" data import "$bars" >"$out/import.txt"
# Hard links: the same inodes, so the store's snapshot stays fresh in every copy.
[ "$RUNS" -eq 1 ] || cp -al "$home" "$out/imported"

# Wall time and peak RSS of one whole process; the command's own output goes to files.
timed() { # name cmd...
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  local timer=()
  if [ -x /usr/bin/time ]; then timer=(/usr/bin/time -f '%M' -o "$out/$name.rss"); else echo '?' >"$out/$name.rss"; fi
  if ! "${timer[@]}" "$@" >"$out/$name.out" 2>"$out/$name.err"; then
    echo "replay_vs_pandas: $name failed: $*" >&2
    tail -5 "$out/$name.err" >&2
    exit 2
  fi
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}' >"$out/$name.secs"
}

# (b) kobe's replay, the whole runner process.
timed kobe "$BIN/runner" --home "$home" --mode paper --universe "$universe" \
  --replay "$FROM..$TO" --scan-times "$SCAN_TIMES"
"$BIN/kobe" --home "$home" ledger export >"$out/ledger_export.json"

# (c) The pandas backtest, the whole Python process.
timed pandas "$PY" benches/pandas_replay.py --from "$FROM" --to "$TO" --data "$bars" \
  --universe "$universe" --scan-times "$SCAN_TIMES" --trades-out "$out/pandas_trades.jsonl"

# kobe's closed trades in the script's canonical form (see canonical() there).
"$PY" - "$out/ledger_export.json" >"$out/kobe_trades.jsonl" <<'PY'
import json, sys
trades = json.load(open(sys.argv[1]))["trades"]
rows = [{
    "symbol": t["symbol"], "strategy": t["strategy"],
    "entry_session": t["entry_session"], "exit_session": t["exit_session"],
    "qty": int(t["qty"]),
    "entry_price": f"{t['entry_price']:.2f}", "exit_price": f"{t['exit_price']:.2f}",
    "reason": t["reason"],
} for t in trades]
rows.sort(key=lambda t: (t["entry_session"], t["symbol"], t["exit_session"]))
for r in rows:
    print(json.dumps(r, sort_keys=True))
PY

k_secs=$(cat "$out/kobe.secs"); p_secs=$(cat "$out/pandas.secs")
k_n=$(wc -l <"$out/kobe_trades.jsonl"); p_n=$(wc -l <"$out/pandas_trades.jsonl")
echo "replay $FROM..$TO, scan times $SCAN_TIMES, $(head -1 "$out/import.txt")"
echo "kobe   ($BIN/runner): $k_secs s, peak $(cat "$out/kobe.rss") KiB, $k_n trades; $(grep -o 'final equity [0-9.]*' "$out/kobe.out" || true)"
echo "pandas ($PY):        $p_secs s, peak $(cat "$out/pandas.rss") KiB, $p_n trades; $(sed -n 's/.*"final_equity": \([0-9.]*\).*/final equity \1/p' "$out/pandas.out")"
awk -v k="$k_secs" -v p="$p_secs" 'BEGIN {
  if (k > 0 && p > 0) printf "ratio: pandas/kobe = %.2f (kobe/pandas = %.2f)\n", p / k, k / p }'
if diff -u "$out/kobe_trades.jsonl" "$out/pandas_trades.jsonl" >"$out/trades.diff"; then
  echo "trades: identical ($k_n trades)"
else
  echo "trades: DIFFER (- kobe, + pandas; files in $out):" >&2
  head -40 "$out/trades.diff" >&2
  [ -n "${KEEP:-}" ] || { trap - EXIT; echo "(kept $out)" >&2; }
  exit 1
fi

# More pairs: the same two commands, timed the same way (the trades were compared above).
if [ "$RUNS" -gt 1 ]; then
  pairs="$k_secs $p_secs"
  for ((run = 2; run <= RUNS; run++)); do
    rm -rf "$home"
    cp -al "$out/imported" "$home"
    timed kobe "$BIN/runner" --home "$home" --mode paper --universe "$universe" \
      --replay "$FROM..$TO" --scan-times "$SCAN_TIMES"
    timed pandas "$PY" benches/pandas_replay.py --from "$FROM" --to "$TO" --data "$bars" \
      --universe "$universe" --scan-times "$SCAN_TIMES" --trades-out "$out/pandas_again.jsonl"
    pairs="$pairs $(cat "$out/kobe.secs") $(cat "$out/pandas.secs")"
  done
  echo "$pairs" | awk '{
    n = NF / 2
    for (i = 1; i <= n; i++) {
      k[i] = $(2 * i - 1); p[i] = $(2 * i); r[i] = k[i] / p[i]
      printf "run %d: kobe %.2f s, pandas %.2f s, kobe/pandas = %.2f\n", i, k[i], p[i], r[i]
    }
    for (i = 2; i <= n; i++) for (j = i; j > 1 && r[j - 1] > r[j]; j--) { t = r[j]; r[j] = r[j - 1]; r[j - 1] = t }
    median = (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
    printf "median kobe/pandas over %d runs: %.2f (lowest %.2f, highest %.2f)\n", n, median, r[1], r[n]
  }'
fi
