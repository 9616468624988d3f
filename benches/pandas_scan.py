#!/usr/bin/env python3
"""Reference pandas implementation of the kobe scan (DESIGN.md section 8).

NOT PART OF THE PRODUCT. This script exists only to (1) cross-check the Rust
scanner's signals on the shared S&P 500 data set, and (2) measure the
"pandas baseline" of issue 5 (how long a typical Python trader's scan takes).
Nothing in kobe imports or runs it.

It is written the way a typical Python trader would write the scan: load the
long CSV with pd.read_csv, drop invalid bars (DESIGN section 7), then groupby
symbol and use rolling windows. Indicators are over the last N *valid bars*
(rows) of a symbol, not over calendar sessions.

Usage:
    python3 benches/pandas_scan.py --as-of YYYY-MM-DD [--data PATH] [--universe CSV]

Prints {"as_of": D, "signals": [...]} as JSON on stdout, and wall times of
loading+cleaning, indicator/signal computation, and the total on stderr.
"""

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd

DEFAULT_DATA = "/work/shared/data/bars/sp500_5yr.csv.gz"


def load_bars(path):
    df = pd.read_csv(path)
    if "Name" in df.columns:
        df = df.rename(columns={"Name": "symbol"})
    o, h, l, c, v = df["open"], df["high"], df["low"], df["close"], df["volume"]
    # DESIGN section 7: invalid bars are dropped.
    valid = (
        o.notna() & h.notna() & l.notna() & c.notna()
        & (o > 0) & (h > 0) & (l > 0) & (c > 0)
        & ~(v < 0)
        & ~(h < l)
        & ~(h < np.maximum(o, c))
        & ~(l > np.minimum(o, c))
    )
    df = df[valid]
    # Duplicate (symbol, date): keep the last row.
    df = df.drop_duplicates(subset=["symbol", "date"], keep="last")
    df = df.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    return df


def scan(df, as_of, universe=None):
    df = df[df["date"] <= as_of]
    if universe is not None:
        df = df[df["symbol"].isin(universe)]
    df = df.copy()
    by = df.groupby("symbol", sort=False)
    prev_close = by["close"].shift(1)

    # Per-row inputs, then one groupby for all rolling windows.
    df["n"] = by.cumcount() + 1
    df["tr"] = pd.concat(
        [df["high"] - df["low"],
         (df["high"] - prev_close).abs(),
         (df["low"] - prev_close).abs()],
        axis=1,
    ).max(axis=1)
    d = df["close"] - prev_close          # close change
    df["up"] = d.clip(lower=0)
    df["dn"] = (-d).clip(lower=0)
    df["dollar_vol"] = df["close"] * df["volume"]
    rng = df["high"] - df["low"]
    df["ibs"] = np.where(rng == 0, 0.5, (df["close"] - df["low"]) / rng.where(rng != 0, 1.0))

    g = df.groupby("symbol", sort=False)
    df["sma200"] = g["close"].transform(lambda s: s.rolling(200).mean())
    df["atr14"] = g["tr"].transform(lambda s: s.rolling(14).mean())
    df["adv60"] = g["dollar_vol"].transform(lambda s: s.rolling(60).mean())

    # RSI2: the last two close changes.
    gain = g["up"].transform(lambda s: s.rolling(2).mean())
    loss = g["dn"].transform(lambda s: s.rolling(2).mean())
    rsi = 100 - 100 / (1 + gain / loss)
    df["rsi2"] = rsi.where(loss != 0, np.where(gain > 0, 100.0, 50.0))

    # TURTLE_SOUP prior low: lowest low of the 15 bars before t; its most
    # recent occurrence must be at least 3 bars before t, i.e. the lows of
    # bars t-1 and t-2 must both be above it.
    df["l15"] = g["low"].transform(lambda s: s.shift(1).rolling(15).min())
    df["low1"] = g["low"].shift(1)
    df["low2"] = g["low"].shift(2)

    # The as-of bar of each symbol, with at least 200 valid bars up to it.
    t = df[(df["date"] == as_of) & (df["n"] >= 200)].copy()

    c, l, atr = t["close"], t["low"], t["atr14"]
    base = (c >= 15) & (t["adv60"] >= 5_000_000) & (c > t["sma200"])

    # IBS_RSI
    ibs_ok = base & (t["ibs"] < 0.08) & (t["rsi2"] < 10)
    ibs_score = (0.08 - t["ibs"]) * 100 + (10 - t["rsi2"])
    ibs_conf = ibs_score / 18
    ibs_stop = c - 2 * atr

    # TURTLE_SOUP
    sweep = t["l15"] - l
    ts_ok = (
        base
        & (t["low1"] > t["l15"]) & (t["low2"] > t["l15"])
        & (sweep >= 0.3 * atr)
        & (c > t["l15"])
    )
    ts_score = 100 * sweep / atr
    ts_conf = np.minimum(1.0, sweep / atr)
    ts_stop = l - 0.2 * atr
    ts_target = c + 0.75 * (c - ts_stop)

    # One signal per symbol: the higher confidence, a tie goes to IBS_RSI.
    use_ts = ts_ok & (~ibs_ok | (ts_conf > ibs_conf))
    use_ibs = ibs_ok & ~use_ts

    out = pd.DataFrame({
        "symbol": t["symbol"],
        "strategy": np.where(use_ts, "TURTLE_SOUP", "IBS_RSI"),
        "confidence": np.where(use_ts, ts_conf, ibs_conf),
        "score": np.where(use_ts, ts_score, ibs_score),
        "close": c,
        "stop": np.where(use_ts, ts_stop, ibs_stop),
        "target": np.where(use_ts, ts_target, np.nan),
        "ibs": t["ibs"],
        "rsi2": t["rsi2"],
        "atr14": atr,
        "sma200": t["sma200"],
    })[use_ts | use_ibs]
    # Ranking: confidence descending, then symbol ascending.
    out = out.sort_values(["confidence", "symbol"], ascending=[False, True], kind="stable")

    signals = []
    for r in out.itertuples(index=False):
        signals.append({
            "symbol": r.symbol,
            "strategy": r.strategy,
            "confidence": float(r.confidence),
            "score": float(r.score),
            "close": float(r.close),
            "stop": float(r.stop),
            "target": None if r.strategy == "IBS_RSI" else float(r.target),
            "ibs": float(r.ibs),
            "rsi2": float(r.rsi2),
            "atr14": float(r.atr14),
            "sma200": float(r.sma200),
        })
    return signals


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--as-of", required=True, help="YYYY-MM-DD")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--universe", default=None, help="optional CSV with a symbol column")
    args = ap.parse_args()

    t0 = time.perf_counter()
    df = load_bars(args.data)
    universe = None
    if args.universe:
        universe = set(pd.read_csv(args.universe)["symbol"])
    t1 = time.perf_counter()
    signals = scan(df, args.as_of, universe)
    t2 = time.perf_counter()

    json.dump({"as_of": args.as_of, "signals": signals}, sys.stdout)
    sys.stdout.write("\n")
    print(f"load+clean: {t1 - t0:.3f} s", file=sys.stderr)
    print(f"compute:    {t2 - t1:.3f} s", file=sys.stderr)
    print(f"total:      {t2 - t0:.3f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
