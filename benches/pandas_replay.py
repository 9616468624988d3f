#!/usr/bin/env python3
"""Reference pandas backtest of kobe's paper replay (DESIGN.md sections 7 and 8).

NOT PART OF THE PRODUCT. Nothing in kobe imports or runs this script. It exists to
(1) cross-check, trade for trade, the ledger that `runner --mode paper --replay FROM..TO`
leaves behind, with an implementation written independently of the Rust, and (2) time the
"pandas baseline": how long the same backtest takes the way a Python trader writes it
(benches/replay_vs_pandas.sh runs both and compares them).

How it works: pd.read_csv of the long CSV, invalid bars dropped (DESIGN section 7), then
groupby symbol + rolling windows for every indicator on every bar (as in
benches/pandas_scan.py), which gives every symbol's signal on every date at once. A day loop
then runs the portfolio the way kobe's jobs do in a replay:

  * the evening before (OVERNIGHT_WATCHLIST), the Top 5 signals on that session's bar;
    at 08:00 (PRE_GAME) each pick's gap = open(S) / signal close - 1: |gap| > 3 % removed;
  * POSITION_MANAGER every 15 minutes; inside the entry windows (10:00-11:30, 14:30-15:30)
    it goes through the validated watchlist, then, once an in-window scan (10:30 by default)
    has handed them over, every ranked signal as of the previous session. Entries fill at
    open(S); at most 2 new entries a session, 5 open positions, one per symbol;
    qty = floor(min(1 % of equity / (open - stop), 10 % of equity / open, cash / open)),
    equity being the last recorded close-of-day equity;
  * at the close tick: the bracket (stop: low <= stop, filled at min(open, stop); target:
    high >= target, filled at max(open, target); the stop first), then the strategy's exits
    at the close (IBS_RSI: IBS > 0.8 or RSI2 > 70), then time stops (7 / 3 sessions held,
    the entry session counting as 1); a symbol without a bar that session is not judged.
    Equity = cash + positions at their last close; a day that loses more than 3 % of its
    starting equity engages the kill switch (no more entries).
  * no commissions; an exited symbol may be entered again from the next session.

Usage:
    /work/pyenv/bin/python benches/pandas_replay.py --from 2014-01-02 --to 2015-12-31 \
        [--data ../shared/data/bars/sp500_5yr.csv.gz] [--universe ../shared/data/universe_sp500.csv] \
        [--scan-times 09:35,10:30,15:55] [--calendar SESSIONS_CSV] [--trades-out FILE] [--list]

Prints a JSON summary on stdout (trades, final equity, open positions; every trade with
--list) and timings on stderr. --trades-out FILE writes the closed trades as JSON lines in the
canonical form that benches/replay_vs_pandas.sh compares (prices as strings in cents).
--calendar (default ../shared/data/calendar/xnys_sessions_2000_2030.csv, optional) only
supplies the 13:00 early closes, which matter only for scan times after 13:00.

Agreement with kobe is to the cent, not to the last bit: pandas' rolling means are
compensated running sums where kobe sums each window afresh, so a stop can differ in its last
binary digit (over 2014-2015: 752 trades, all identical in cents).
"""

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_DATA = SHARED / "bars" / "sp500_5yr.csv.gz"
DEFAULT_CALENDAR = SHARED / "calendar" / "xnys_sessions_2000_2030.csv"

# config/kobe.toml defaults (the runner embeds that file).
STARTING_EQUITY = 100_000.0
ENTRY_WINDOWS = [("10:00", "11:30"), ("14:30", "15:30")]
MAX_ENTRIES = 2
MAX_OPEN = 5
RISK = 0.01
MAX_NOTIONAL = 0.10
DAILY_LOSS_LIMIT = 0.03
FIRST_SCAN = "09:45"
PM_EVERY_MIN = 15
PM_FROM = "10:00"
WATCHLIST_SIZE = 5
MAX_HOLD = {"IBS_RSI": 7, "TURTLE_SOUP": 3}


# ----------------------------------------------------------------------------------------
# Data and indicators
# ----------------------------------------------------------------------------------------

def load_bars(path, universe=None):
    df = pd.read_csv(path)
    if "Name" in df.columns:
        df = df.rename(columns={"Name": "symbol"})
    if universe is not None:
        df = df[df["symbol"].isin(universe)]
    o, h, l, c, v = df["open"], df["high"], df["low"], df["close"], df["volume"]
    # DESIGN section 7: invalid bars are dropped.
    valid = (
        o.notna() & h.notna() & l.notna() & c.notna() & v.notna()
        & (o > 0) & (h > 0) & (l > 0) & (c > 0)
        & (v >= 0)
        & (h >= l)
        & (h >= np.maximum(o, c))
        & (l <= np.minimum(o, c))
    )
    df = df[valid]
    # Duplicate (symbol, date): keep the last row.
    df = df.drop_duplicates(subset=["symbol", "date"], keep="last")
    return df.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)


def add_indicators(df):
    """Every indicator of DESIGN section 8 on every bar (windows over valid bars)."""
    by = df.groupby("symbol", sort=False)
    prev_close = by["close"].shift(1)
    df["n"] = by.cumcount() + 1
    df["tr"] = pd.concat(
        [df["high"] - df["low"],
         (df["high"] - prev_close).abs(),
         (df["low"] - prev_close).abs()],
        axis=1,
    ).max(axis=1)
    d = df["close"] - prev_close
    df["up"] = d.clip(lower=0)
    df["dn"] = (-d).clip(lower=0)
    df["dollar_vol"] = df["close"] * df["volume"]
    rng = df["high"] - df["low"]
    df["ibs"] = np.where(rng == 0, 0.5, (df["close"] - df["low"]) / rng.where(rng != 0, 1.0))

    g = df.groupby("symbol", sort=False)
    df["sma200"] = g["close"].transform(lambda s: s.rolling(200).mean())
    df["atr14"] = g["tr"].transform(lambda s: s.rolling(14).mean())
    df["adv60"] = g["dollar_vol"].transform(lambda s: s.rolling(60).mean())
    gain = g["up"].transform(lambda s: s.rolling(2).mean())
    loss = g["dn"].transform(lambda s: s.rolling(2).mean())
    rsi = 100 - 100 / (1 + gain / loss)
    df["rsi2"] = rsi.where(loss != 0, np.where(gain > 0, 100.0, 50.0)).where(gain.notna())
    # TURTLE_SOUP: lowest low of the 15 bars before t, most recent occurrence >= 3 bars back.
    df["l15"] = g["low"].transform(lambda s: s.shift(1).rolling(15).min())
    df["low1"] = g["low"].shift(1)
    df["low2"] = g["low"].shift(2)
    return df


def signals_table(df):
    """Every (date, symbol) with a signal, ranked within each date."""
    c, l, atr = df["close"], df["low"], df["atr14"]
    base = (df["n"] >= 200) & (c >= 15) & (df["adv60"] >= 5_000_000) & (c > df["sma200"])

    ibs_ok = base & (df["ibs"] < 0.08) & (df["rsi2"] < 10)
    ibs_score = (0.08 - df["ibs"]) * 100 + (10 - df["rsi2"])
    ibs_conf = ibs_score / 18

    sweep = df["l15"] - l
    ts_ok = (base & (atr > 0)
             & (df["low1"] > df["l15"]) & (df["low2"] > df["l15"])
             & (sweep >= 0.3 * atr) & (c > df["l15"]))
    ts_conf = np.minimum(1.0, sweep / atr)
    ts_stop = l - 0.2 * atr

    # One signal per symbol: the higher confidence, a tie goes to IBS_RSI.
    use_ts = ts_ok & (~ibs_ok | (ts_conf > ibs_conf))
    use_ibs = ibs_ok & ~use_ts
    sig = pd.DataFrame({
        "date": df["date"],
        "symbol": df["symbol"],
        "strategy": np.where(use_ts, "TURTLE_SOUP", "IBS_RSI"),
        "confidence": np.where(use_ts, ts_conf, ibs_conf),
        "close": c,
        "stop": np.where(use_ts, ts_stop, c - 2 * atr),
        "target": np.where(use_ts, c + 0.75 * (c - ts_stop), np.nan),
    })[use_ts | use_ibs]
    # Ranking: confidence descending, then symbol ascending.
    return sig.sort_values(["date", "confidence", "symbol"],
                           ascending=[True, False, True], kind="stable")


# ----------------------------------------------------------------------------------------
# The trading day
# ----------------------------------------------------------------------------------------

def hm(text):
    h, m = text.split(":")
    return int(h) * 60 + int(m)


def in_window(t):
    return any(hm(a) <= t <= hm(b) for a, b in ENTRY_WINDOWS)


def entry_cycles(close_min, scan_times):
    """The day's POSITION_MANAGER cycles before the close tick that may enter, each with
    whether a scan's hand-off is there yet. At one instant the manager runs before the scan
    (slots tie by tag), so a scan at 10:30 helps the 10:45 cycle."""
    scans = [t for t in [hm(FIRST_SCAN)] + scan_times if t < close_min and in_window(t)]
    first_handoff = min(scans) if scans else None
    cycles = range(hm(PM_FROM), close_min, PM_EVERY_MIN)
    return [(t, first_handoff is not None and t > first_handoff) for t in cycles if in_window(t)]


def canonical(t):
    """A trade as benches/replay_vs_pandas.sh compares it."""
    return {
        "symbol": t["symbol"], "strategy": t["strategy"],
        "entry_session": t["entry_session"], "exit_session": t["exit_session"],
        "qty": int(t["qty"]),
        "entry_price": f"{t['entry_price']:.2f}", "exit_price": f"{t['exit_price']:.2f}",
        "reason": t["reason"],
    }


def replay(df, sig, start, end, scan_times, closes):
    sessions = sorted(df["date"].unique())           # every date of the data is a session
    pos_of = {d: i for i, d in enumerate(sessions)}
    run = [d for d in sessions if start <= d <= end]

    # Wide arrays (session x symbol) for the bar lookups of the day loop; the last close
    # known marks positions (and prices an entry on a symbol without a bar that session).
    wide = (df.set_index(["date", "symbol"])[["open", "high", "low", "close", "ibs", "rsi2"]]
            .unstack("symbol").reindex(sessions))
    col = {sym: j for j, sym in enumerate(wide["open"].columns)}
    O, H, L, C, IBS, RSI2 = (wide[k].to_numpy() for k in ("open", "high", "low", "close",
                                                           "ibs", "rsi2"))
    LAST = wide["close"].ffill().to_numpy()
    ranked = defaultdict(list)                       # as-of date -> ranked signals
    for row in sig.itertuples(index=False):
        ranked[row.date].append(row)

    cash = STARTING_EQUITY
    equity_curve = []               # (session, cash, equity)
    positions = {}                  # symbol -> dict
    trades = []
    kill_switch = False
    next_day = None                 # the previous session's Top 5, for this one

    for s in run:
        i = pos_of[s]
        prev = sessions[i - 1] if i > 0 else None
        start_equity = equity_curve[-1][2] if equity_curve else STARTING_EQUITY

        # PRE_GAME: the gap of each pick from its signal close to today's open.
        watchlist = []
        for p in next_day or []:
            px = O[i, col[p.symbol]]
            if math.isnan(px):
                continue                                # no pre-market price: UNCHECKED
            if abs(px / p.close - 1.0) > 0.03:
                continue                                # REMOVED
            watchlist.append(p)
        handoff = ranked.get(prev, []) if prev is not None else []

        # POSITION_MANAGER inside the entry windows.
        entered = []
        if not kill_switch:
            for _, has_handoff in entry_cycles(closes.get(s, 16 * 60), scan_times):
                for cand in watchlist + (handoff if has_handoff else []):
                    if len(entered) >= MAX_ENTRIES or len(positions) >= MAX_OPEN:
                        break
                    sym = cand.symbol
                    if sym in positions or sym in entered:
                        continue
                    price = float(O[i, col[sym]])
                    if math.isnan(price):               # no bar today: the last close known
                        price = float(LAST[i - 1, col[sym]]) if i > 0 else math.nan
                        if math.isnan(price):
                            continue
                    target = None if math.isnan(cand.target) else cand.target
                    if price <= cand.stop or (target is not None and price >= target):
                        continue
                    size = min(start_equity * RISK / (price - cand.stop),
                               start_equity * MAX_NOTIONAL / price,
                               cash / price)
                    qty = math.floor(size)
                    if qty < 1:
                        continue
                    cash -= qty * price
                    entered.append(sym)
                    positions[sym] = dict(symbol=sym, strategy=cand.strategy, qty=qty,
                                          entry_price=price, stop=cand.stop, target=target,
                                          entry_session=s, entry_i=i)

        # The close tick: brackets, then the strategy's exits and time stops (symbol order).
        for sym in sorted(positions):
            p = positions[sym]
            j = col[sym]
            bo, bh, bl, bc = (float(a[i, j]) for a in (O, H, L, C))
            if math.isnan(bo):
                continue                                # no bar today: nothing to judge
            exit_ = None
            if bl <= p["stop"]:
                exit_ = (min(bo, p["stop"]), "stop")
            elif p["target"] is not None and bh >= p["target"]:
                exit_ = (max(bo, p["target"]), "target")
            else:
                held = i - p["entry_i"] + 1
                if p["strategy"] == "IBS_RSI" and (IBS[i, j] > 0.8 or RSI2[i, j] > 70):
                    exit_ = (bc, "strategy_exit")
                elif held >= MAX_HOLD[p["strategy"]]:
                    exit_ = (bc, "time_stop")
            if exit_ is None:
                continue
            price, reason = exit_
            cash += p["qty"] * price
            del positions[sym]
            trades.append(dict(p, exit_session=s, exit_price=price, reason=reason,
                               pnl=(price - p["entry_price"]) * p["qty"]))

        equity = cash
        for sym in sorted(positions):
            equity += positions[sym]["qty"] * float(LAST[i, col[sym]])
        equity_curve.append((s, cash, equity))
        if equity < start_equity * (1 - DAILY_LOSS_LIMIT):
            kill_switch = True                          # manage only from now on

        # OVERNIGHT_WATCHLIST: the Top 5 on today's bar, for the next session.
        next_day = ranked.get(s, [])[:WATCHLIST_SIZE]

    return trades, positions, equity_curve, kill_switch


def session_closes(path):
    """Close times (minutes) of early-close sessions, from the reference calendar if any."""
    try:
        cal = pd.read_csv(path)
    except OSError:
        return {}
    early = cal[cal["early_close"].astype(str).str.lower() == "true"]
    return {d: hm(t) for d, t in zip(early["date"], early["close_et"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="start", required=True, help="YYYY-MM-DD")
    ap.add_argument("--to", dest="end", required=True, help="YYYY-MM-DD")
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--universe", default=None, help="CSV with a symbol column")
    ap.add_argument("--scan-times", default="", help="HH:MM,... as runner --scan-times")
    ap.add_argument("--calendar", default=str(DEFAULT_CALENDAR),
                    help="sessions CSV for early closes (optional)")
    ap.add_argument("--trades-out", default=None, help="write trades as JSON lines")
    ap.add_argument("--list", action="store_true", help="every trade in the JSON summary")
    args = ap.parse_args()

    t0 = time.perf_counter()
    universe = set(pd.read_csv(args.universe)["symbol"]) if args.universe else None
    df = load_bars(args.data, universe)
    t1 = time.perf_counter()
    df = add_indicators(df)
    sig = signals_table(df)
    t2 = time.perf_counter()
    scan_times = [hm(t) for t in args.scan_times.split(",") if t.strip()]
    trades, open_pos, curve, killed = replay(
        df, sig, args.start, args.end, scan_times, session_closes(args.calendar))
    t3 = time.perf_counter()

    canon = sorted((canonical(t) for t in trades),
                   key=lambda t: (t["entry_session"], t["symbol"], t["exit_session"]))
    if args.trades_out:
        with open(args.trades_out, "w") as f:
            for t in canon:
                f.write(json.dumps(t, sort_keys=True) + "\n")
    summary = {
        "from": args.start, "to": args.end,
        "sessions": len(curve),
        "trades": len(trades),
        "wins": sum(t["pnl"] > 0 for t in trades),
        "final_equity": round(curve[-1][2], 2) if curve else STARTING_EQUITY,
        "final_cash": round(curve[-1][1], 2) if curve else STARTING_EQUITY,
        "open_positions": sorted(open_pos),
        "kill_switch": killed,
    }
    if args.list:
        summary["trade_list"] = canon
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")
    print(f"load+clean:  {t1 - t0:.3f} s", file=sys.stderr)
    print(f"indicators:  {t2 - t1:.3f} s", file=sys.stderr)
    print(f"day loop:    {t3 - t2:.3f} s", file=sys.stderr)
    print(f"total:       {t3 - t0:.3f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
