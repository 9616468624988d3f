//! A stateful stand-in for Alpaca's Trading API v2 (the documented shapes of
//! ../shared/data/api/alpaca): it accepts orders (brackets with held legs), answers look-ups by
//! client order id and by id with `nested=true`, cancels, lists open orders and positions, and
//! lets the test fill an order or a leg as the market would.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::http_server::{Request, Response, TestServer};

/// A documented Alpaca body from ../shared/data/api/alpaca.
pub fn fixture(name: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/api/alpaca");
    std::fs::read_to_string(format!("{dir}/{name}")).unwrap()
}

#[derive(Default)]
struct Book {
    /// Orders by their id ("ord-N"); legs are orders too, with a parent.
    orders: BTreeMap<String, Value>,
    parent: BTreeMap<String, String>,
    next: usize,
    /// symbol → (qty, avg entry price)
    positions: BTreeMap<String, (i64, f64)>,
    cash: f64,
    /// The next POST is answered with this (status, body) instead of being accepted.
    refuse_next: Option<(u16, String)>,
    /// Fields of the account replaced in its answers.
    account: BTreeMap<String, Value>,
}

#[derive(Clone)]
pub struct FakeAlpaca {
    book: Arc<Mutex<Book>>,
    pub server: Arc<TestServer>,
}

fn not_found() -> Response {
    Response::json(404, r#"{"code":40410000,"message":"order not found"}"#)
}

fn order_template() -> Value {
    let text = fixture("order_response_bracket.json");
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["legs"] = Value::Null;
    v
}

impl Book {
    fn new_order(&mut self, fields: Value) -> String {
        self.next += 1;
        let id = format!("ord-{}", self.next);
        let mut order = order_template();
        for (k, v) in fields.as_object().unwrap() {
            order[k] = v.clone();
        }
        order["id"] = json!(id);
        order["filled_qty"] = json!("0");
        order["filled_avg_price"] = Value::Null;
        order["filled_at"] = Value::Null;
        self.orders.insert(id.clone(), order);
        id
    }

    /// The order as Alpaca shows it: legs rolled up only when `nested`.
    fn view(&self, id: &str, nested: bool) -> Value {
        let mut order = self.orders[id].clone();
        if nested {
            let legs: Vec<Value> = self
                .parent
                .iter()
                .filter(|(_, p)| p.as_str() == id)
                .map(|(leg, _)| self.orders[leg].clone())
                .collect();
            if !legs.is_empty() {
                order["legs"] = Value::from(legs);
            }
        }
        order
    }

    fn by_client(&self, client_id: &str) -> Option<String> {
        self.orders
            .iter()
            .find(|(_, o)| o["client_order_id"] == client_id)
            .map(|(id, _)| id.clone())
    }

    fn post(&mut self, body: &str) -> Response {
        if let Some((status, body)) = self.refuse_next.take() {
            return Response::json(status, body);
        }
        let req: Value = serde_json::from_str(body).unwrap();
        let client_id = req["client_order_id"].as_str().unwrap().to_string();
        if self.by_client(&client_id).is_some() {
            return Response::json(
                422,
                r#"{"code":40010001,"message":"client_order_id must be unique"}"#,
            );
        }
        let class = req["order_class"].as_str().unwrap_or("").to_string();
        let id = self.new_order(json!({
            "client_order_id": client_id,
            "symbol": req["symbol"],
            "side": req["side"],
            "qty": req["qty"],
            "type": req["type"],
            "order_type": req["type"],
            "limit_price": req.get("limit_price").cloned().unwrap_or(Value::Null),
            "stop_price": req.get("stop_price").cloned().unwrap_or(Value::Null),
            "order_class": class,
            "time_in_force": req["time_in_force"],
            "status": "accepted",
        }));
        let mut legs = Vec::new();
        if let Some(stop) = req.get("stop_loss") {
            legs.push((
                "stop",
                json!({"type": "stop", "stop_price": stop["stop_price"], "limit_price": null}),
            ));
        }
        if let Some(tp) = req.get("take_profit") {
            legs.push((
                "limit",
                json!({"type": "limit", "limit_price": tp["limit_price"], "stop_price": null}),
            ));
        }
        for (kind, prices) in legs {
            let mut fields = json!({
                "client_order_id": format!("leg-{}-{kind}", self.next),
                "symbol": req["symbol"], "side": "sell", "qty": req["qty"], "order_type": kind,
                "order_class": class, "time_in_force": req["time_in_force"], "status": "held",
            });
            for (k, v) in prices.as_object().unwrap() {
                fields[k] = v.clone();
            }
            let leg = self.new_order(fields);
            self.parent.insert(leg, id.clone());
        }
        Response::json(200, self.view(&id, true).to_string())
    }

    fn fill(&mut self, id: &str, price: &str) {
        let order = self.orders.get_mut(id).unwrap();
        let qty: i64 = order["qty"].as_str().unwrap().parse().unwrap();
        order["status"] = json!("filled");
        order["filled_qty"] = order["qty"].clone();
        order["filled_avg_price"] = json!(price);
        order["filled_at"] = json!("2018-02-08T15:30:00.123456Z");
        let symbol = order["symbol"].as_str().unwrap().to_string();
        let side = order["side"].as_str().unwrap().to_string();
        let p: f64 = price.parse().unwrap();
        let held = self.positions.entry(symbol.clone()).or_insert((0, p));
        if side == "buy" {
            held.0 += qty;
            self.cash -= qty as f64 * p;
        } else {
            held.0 -= qty;
            self.cash += qty as f64 * p;
        }
        if held.0 == 0 {
            self.positions.remove(&symbol);
        }
    }

    /// Cancels an order; cancelling one exit of a bracket cancels the others (Alpaca's rule
    /// for order groups). A filled order stays filled.
    fn cancel(&mut self, id: &str) {
        let group = match self.parent.get(id) {
            Some(parent) => self.legs_of(parent),
            None => vec![id.to_string()],
        };
        for order in group {
            if self.orders[&order]["status"] != "filled" {
                self.set_status(&order, "canceled");
            }
        }
    }

    /// The legs of the order `parent` (by id).
    fn legs_of(&self, parent: &str) -> Vec<String> {
        self.parent
            .iter()
            .filter(|(_, p)| p.as_str() == parent)
            .map(|(l, _)| l.clone())
            .collect()
    }

    /// The leg of type `kind` (`stop` or `limit`) of the entry `client_id`.
    fn leg(&self, client_id: &str, kind: &str) -> String {
        let parent = self.by_client(client_id).expect("no such order");
        self.legs_of(&parent)
            .into_iter()
            .find(|l| self.orders[l]["type"] == kind)
            .expect("no such leg")
    }

    fn set_status(&mut self, id: &str, status: &str) {
        self.orders.get_mut(id).unwrap()["status"] = json!(status);
    }
}

impl FakeAlpaca {
    pub fn start(cash: f64) -> Self {
        let book = Arc::new(Mutex::new(Book {
            cash,
            ..Book::default()
        }));
        let shared = book.clone();
        let server = TestServer::start(move |r| answer(&mut shared.lock().unwrap(), r));
        Self {
            book,
            server: Arc::new(server),
        }
    }

    pub fn base_url(&self) -> String {
        self.server.base_url.clone()
    }

    /// The requests with this method whose target starts with `prefix`.
    pub fn requests(&self, method: &str, prefix: &str) -> Vec<Request> {
        self.server
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == method && r.target.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The market fills an order (by client order id); a bracket's legs wake up.
    pub fn fill(&self, client_id: &str, price: &str) {
        let mut book = self.book.lock().unwrap();
        let id = book.by_client(client_id).expect("no such order");
        book.fill(&id, price);
        let legs = book.legs_of(&id);
        for leg in legs {
            let status = if book.orders[&leg]["type"] == "stop" {
                "held"
            } else {
                "new"
            };
            book.set_status(&leg, status);
        }
    }

    /// The market reaches a bracket leg (`stop` or `limit`) of the entry `client_id`: it fills
    /// and its sibling is cancelled.
    pub fn fill_leg(&self, client_id: &str, kind: &str, price: &str) {
        let mut book = self.book.lock().unwrap();
        let parent = book.by_client(client_id).expect("no such order");
        let legs = book.legs_of(&parent);
        for leg in legs {
            if book.orders[&leg]["type"] == kind {
                book.fill(&leg, price);
            } else {
                book.set_status(&leg, "canceled");
            }
        }
    }

    /// Part of a bracket leg fills: the leg stays open, the position shrinks.
    pub fn fill_leg_partly(&self, client_id: &str, kind: &str, qty: i64, price: &str) {
        let mut book = self.book.lock().unwrap();
        let leg = book.leg(client_id, kind);
        let order = book.orders.get_mut(&leg).unwrap();
        order["status"] = json!("partially_filled");
        order["filled_qty"] = json!(qty.to_string());
        order["filled_avg_price"] = json!(price);
        let symbol = order["symbol"].as_str().unwrap().to_string();
        let p: f64 = price.parse().unwrap();
        book.positions.get_mut(&symbol).unwrap().0 -= qty;
        book.cash += qty as f64 * p;
    }

    /// A bracket leg cancelled by hand on the broker's site (which cancels its group).
    pub fn cancel_leg(&self, client_id: &str, kind: &str) {
        let mut book = self.book.lock().unwrap();
        let leg = book.leg(client_id, kind);
        book.cancel(&leg);
    }

    /// The order `client_id` takes `status` (any text: Alpaca may add statuses).
    pub fn set_status(&self, client_id: &str, status: &str) {
        let mut book = self.book.lock().unwrap();
        let id = book.by_client(client_id).expect("no such order");
        book.set_status(&id, status);
    }

    /// A bracket leg (`stop` or `limit`) of the entry `client_id` takes Alpaca's `status`.
    pub fn set_leg_status(&self, client_id: &str, kind: &str, status: &str) {
        let mut book = self.book.lock().unwrap();
        let leg = book.leg(client_id, kind);
        book.set_status(&leg, status);
    }

    /// A position opened outside kobe (by hand on the broker's site).
    pub fn add_position(&self, symbol: &str, qty: i64, price: f64) {
        self.book
            .lock()
            .unwrap()
            .positions
            .insert(symbol.into(), (qty, price));
    }

    pub fn refuse_next(&self, status: u16, body: &str) {
        self.book.lock().unwrap().refuse_next = Some((status, body.into()));
    }

    /// Sets a field of the account as Alpaca reports it (`trading_blocked`, `status`).
    pub fn set_account(&self, field: &str, value: Value) {
        self.book
            .lock()
            .unwrap()
            .account
            .insert(field.into(), value);
    }

    pub fn cash(&self) -> f64 {
        self.book.lock().unwrap().cash
    }
}

fn answer(book: &mut Book, r: &Request) -> Response {
    let (path, query) = r.target.split_once('?').unwrap_or((r.target.as_str(), ""));
    match (r.method.as_str(), path) {
        ("POST", "/v2/orders") => book.post(&r.body),
        ("GET", "/v2/orders:by_client_order_id") => {
            let client_id = query.trim_start_matches("client_order_id=");
            match book.by_client(client_id) {
                // Without nesting, as the list endpoint shows a bracket's parent.
                Some(id) => Response::json(200, book.view(&id, false).to_string()),
                None => not_found(),
            }
        }
        ("GET", "/v2/orders") => {
            let open: Vec<Value> = book
                .orders
                .keys()
                .filter(|id| !book.parent.contains_key(*id))
                .map(|id| book.view(id, true))
                .filter(|o| {
                    let done = |s: &Value| {
                        matches!(
                            s.as_str(),
                            Some("filled" | "canceled" | "expired" | "rejected")
                        )
                    };
                    !done(&o["status"])
                        || o["legs"]
                            .as_array()
                            .is_some_and(|l| l.iter().any(|l| !done(&l["status"])))
                })
                .collect();
            Response::json(200, Value::from(open).to_string())
        }
        ("GET", p) if p.starts_with("/v2/orders/") => {
            let id = &p["/v2/orders/".len()..];
            if book.orders.contains_key(id) {
                Response::json(
                    200,
                    book.view(id, query.contains("nested=true")).to_string(),
                )
            } else {
                not_found()
            }
        }
        ("DELETE", p) if p.starts_with("/v2/orders/") => {
            let id = p["/v2/orders/".len()..].to_string();
            if !book.orders.contains_key(&id) {
                return not_found();
            }
            book.cancel(&id);
            Response::json(204, "")
        }
        ("GET", "/v2/positions") => {
            let list: Vec<Value> = book
                .positions
                .iter()
                .map(|(symbol, (qty, price))| {
                    json!({"asset_id": "x", "symbol": symbol, "exchange": "NASDAQ", "asset_class": "us_equity",
                        "qty": qty.to_string(), "avg_entry_price": format!("{price}"), "side": "long",
                        "market_value": format!("{:.2}", *qty as f64 * price)})
                })
                .collect();
            Response::json(200, Value::from(list).to_string())
        }
        ("GET", "/v2/account") => {
            let text = fixture("account.json");
            let mut v: Value = serde_json::from_str(&text).unwrap();
            let held: f64 = book.positions.values().map(|(q, p)| *q as f64 * p).sum();
            v["cash"] = json!(format!("{:.2}", book.cash));
            v["equity"] = json!(format!("{:.2}", book.cash + held));
            for (k, value) in &book.account {
                v[k] = value.clone();
            }
            Response::json(200, v.to_string())
        }
        _ => Response::json(404, r#"{"code":40410000,"message":"endpoint not found"}"#),
    }
}
