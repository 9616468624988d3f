#!/usr/bin/env bash
# Same inputs, same outputs: a 2-year replay (2014-01-02..2015-12-31) over the 505 imported
# S&P 500 symbols, its `kobe ledger export` and `logs/jobs.jsonl` (timing fields removed)
# reduced to sha256 sums and compared with the sums the code gave before the typed-core change
# (benches/fixtures/replay_2014_2015.sha256). A refactoring that changes a trade, a price, a
# status or a job's detail line changes a sum.
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
sums=$(cd "$out" && sha256sum ledger_export.json jobs.jsonl)
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
