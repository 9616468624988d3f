//! Alpaca's Trading API v2 over HTTP (reqwest, rustls), behind the `Broker` trait.
//!
//! An order POST that times out or fails without an answer is never sent blindly again: the
//! client first asks for the order by its client order id, and only a broker that has never
//! seen it gets the POST again. 403 and 422 bodies become typed errors with a clear message.

use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

pub use super::reconcile;
use super::{Account, Broker, BrokerError, Fills, Order, OrderKind, OrderRequest, Position, Side};

/// How often an unanswered POST is retried (each after a look-up that found nothing).
const POST_ATTEMPTS: u32 = 3;
/// How long closing a position waits for its bracket legs to be cancelled (they hold the
/// shares until then).
const LEG_CANCEL_POLLS: u32 = 20;
const LEG_CANCEL_PAUSE: Duration = Duration::from_millis(250);

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
    /// The base URL leads nowhere: a configuration error, never "nothing there".
    #[error("Alpaca: {url} answered 404 ({message}): check APCA_API_BASE_URL — the host only, e.g. https://paper-api.alpaca.markets, without /v2 (kobe adds it)")]
    EndpointNotFound { url: String, message: String },
    #[error("APCA_API_BASE_URL={0:?} ends in /v2: give the host only (e.g. https://paper-api.alpaca.markets); kobe adds /v2 itself")]
    BaseUrlWithVersion(String),
    #[error("Alpaca: no answer ({0})")]
    Network(String),
    #[error("Alpaca: malformed answer: {0}")]
    Malformed(String),
    /// Closing waits for the exit orders to be cancelled; they were still open (try again).
    #[error("Alpaca: the exit orders of {0} are still open after cancelling them")]
    LegsStillOpen(String),
}

impl From<AlpacaError> for BrokerError {
    fn from(e: AlpacaError) -> Self {
        match e {
            AlpacaError::Network(_)
            | AlpacaError::Malformed(_)
            | AlpacaError::LegsStillOpen(_)
            | AlpacaError::EndpointNotFound { .. }
            | AlpacaError::BaseUrlWithVersion(_) => BrokerError::Unavailable(e.to_string()),
            AlpacaError::Http { status, .. } if status >= 500 || status == 429 => {
                BrokerError::Unavailable(e.to_string())
            }
            // Wrong keys are not this order's fault: every order would fail the same way.
            AlpacaError::Unauthorized { .. } => BrokerError::Unavailable(e.to_string()),
            _ => BrokerError::Refused(e.to_string()),
        }
    }
}

pub struct AlpacaClient {
    http: reqwest::blocking::Client,
    base: String,
    key_id: String,
    secret: String,
}

/// A decimal field as Alpaca sends it: a JSON string in its spec and answers, a JSON number in
/// its official SDK's test bodies. Either is kept as text, parsed to `Decimal` where it is used
/// (a number's text is the shortest that reads back to the same value).
#[derive(Debug, Clone)]
struct Num(String);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum TextOrNumber {
            Text(String),
            Number(serde_json::Number),
        }
        Ok(Num(match TextOrNumber::deserialize(d)? {
            TextOrNumber::Text(text) => text,
            TextOrNumber::Number(n) => n.to_string(),
        }))
    }
}

impl std::ops::Deref for Num {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// An order as Alpaca sends it; unknown fields are ignored.
#[derive(Deserialize)]
struct RawOrder {
    id: Option<String>,
    client_order_id: String,
    symbol: String,
    side: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    order_class: Option<String>,
    qty: Option<Num>,
    filled_qty: Option<Num>,
    status: String,
    filled_avg_price: Option<Num>,
    filled_at: Option<String>,
    legs: Option<Vec<RawOrder>>,
}

#[derive(Deserialize)]
struct RawPosition {
    symbol: String,
    qty: Num,
    avg_entry_price: Num,
}

#[derive(Deserialize)]
struct RawAccount {
    status: Option<String>,
    #[serde(default)]
    trading_blocked: bool,
    #[serde(default)]
    account_blocked: bool,
    #[serde(default)]
    trade_suspended_by_user: bool,
    cash: Num,
    equity: Option<Num>,
    last_equity: Option<Num>,
    portfolio_value: Option<Num>,
    buying_power: Option<Num>,
    non_marginable_buying_power: Option<Num>,
    /// "1" for a cash account, "2" or "4" for margin.
    multiplier: Option<Num>,
}

/// A decimal string as Alpaca sends it (money is never parsed through `f64`).
fn decimal(text: &str, field: &str) -> Result<Decimal, AlpacaError> {
    Decimal::from_str(text.trim())
        .or_else(|_| Decimal::from_scientific(text.trim()))
        .map_err(|_| AlpacaError::Malformed(format!("{field} {text:?} is not a number")))
}

/// An order's share count. kobe only sends whole shares; a fractional order placed by hand is
/// counted in whole shares (what it holds is compared exactly, as a `Position`).
fn shares(text: Option<&str>, field: &str) -> Result<i64, AlpacaError> {
    let Some(text) = text else { return Ok(0) };
    i64::try_from(decimal(text, field)?.trunc())
        .map_err(|_| AlpacaError::Malformed(format!("{field} {text:?} out of range")))
}

impl RawOrder {
    fn is_multi_leg(&self) -> bool {
        matches!(self.order_class.as_deref(), Some("bracket" | "oto" | "oco"))
    }

    fn order(self) -> Result<Order, AlpacaError> {
        // A status kobe does not know is never guessed finished: in flight, and reported.
        let (status, unrecognized) = match self.status.parse() {
            Ok(status) => (status, None),
            Err(_) => (crate::domain::OrderStatus::New, Some(self.status.clone())),
        };
        Ok(Order {
            qty: shares(self.qty.as_deref(), "qty")?,
            filled_qty: shares(self.filled_qty.as_deref(), "filled_qty")?,
            fill_price: self
                .filled_avg_price
                .as_deref()
                .map(|p| decimal(p, "filled_avg_price"))
                .transpose()?,
            side: self.side.parse().map_err(malformed)?,
            kind: OrderKind::from_broker(self.kind.as_deref().unwrap_or("market"))
                .map_err(malformed)?,
            legs: self
                .legs
                .unwrap_or_default()
                .into_iter()
                .map(RawOrder::order)
                .collect::<Result<_, _>>()?,
            broker_id: self.id,
            filled_at: self.filled_at,
            client_order_id: self.client_order_id,
            symbol: self.symbol,
            status,
            unrecognized,
        })
    }
}

/// An answer naming a value outside what Alpaca documents: not guessed at.
fn malformed(e: crate::domain::UnknownValue) -> AlpacaError {
    AlpacaError::Malformed(e.to_string())
}

/// Alpaca's error text: its `message`, with its `code` when it gives one (the body itself,
/// cut short, when it is not Alpaca's JSON).
fn vendor_message(v: &Value, body: &str) -> String {
    let message: String = v["message"]
        .as_str()
        .unwrap_or(body)
        .chars()
        .take(200)
        .collect();
    match v["code"].as_i64() {
        Some(code) => format!("{message}, code {code}"),
        None => message,
    }
}

/// Turns an error answer into its typed error.
fn classify(status: u16, body: &str) -> AlpacaError {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let message = vendor_message(&v, body);
    let lower = message.to_ascii_lowercase();
    match status {
        401 => AlpacaError::Unauthorized { status, message },
        403 if v.get("buying_power").is_some() || lower.contains("buying power") => {
            AlpacaError::InsufficientBuyingPower {
                buying_power: v["buying_power"].as_str().unwrap_or("?").to_string(),
                cost_basis: v["cost_basis"].as_str().unwrap_or("?").to_string(),
            }
        }
        403 if lower.contains("day trading") || lower.contains("pattern day") => {
            AlpacaError::PdtProtection { message }
        }
        403 if v.get("code").is_none() => AlpacaError::Unauthorized { status, message },
        422 if lower.contains("wash trade") => AlpacaError::WashTrade { message },
        400 | 422 => AlpacaError::InvalidParameter { message },
        _ => AlpacaError::Http { status, message },
    }
}

/// The POST body of an order: its type and time in force follow from the limit, trigger, stop
/// and target it carries.
fn order_body(r: &OrderRequest) -> Value {
    let mut body = json!({
        "symbol": r.symbol,
        "qty": r.qty.to_string(),
        "side": r.side.as_str(),
        "type": "market",
        "time_in_force": "day",
        "client_order_id": r.client_order_id,
    });
    if let Some(limit) = r.limit {
        body["type"] = json!("limit");
        body["limit_price"] = json!(limit.to_string());
    }
    if let Some(trigger) = r.trigger {
        body["type"] = json!("stop");
        body["stop_price"] = json!(trigger.to_string());
        body["time_in_force"] = json!("gtc");
    }
    if r.stop.is_some() {
        // The legs take the entry's time in force: a day bracket would leave the position
        // without its stop from the next morning on. (Unfilled entries are cancelled at
        // the close by the position manager.)
        body["time_in_force"] = json!("gtc");
    }
    match (r.stop, r.target) {
        (Some(stop), Some(target)) => {
            body["order_class"] = json!("bracket");
            body["stop_loss"] = json!({"stop_price": stop.to_string()});
            body["take_profit"] = json!({"limit_price": target.to_string()});
        }
        (Some(stop), None) => {
            body["order_class"] = json!("oto");
            body["stop_loss"] = json!({"stop_price": stop.to_string()});
        }
        _ => {}
    }
    body
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
        let base = base_url.trim_end_matches('/');
        if base.ends_with("/v2") {
            return Err(AlpacaError::BaseUrlWithVersion(base_url.to_string()));
        }
        Ok(Self {
            http,
            base: base.to_string(),
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

    /// `None` when Alpaca says the thing asked for does not exist (an order it never saw); a
    /// 404 for the endpoint itself ("endpoint not found": a wrong base URL) is an error.
    fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<Option<T>, AlpacaError> {
        let url = format!("{}{path}", self.base);
        match self.send(self.http.get(&url)) {
            Sent::NoAnswer(why) => Err(AlpacaError::Network(why)),
            Sent::Answer(404, body) => {
                let v: Value = serde_json::from_str(&body).unwrap_or_default();
                let message = vendor_message(&v, &body);
                if message.to_ascii_lowercase().contains("endpoint not found") || v.is_null() {
                    let url = url.split('?').next().unwrap_or(&url).to_string();
                    return Err(AlpacaError::EndpointNotFound { url, message });
                }
                Ok(None)
            }
            Sent::Answer(200..=299, body) => serde_json::from_str(&body)
                .map(Some)
                .map_err(|e| AlpacaError::Malformed(e.to_string())),
            Sent::Answer(status, body) => Err(classify(status, &body)),
        }
    }

    /// What an endpoint that always exists answers: a 404 there is a wrong base URL, not an
    /// empty account, and never reads as "no positions" (a false reconciliation).
    fn required<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<T, AlpacaError> {
        self.get(path)?
            .ok_or_else(|| AlpacaError::EndpointNotFound {
                url: format!("{}{}", self.base, path.split('?').next().unwrap_or(path)),
                message: "not found".into(),
            })
    }

    /// The order with its bracket legs. The look-up by client order id gives the order; when
    /// it is the parent of a bracket and shows no legs, the order is read again by its id
    /// with `nested=true`, which rolls the legs up under it.
    pub fn order_by_client_id(&self, id: &str) -> Result<Option<Order>, AlpacaError> {
        let Some(raw): Option<RawOrder> = self.get(&format!(
            "/v2/orders:by_client_order_id?client_order_id={id}"
        ))?
        else {
            return Ok(None);
        };
        if raw.is_multi_leg() && raw.legs.as_ref().is_none_or(Vec::is_empty) {
            if let Some(broker_id) = raw.id.as_deref() {
                let nested: Option<RawOrder> =
                    self.get(&format!("/v2/orders/{broker_id}?nested=true"))?;
                if let Some(nested) = nested.filter(|n| n.client_order_id == id) {
                    return nested.order().map(Some);
                }
            }
        }
        raw.order().map(Some)
    }

    /// A market or limit order; a bracket when it carries a stop and a target, OTO with a
    /// stop alone.
    pub fn submit_order(&self, r: &OrderRequest) -> Result<Order, AlpacaError> {
        let body = order_body(r);
        let mut last = String::new();
        let mut unanswered = false;
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
                    return self.refused(&r.client_order_id, status, &text, unanswered);
                }
                Sent::Answer(status, text) => last = classify(status, &text).to_string(),
                Sent::NoAnswer(why) => last = why,
            }
            unanswered = true;
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

    /// A POST refused outright. After an attempt without an answer, a refusal may only mean
    /// the first attempt got through ("client_order_id must be unique"): look once more.
    fn refused(
        &self,
        client_order_id: &str,
        status: u16,
        text: &str,
        unanswered: bool,
    ) -> Result<Order, AlpacaError> {
        if unanswered {
            if let Some(order) = self.order_by_client_id(client_order_id)? {
                return Ok(order);
            }
            // Not visible yet, but not known to be refused either: undecided, so the next
            // cycle looks it up before anything is sent again.
            return Err(AlpacaError::Network(format!(
                "order {}: a retry was refused ({}) after an attempt without an answer",
                client_order_id,
                classify(status, text)
            )));
        }
        Err(classify(status, text))
    }

    pub fn account_balances(&self) -> Result<Account, AlpacaError> {
        let raw: RawAccount = self.required("/v2/account")?;
        let cash = decimal(&raw.cash, "cash")?;
        let equity = match raw.equity.or(raw.portfolio_value) {
            Some(e) => decimal(&e, "equity")?,
            None => cash,
        };
        let status = raw.status.unwrap_or_default();
        let blocked = if raw.trading_blocked || raw.account_blocked {
            Some("trading is blocked on the account".to_string())
        } else if raw.trade_suspended_by_user {
            Some("trading is suspended by the account holder".to_string())
        } else if status != "ACTIVE" {
            Some(format!("the account status is {status:?}, not ACTIVE"))
        } else {
            None
        };
        let last_equity = raw
            .last_equity
            .as_deref()
            .map(|e| decimal(e, "last_equity"))
            .transpose()?;
        // A cash account buys with settled cash only: its non-marginable buying power.
        let cash_account = raw.multiplier.as_deref().map(str::trim) == Some("1");
        let spendable = match (cash_account, &raw.non_marginable_buying_power) {
            (true, Some(n)) => Some(("non_marginable_buying_power", n)),
            _ => raw.buying_power.as_ref().map(|b| ("buying_power", b)),
        };
        let buying_power = spendable
            .map(|(field, text)| decimal(text, field))
            .transpose()?;
        Ok(Account {
            cash,
            equity,
            blocked,
            last_equity,
            buying_power,
        })
    }

    pub fn open_positions(&self) -> Result<Vec<Position>, AlpacaError> {
        let raw: Vec<RawPosition> = self.required("/v2/positions")?;
        raw.into_iter()
            .map(|p| {
                Ok(Position {
                    qty: decimal(&p.qty, "qty")?,
                    entry_price: decimal(&p.avg_entry_price, "avg_entry_price")?,
                    symbol: p.symbol,
                })
            })
            .collect()
    }

    pub fn list_open_orders(&self) -> Result<Vec<Order>, AlpacaError> {
        let raw: Vec<RawOrder> = self.required("/v2/orders?status=open&limit=500&nested=true")?;
        raw.into_iter().map(RawOrder::order).collect()
    }

    fn cancel_by_broker_id(&self, broker_id: &str) -> Result<(), AlpacaError> {
        match self.send(
            self.http
                .delete(format!("{}/v2/orders/{broker_id}", self.base)),
        ) {
            // 404: gone already; 422: no longer cancelable (filled or cancelled meanwhile).
            Sent::Answer(200..=299 | 404 | 422, _) => Ok(()),
            Sent::Answer(status, body) => Err(classify(status, &body)),
            Sent::NoAnswer(why) => Err(AlpacaError::Network(why)),
        }
    }

    /// The unfinished sell orders that hold `symbol`'s shares: the legs of its entry (a
    /// `held` stop leg is not listed among open orders) and any open sell of the symbol.
    fn holding_orders(&self, symbol: &str, entry_order: &str) -> Result<Vec<Order>, AlpacaError> {
        let mut orders = self
            .order_by_client_id(entry_order)?
            .map(|entry| entry.legs)
            .unwrap_or_default();
        for order in self.list_open_orders()? {
            orders.extend(order.legs.clone());
            orders.push(order);
        }
        orders.retain(|o| o.symbol == symbol && o.side == Side::Sell && !o.is_done());
        orders.sort_by(|a, b| a.broker_id.cmp(&b.broker_id));
        orders.dedup_by(|a, b| a.broker_id == b.broker_id);
        Ok(orders)
    }

    /// Cancels the exit orders that hold `symbol`'s shares and waits until none is left.
    fn release_shares(&self, symbol: &str, entry_order: &str) -> Result<(), AlpacaError> {
        let open = self.holding_orders(symbol, entry_order)?;
        for order in &open {
            if let Some(id) = &order.broker_id {
                self.cancel_by_broker_id(id)?;
            }
        }
        if open.is_empty() {
            return Ok(());
        }
        for _ in 0..LEG_CANCEL_POLLS {
            if self.holding_orders(symbol, entry_order)?.is_empty() {
                return Ok(());
            }
            std::thread::sleep(LEG_CANCEL_PAUSE);
        }
        Err(AlpacaError::LegsStillOpen(symbol.to_string()))
    }
}

impl Broker for AlpacaClient {
    /// Alpaca holds the account, the positions and the bracket legs (it triggers them).
    fn keeps_own_book(&self) -> bool {
        true
    }

    fn fills(&self) -> Fills {
        Fills::AtMarket
    }

    fn account(&self) -> Result<Account, BrokerError> {
        Ok(self.account_balances()?)
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
        let Some(order) = AlpacaClient::order_by_client_id(self, client_order_id)? else {
            return Ok(());
        };
        // A finished order is left alone (cancelling a filled bracket parent must not reach
        // its legs).
        if order.is_done() {
            return Ok(());
        }
        if let Some(id) = order.broker_id {
            self.cancel_by_broker_id(&id)?;
        }
        Ok(())
    }
    fn close_position(
        &self,
        symbol: &str,
        qty: i64,
        client_order_id: &str,
        entry_order: &str,
    ) -> Result<Order, BrokerError> {
        // The caller has looked `client_order_id` up and found nothing (see `place`).
        self.release_shares(symbol, entry_order)?;
        Ok(self.submit_order(&OrderRequest::market_sell(client_order_id, symbol, qty))?)
    }
    fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<Order>, BrokerError> {
        Ok(AlpacaClient::order_by_client_id(self, client_order_id)?)
    }
}
