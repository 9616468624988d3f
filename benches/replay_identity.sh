#!/usr/bin/env bash
# Same inputs, same outputs: a 2-year replay (2014-01-02..2015-12-31) over the 505 imported
# S&P 500 symbols: its `kobe ledger export`, `logs/jobs.jsonl` (timing fields removed), the
# signals and trades logs, the watchlists and every report, reduced to sha256 sums and compared
# with the sums the code gave before the speed work of issue 15
# (benches/fixtures/replay_2014_2015.sha256). A change that moves a trade, a price, a status, a
# job's detail line, a watchlist entry or a report figure changes a sum. The backtest report
# (reports/replay_*) came with issue 15 and has its own tests, so it is left out here.
#
#   benches/replay_identity.sh            # build (debug), replay, compare
#   BIN=target/release benches/replay_identity.sh
#   KEEP=/tmp/out benches/replay_identity.sh   # keep the normalised files there
#   RECORD=1 benches/replay_identity.sh   # write the fixture anew (only before a change)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/debug}
fixture=benches/fixtures/replay_2014_2015.sha256
bars=../shared/data/bars/sp500_5yr.csv.gz
universe=../shared/data/universe_sp500.csv
[ -f "$bars" ] || { echo "replay_identity: $bars is missing" >&2; exit 1; }
if [ "$BIN" = target/debug ]; then cargo build -q --bins; fi

home=$(mktemp -d)
out=${KEEP:-$(mktemp -d)}
mkdir -p "$out"
trap 'rm -rf "$home"' EXIT
"$BIN/kobe" --home "$home" data import "$bars" >/dev/null
start=$(date +%s)
"$BIN/runner" --home "$home" --mode paper --universe "$universe" \
  --replay 2014-01-02..2015-12-31 --scan-times 09:35,10:30,15:55 >"$out/summary.txt"
echo "replay: $(( $(date +%s) - start )) s ($BIN)" >&2
"$BIN/kobe" --home "$home" ledger export >"$out/ledger_export.json"
# Timing fields aside (started, finished, duration_ms): every other field, in file order.
python3 - "$home/logs/jobs.jsonl" >"$out/jobs.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    for k in ("started", "finished", "duration_ms"):
        r.pop(k, None)
    print(json.dumps(r, sort_keys=True))
PY
cp "$home/logs/signals.jsonl" "$home/logs/trades.jsonl" "$out/" 2>/dev/null || true
mkdir -p "$out/watchlist" "$out/reports"
cp "$home"/state/watchlist/*.json "$out/watchlist/"
find "$home/reports" -maxdepth 1 -type f ! -name 'replay_*' -exec cp {} "$out/reports/" \;
# One sum for the ledger, one for the jobs log, one over every other file (name and content).
others=$(cd "$out" && find watchlist reports -type f | sort | xargs sha256sum; \
  for f in signals.jsonl trades.jsonl; do [ -f "$f" ] && sha256sum "$f"; done; true)
echo "$others" >"$out/others.sha256"
sums=$(cd "$out" && sha256sum ledger_export.json jobs.jsonl others.sha256)
if [ "${RECORD:-}" = 1 ]; then
  mkdir -p "$(dirname "$fixture")"
  echo "$sums" >"$fixture"
  echo "recorded $fixture:"; echo "$sums"
  exit 0
fi
if diff <(echo "$sums") "$fixture"; then
  echo "replay_identity: byte-identical to the fixture ($(wc -l <"$out/jobs.jsonl") job lines)"
else
  echo "replay_identity: outputs differ from the fixture (normalised files in $out)" >&2
  exit 1
fi
