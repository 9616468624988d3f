//! The trading ledger's tables as version 1 created them, and each migration since: a ledger
//! of any earlier version is brought up to date in place, keeping its rows.

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS decisions (
    client_order_id TEXT PRIMARY KEY, session TEXT NOT NULL, strategy TEXT NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, qty INTEGER NOT NULL, price_ref REAL NOT NULL,
    stop REAL, target REAL, reason TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, session TEXT NOT NULL, symbol TEXT NOT NULL,
    side TEXT NOT NULL, qty INTEGER NOT NULL, stop REAL, target REAL, status TEXT NOT NULL,
    submitted_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fills (
    client_order_id TEXT PRIMARY KEY, session TEXT NOT NULL, symbol TEXT NOT NULL,
    side TEXT NOT NULL, qty INTEGER NOT NULL, price REAL NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    symbol TEXT PRIMARY KEY, qty INTEGER NOT NULL, entry_price REAL NOT NULL, stop REAL,
    target REAL, strategy TEXT NOT NULL, entry_session TEXT NOT NULL,
    entry_order TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trades (
    entry_order TEXT PRIMARY KEY, exit_order TEXT NOT NULL, symbol TEXT NOT NULL,
    strategy TEXT NOT NULL, qty INTEGER NOT NULL, entry_session TEXT NOT NULL,
    entry_price REAL NOT NULL, exit_session TEXT NOT NULL, exit_price REAL NOT NULL,
    reason TEXT NOT NULL, pnl REAL NOT NULL, r REAL);
CREATE TABLE IF NOT EXISTS equity (
    session TEXT PRIMARY KEY, cash REAL NOT NULL, equity REAL NOT NULL);
CREATE TABLE IF NOT EXISTS account (
    id INTEGER PRIMARY KEY CHECK (id = 1), cash REAL NOT NULL);
";

/// Version 2: limit orders, and orders a real broker holds (its id, asynchronous fills).
pub(super) const MIGRATION_2: &str = "
BEGIN;
ALTER TABLE decisions ADD COLUMN limit_price REAL;
ALTER TABLE orders ADD COLUMN order_type TEXT NOT NULL DEFAULT 'market';
ALTER TABLE orders ADD COLUMN limit_price REAL;
ALTER TABLE orders ADD COLUMN broker_id TEXT;
PRAGMA user_version = 2;
COMMIT;
";

/// Version 3: resting stop orders (a stop re-armed at the broker), and a position closed in
/// several fills (a trade per exit order).
pub(super) const MIGRATION_3: &str = "
BEGIN;
ALTER TABLE decisions ADD COLUMN trigger_price REAL;
CREATE TABLE trades_v2 (
    entry_order TEXT NOT NULL, exit_order TEXT NOT NULL, symbol TEXT NOT NULL,
    strategy TEXT NOT NULL, qty INTEGER NOT NULL, entry_session TEXT NOT NULL,
    entry_price REAL NOT NULL, exit_session TEXT NOT NULL, exit_price REAL NOT NULL,
    reason TEXT NOT NULL, pnl REAL NOT NULL, r REAL, PRIMARY KEY (entry_order, exit_order));
INSERT INTO trades_v2 SELECT entry_order, exit_order, symbol, strategy, qty, entry_session,
    entry_price, exit_session, exit_price, reason, pnl, r FROM trades;
DROP TABLE trades;
ALTER TABLE trades_v2 RENAME TO trades;
PRAGMA user_version = 3;
COMMIT;
";

/// Version 4: the broker's words when it refused an order (for the EOD report).
pub(super) const MIGRATION_4: &str = "
BEGIN;
ALTER TABLE orders ADD COLUMN refusal TEXT;
PRAGMA user_version = 4;
COMMIT;
";

/// Indexes for the questions a position-manager cycle asks (the day's decisions, orders by
/// status, the day's exits). They change no answer, only its cost, so they carry no schema
/// version: any kobe may open a ledger with or without them.
pub(super) fn indexes() -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS decisions_by_session ON decisions (session, side);
         CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status);
         CREATE INDEX IF NOT EXISTS orders_by_session ON orders (session);
         CREATE INDEX IF NOT EXISTS trades_by_exit ON trades (exit_session);
         CREATE INDEX IF NOT EXISTS orders_open ON orders (submitted_at, client_order_id)
             WHERE {};",
        unfinished_orders()
    )
}

/// The condition of an order that may still fill: written once, for `pending_orders` and the
/// partial index that serves it (SQLite uses the index only when the two read the same).
pub(super) fn unfinished_orders() -> String {
    let finished: Vec<String> = crate::domain::OrderStatus::terminal()
        .map(|s| format!("'{s}'"))
        .collect();
    format!("status NOT IN ({})", finished.join(", "))
}
