//! The broker seam: what the position manager asks of any broker — the embedded paper broker
//! now, Alpaca's API behind the same trait later.

pub mod alpaca;
pub mod paper;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// A market order, optionally the parent of a bracket (stop and optional target held by the
/// broker once it fills).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderRequest {
    /// Derived from the decision (`session-strategy-symbol-side`): the same decision can never
    /// become two orders, whatever restarts in between.
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    pub qty: i64,
    pub stop: Option<f64>,
    pub target: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    pub qty: i64,
    pub status: String,
    pub fill_price: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Position {
    pub symbol: String,
    pub qty: i64,
    pub entry_price: f64,
    pub stop: Option<f64>,
    pub target: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    pub cash: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("broker: no price for {0} to fill at")]
    NoPrice(String),
    #[error("broker: {0}")]
    Rejected(String),
    #[error("broker storage: {0}")]
    Storage(#[from] rusqlite::Error),
}

pub trait Broker {
    fn account(&self) -> Result<Account, BrokerError>;
    fn positions(&self) -> Result<Vec<Position>, BrokerError>;
    fn open_orders(&self) -> Result<Vec<Order>, BrokerError>;
    /// Idempotent by client order id: submitting an id already known returns that order.
    fn submit(&self, request: &OrderRequest) -> Result<Order, BrokerError>;
    fn cancel(&self, client_order_id: &str) -> Result<(), BrokerError>;
    fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<Order>, BrokerError>;
}
