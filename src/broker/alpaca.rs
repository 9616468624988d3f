//! Alpaca's Trading API v2 over HTTP (reqwest, rustls), behind the `Broker` trait.
//!
//! An order POST that times out or fails without an answer is never sent blindly again: the
//! client first asks for the order by its client order id, and only a broker that has never
//! seen it gets the POST again. 403 and 422 bodies become typed errors with a clear message.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{Account, Broker, BrokerError, Order, OrderRequest, Position, Side};

/// How often an unanswered POST is retried (each after a look-up that found nothing).
const POST_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlpacaError {
    #[error("Alpaca refused the keys (HTTP {status}: {message}): check APCA_API_KEY_ID, APCA_API_SECRET_KEY and APCA_API_BASE_URL")]
    Unauthorized { status: u16, message: String },
    #[error(
        "Alpaca: insufficient buying power (buying power {buying_power}, order cost {cost_basis})"
    )]
    InsufficientBuyingPower {
        buying_power: String,
        cost_basis: String,
    },
    #[error("Alpaca: pattern-day-trader protection refused the order: {message}")]
    PdtProtection { message: String },
    #[error("Alpaca: wash trade refused: {message}")]
    WashTrade { message: String },
    #[error("Alpaca: invalid order parameter: {message}")]
    InvalidParameter { message: String },
    #[error("Alpaca: HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("Alpaca: no answer ({0})")]
    Network(String),
    #[error("Alpaca: malformed answer: {0}")]
    Malformed(String),
}

impl From<AlpacaError> for BrokerError {
    fn from(e: AlpacaError) -> Self {
        BrokerError::Rejected(e.to_string())
    }
}

pub struct AlpacaClient {
    http: reqwest::blocking::Client,
    base: String,
    key_id: String,
    secret: String,
}

#[derive(Deserialize)]
struct RawOrder {
    client_order_id: String,
    symbol: String,
    side: String,
    qty: Option<String>,
    status: String,
    filled_avg_price: Option<String>,
}

#[derive(Deserialize)]
struct RawPosition {
    symbol: String,
    qty: String,
    avg_entry_price: String,
}

#[derive(Deserialize)]
struct RawAccount {
    cash: String,
}

fn number(text: &str, field: &str) -> Result<f64, AlpacaError> {
    text.parse()
        .map_err(|_| AlpacaError::Malformed(format!("{field} {text:?} is not a number")))
}

impl RawOrder {
    fn order(self) -> Result<Order, AlpacaError> {
        Ok(Order {
            qty: self
                .qty
                .as_deref()
                .map(|q| number(q, "qty"))
                .transpose()?
                .unwrap_or(0.0) as i64,
            fill_price: self
                .filled_avg_price
                .as_deref()
                .map(|p| number(p, "filled_avg_price"))
                .transpose()?,
            side: if self.side == "buy" {
                Side::Buy
            } else {
                Side::Sell
            },
            client_order_id: self.client_order_id,
            symbol: self.symbol,
            status: self.status,
        })
    }
}

/// Turns an error answer into its typed error.
fn classify(status: u16, body: &str) -> AlpacaError {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let message = v["message"]
        .as_str()
        .unwrap_or(body)
        .chars()
        .take(200)
        .collect::<String>();
    let lower = message.to_ascii_lowercase();
    match status {
        401 => AlpacaError::Unauthorized { status, message },
        403 if lower.contains("buying power") => AlpacaError::InsufficientBuyingPower {
            buying_power: v["buying_power"].as_str().unwrap_or("?").to_string(),
            cost_basis: v["cost_basis"].as_str().unwrap_or("?").to_string(),
        },
        403 if lower.contains("day trading") || lower.contains("pattern day") => {
            AlpacaError::PdtProtection { message }
        }
        403 if v.get("code").is_none() => AlpacaError::Unauthorized { status, message },
        422 if lower.contains("wash trade") => AlpacaError::WashTrade { message },
        400 | 422 => AlpacaError::InvalidParameter { message },
        _ => AlpacaError::Http { status, message },
    }
}

enum Sent {
    Answer(u16, String),
    NoAnswer(String),
}

impl AlpacaClient {
    pub fn new(
        key_id: &str,
        secret: &str,
        base_url: &str,
        timeout: Duration,
    ) -> Result<Self, AlpacaError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| AlpacaError::Network(e.to_string()))?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            key_id: key_id.into(),
            secret: secret.into(),
        })
    }

    fn send(&self, request: reqwest::blocking::RequestBuilder) -> Sent {
        let request = request
            .header("APCA-API-KEY-ID", &self.key_id)
            .header("APCA-API-SECRET-KEY", &self.secret);
        match request.send() {
            Err(e) => Sent::NoAnswer(e.without_url().to_string()),
            Ok(response) => {
                let status = response.status().as_u16();
                match response.text() {
                    Ok(body) => Sent::Answer(status, body),
                    Err(e) => Sent::NoAnswer(format!("answer cut off: {}", e.without_url())),
                }
            }
        }
    }

    fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<Option<T>, AlpacaError> {
        match self.send(self.http.get(format!("{}{path}", self.base))) {
            Sent::NoAnswer(why) => Err(AlpacaError::Network(why)),
            Sent::Answer(404, _) => Ok(None),
            Sent::Answer(200..=299, body) => serde_json::from_str(&body)
                .map(Some)
                .map_err(|e| AlpacaError::Malformed(e.to_string())),
            Sent::Answer(status, body) => Err(classify(status, &body)),
        }
    }

    pub fn order_by_client_id(&self, id: &str) -> Result<Option<Order>, AlpacaError> {
        let raw: Option<RawOrder> = self.get(&format!(
            "/v2/orders:by_client_order_id?client_order_id={id}"
        ))?;
        raw.map(RawOrder::order).transpose()
    }

    /// A market order (a bracket when it carries a stop and a target, OTO with a stop alone).
    pub fn submit_order(&self, r: &OrderRequest) -> Result<Order, AlpacaError> {
        let mut body = json!({
            "symbol": r.symbol,
            "qty": r.qty.to_string(),
            "side": r.side.as_str(),
            "type": "market",
            "time_in_force": "day",
            "client_order_id": r.client_order_id,
        });
        match (r.stop, r.target) {
            (Some(stop), Some(target)) => {
                body["order_class"] = json!("bracket");
                body["stop_loss"] = json!({"stop_price": format!("{stop:.2}")});
                body["take_profit"] = json!({"limit_price": format!("{target:.2}")});
            }
            (Some(stop), None) => {
                body["order_class"] = json!("oto");
                body["stop_loss"] = json!({"stop_price": format!("{stop:.2}")});
            }
            _ => {}
        }
        let mut last = String::new();
        for _ in 0..POST_ATTEMPTS {
            match self.send(
                self.http
                    .post(format!("{}/v2/orders", self.base))
                    .json(&body),
            ) {
                Sent::Answer(200..=299, text) => {
                    let raw: RawOrder = serde_json::from_str(&text)
                        .map_err(|e| AlpacaError::Malformed(e.to_string()))?;
                    return raw.order();
                }
                Sent::Answer(status, text) if status < 500 && status != 429 => {
                    return Err(classify(status, &text))
                }
                Sent::Answer(status, text) => last = classify(status, &text).to_string(),
                Sent::NoAnswer(why) => last = why,
            }
            // No usable answer: the order may have been accepted all the same. Ask before
            // sending it again.
            if let Some(order) = self.order_by_client_id(&r.client_order_id)? {
                return Ok(order);
            }
        }
        Err(AlpacaError::Network(format!(
            "order {} not placed after {POST_ATTEMPTS} attempts: {last}",
            r.client_order_id
        )))
    }

    pub fn account_cash(&self) -> Result<f64, AlpacaError> {
        let raw: RawAccount = self
            .get("/v2/account")?
            .ok_or_else(|| AlpacaError::Malformed("no account".into()))?;
        number(&raw.cash, "cash")
    }

    pub fn open_positions(&self) -> Result<Vec<Position>, AlpacaError> {
        let raw: Vec<RawPosition> = self.get("/v2/positions")?.unwrap_or_default();
        raw.into_iter()
            .map(|p| {
                Ok(Position {
                    qty: number(&p.qty, "qty")? as i64,
                    entry_price: number(&p.avg_entry_price, "avg_entry_price")?,
                    symbol: p.symbol,
                    stop: None,
                    target: None,
                })
            })
            .collect()
    }

    pub fn list_open_orders(&self) -> Result<Vec<Order>, AlpacaError> {
        let raw: Vec<RawOrder> = self
            .get("/v2/orders?status=open&limit=500")?
            .unwrap_or_default();
        raw.into_iter().map(RawOrder::order).collect()
    }
}

impl Broker for AlpacaClient {
    fn account(&self) -> Result<Account, BrokerError> {
        Ok(Account {
            cash: self.account_cash()?,
        })
    }
    fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        Ok(self.open_positions()?)
    }
    fn open_orders(&self) -> Result<Vec<Order>, BrokerError> {
        Ok(self.list_open_orders()?)
    }
    fn submit(&self, request: &OrderRequest) -> Result<Order, BrokerError> {
        Ok(self.submit_order(request)?)
    }
    fn cancel(&self, client_order_id: &str) -> Result<(), BrokerError> {
        #[derive(Deserialize)]
        struct Id {
            id: String,
        }
        let Some(order) = self.get::<Id>(&format!(
            "/v2/orders:by_client_order_id?client_order_id={client_order_id}"
        ))?
        else {
            return Ok(());
        };
        match self.send(
            self.http
                .delete(format!("{}/v2/orders/{}", self.base, order.id)),
        ) {
            Sent::Answer(200..=299, _) | Sent::Answer(404, _) => Ok(()),
            Sent::Answer(status, body) => Err(classify(status, &body).into()),
            Sent::NoAnswer(why) => Err(AlpacaError::Network(why).into()),
        }
    }
    fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<Order>, BrokerError> {
        Ok(AlpacaClient::order_by_client_id(self, client_order_id)?)
    }
}

/// What the ledger and the broker disagree on, symbol by symbol (quantities).
pub fn reconcile(ledger: &[(String, i64)], broker: &[Position]) -> Vec<String> {
    let mut out = Vec::new();
    for (symbol, qty) in ledger {
        match broker.iter().find(|p| &p.symbol == symbol) {
            Some(p) if p.qty == *qty => {}
            Some(p) => out.push(format!("{symbol}: ledger {qty}, broker {}", p.qty)),
            None => out.push(format!("{symbol}: ledger {qty}, broker none")),
        }
    }
    for p in broker {
        if !ledger.iter().any(|(s, _)| s == &p.symbol) {
            out.push(format!("{}: ledger none, broker {}", p.symbol, p.qty));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciliation_names_every_difference() {
        let pos = |s: &str, q| Position {
            symbol: s.into(),
            qty: q,
            entry_price: 1.0,
            stop: None,
            target: None,
        };
        let ledger = [("AAPL".to_string(), 10), ("MSFT".to_string(), 5)];
        assert!(reconcile(&ledger, &[pos("AAPL", 10), pos("MSFT", 5)]).is_empty());
        let diff = reconcile(&ledger, &[pos("AAPL", 7), pos("XOM", 3)]);
        assert_eq!(
            diff,
            [
                "AAPL: ledger 10, broker 7",
                "MSFT: ledger 5, broker none",
                "XOM: ledger none, broker 3"
            ]
        );
    }
}
