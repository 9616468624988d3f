//! The Alpaca client against a local server answering with Alpaca's documented shapes
//! (../shared/data/api/alpaca): accepted orders, typed refusals, 5xx, a timeout after the
//! order was accepted (no duplicate), positions and reconciliation.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fake_alpaca::fixture;
use common::http_server::{Response, TestServer};
use kobe::broker::alpaca::{reconcile, AlpacaClient, AlpacaError};
use kobe::broker::{OrderRequest, Side};
use rust_decimal::Decimal;
use serde_json::Value;

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn client(server: &TestServer) -> AlpacaClient {
    AlpacaClient::new(
        "AKTESTID",
        "sekret-value",
        &server.base_url,
        Duration::from_millis(700),
    )
    .unwrap()
}

fn bracket() -> OrderRequest {
    OrderRequest {
        client_order_id: "2024-11-26-IBS_RSI-AAPL-buy".into(),
        symbol: "AAPL".into(),
        side: Side::Buy,
        qty: 10,
        limit: None,
        stop: Some(dec("230.10")),
        target: Some(dec("245.00")),
        trigger: None,
    }
}

/// The documented order response, for our client order id.
fn accepted(id: &str) -> String {
    let mut v: Value = serde_json::from_str(&fixture("order_response_bracket.json")).unwrap();
    v["client_order_id"] = Value::from(id);
    v.to_string()
}

#[test]
fn an_accepted_bracket_order() {
    let id = bracket().client_order_id;
    let body = accepted(&id);
    let server = TestServer::start(move |_| Response::json(200, body.clone()));
    let order = client(&server).submit_order(&bracket()).unwrap();
    assert_eq!(
        (
            order.client_order_id.as_str(),
            order.symbol.as_str(),
            order.qty,
            order.status.as_str()
        ),
        (id.as_str(), "AAPL", 10, "new")
    );
    let request = server.requests.lock().unwrap()[0].clone();
    assert_eq!(
        (request.method.as_str(), request.target.as_str()),
        ("POST", "/v2/orders")
    );
    assert_eq!(request.header("APCA-API-KEY-ID"), Some("AKTESTID"));
    let sent: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(sent["order_class"], "bracket");
    assert_eq!(sent["stop_loss"]["stop_price"], "230.10");
    assert_eq!(sent["take_profit"]["limit_price"], "245.00");
    assert_eq!(sent["qty"], "10");
    assert_eq!(sent["client_order_id"], id.as_str());
}

#[test]
fn refusals_become_typed_errors_and_are_not_retried() {
    type Expect = fn(&AlpacaError) -> bool;
    let cases: Vec<(u16, &str, Expect)> = vec![
        (
            403,
            "error_403_insufficient_buying_power.json",
            |e| matches!(e, AlpacaError::InsufficientBuyingPower { buying_power, .. } if buying_power == "176531.28"),
        ),
        (403, "error_403_pdt_protection.json", |e| {
            matches!(e, AlpacaError::PdtProtection { .. })
        }),
        (422, "error_422_wash_trade.json", |e| {
            matches!(e, AlpacaError::WashTrade { .. })
        }),
        (422, "error_422_invalid_param.json", |e| {
            matches!(e, AlpacaError::InvalidParameter { .. })
        }),
        (401, "error_401_unauthorized.json", |e| {
            matches!(e, AlpacaError::Unauthorized { .. })
        }),
        (403, "error_403_forbidden.json", |e| {
            matches!(e, AlpacaError::Unauthorized { .. })
        }),
    ];
    for (status, file, expected) in cases {
        let body = fixture(file);
        let server = TestServer::start(move |_| Response::json(status, body.clone()));
        let err = client(&server).submit_order(&bracket()).unwrap_err();
        assert!(expected(&err), "{file}: {err:?}");
        assert_eq!(
            server.requests.lock().unwrap().len(),
            1,
            "{file}: a refusal is final"
        );
        let text = err.to_string();
        assert!(
            !text.contains("sekret-value") && !text.contains('\n'),
            "{text}"
        );
    }
}

#[test]
fn a_5xx_is_looked_up_before_each_retry_then_given_up() {
    let server = TestServer::start(|r| match r.method.as_str() {
        "POST" => Response::json(
            500,
            "{\"code\":50010000,\"message\":\"internal server error\"}",
        ),
        _ => Response::json(404, "{\"code\":40410000,\"message\":\"order not found\"}"),
    });
    let err = client(&server).submit_order(&bracket()).unwrap_err();
    assert!(matches!(err, AlpacaError::Network(_)), "{err:?}");
    let methods: Vec<String> = server
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(methods, ["POST", "GET", "POST", "GET", "POST", "GET"]);
}

#[test]
fn a_timeout_after_the_order_was_accepted_sends_no_duplicate() {
    let posts = Arc::new(AtomicUsize::new(0));
    let book: Arc<Mutex<Option<String>>> = Arc::default();
    let (seen, stored) = (posts.clone(), book.clone());
    let server = TestServer::start(move |r| match r.method.as_str() {
        "POST" => {
            seen.fetch_add(1, Ordering::SeqCst);
            let id = serde_json::from_str::<Value>(&r.body).unwrap()["client_order_id"]
                .as_str()
                .unwrap()
                .to_string();
            // The broker takes the order, but the answer comes too late for the client.
            *stored.lock().unwrap() = Some(accepted(&id));
            Response {
                delay: Duration::from_millis(1500),
                ..Response::json(200, accepted(&id))
            }
        }
        _ => match stored.lock().unwrap().clone() {
            Some(order)
                if r.target
                    .contains("client_order_id=2024-11-26-IBS_RSI-AAPL-buy") =>
            {
                Response::json(200, order)
            }
            _ => Response::json(404, "{\"code\":40410000,\"message\":\"order not found\"}"),
        },
    });
    let order = client(&server).submit_order(&bracket()).unwrap();
    assert_eq!(order.client_order_id, "2024-11-26-IBS_RSI-AAPL-buy");
    assert_eq!(
        posts.load(Ordering::SeqCst),
        1,
        "the order was POSTed twice"
    );
}

#[test]
fn a_refused_retry_after_a_lost_answer_looks_the_order_up_again() {
    // The first POST is taken but its answer is lost; the broker's look-up lags behind, so the
    // client retries, and the broker refuses the now duplicate client order id.
    let lookups = Arc::new(AtomicUsize::new(0));
    let book: Arc<Mutex<Option<String>>> = Arc::default();
    let (looked, stored) = (lookups.clone(), book.clone());
    let server = TestServer::start(move |r| match r.method.as_str() {
        "POST" if stored.lock().unwrap().is_none() => {
            let id = serde_json::from_str::<Value>(&r.body).unwrap()["client_order_id"]
                .as_str()
                .unwrap()
                .to_string();
            *stored.lock().unwrap() = Some(accepted(&id));
            Response {
                delay: Duration::from_millis(1500),
                ..Response::json(200, accepted(&id))
            }
        }
        "POST" => Response::json(
            422,
            r#"{"code":40010001,"message":"client_order_id must be unique"}"#,
        ),
        _ if looked.fetch_add(1, Ordering::SeqCst) == 0 => {
            Response::json(404, r#"{"code":40410000,"message":"order not found"}"#)
        }
        _ => Response::json(200, stored.lock().unwrap().clone().unwrap()),
    });
    let order = client(&server).submit_order(&bracket()).unwrap();
    assert_eq!(order.client_order_id, "2024-11-26-IBS_RSI-AAPL-buy");
    let posts = server
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 2);
}

#[test]
fn positions_parse_and_reconcile_against_the_ledger() {
    let body = fixture("positions.json");
    let server = TestServer::start(move |_| Response::json(200, body.clone()));
    let positions = client(&server).open_positions().unwrap();
    let held: Vec<(String, i64)> = positions
        .iter()
        .map(|p| (p.symbol.clone(), i64::try_from(p.qty).unwrap()))
        .collect();
    assert!(held.contains(&("AAPL".to_string(), 10)));
    assert_eq!(positions[0].entry_price, dec("235.25"));
    assert!(reconcile(&held, &positions).is_empty());
    let diff = reconcile(&[("AAPL".to_string(), 12)], &positions);
    assert!(
        diff.iter().any(|d| d == "AAPL: ledger 12, broker 10"),
        "{diff:?}"
    );
    // A fractional quantity (bought by hand) is a difference, never a cycle that fails.
    let body = fixture("positions.json").replacen("\"qty\": \"10\"", "\"qty\": \"10.5\"", 1);
    assert!(body.contains("10.5"));
    let server = TestServer::start(move |_| Response::json(200, body.clone()));
    let positions = client(&server).open_positions().unwrap();
    assert_eq!(
        reconcile(&held, &positions),
        ["AAPL: ledger 10, broker 10.5"]
    );
}

#[test]
fn decimals_sent_as_json_numbers_are_read_like_strings() {
    // Alpaca's official SDK's test bodies carry numbers where the spec has strings.
    let server = TestServer::start(|r| {
        let body = if r.target.contains("by_client_order_id") {
            r#"{"id":"o-1","client_order_id":"2024-11-26-IBS_RSI-AAPL-buy","symbol":"AAPL","side":"buy","type":"market","qty":1,"filled_qty":1,"status":"filled","filled_avg_price":0,"filled_at":"2024-11-26T15:00:00Z"}"#
        } else if r.target.contains("/v2/positions") {
            r#"[{"symbol":"AAPL","qty":76,"avg_entry_price":159.54}]"#
        } else {
            r#"{"status":"ACTIVE","cash":-23140.2,"equity":100000,"last_equity":"99000.5","buying_power":262113.632}"#
        };
        Response::json(200, body)
    });
    let alpaca = client(&server);
    let order = alpaca
        .order_by_client_id("2024-11-26-IBS_RSI-AAPL-buy")
        .unwrap()
        .unwrap();
    assert_eq!((order.qty, order.filled_qty), (1, 1));
    assert_eq!(order.fill_price, Some(Decimal::ZERO));
    let positions = alpaca.open_positions().unwrap();
    assert_eq!(
        (positions[0].qty, positions[0].entry_price),
        (dec("76"), dec("159.54"))
    );
    let account = alpaca.account_balances().unwrap();
    assert_eq!(
        (account.cash, account.equity),
        (dec("-23140.2"), dec("100000"))
    );
}

#[test]
fn a_wrong_base_url_is_a_configuration_error_never_an_empty_account() {
    // A base URL ending in /v2 makes every call /v2/v2/...: refused before any call.
    let err = AlpacaClient::new(
        "AKTESTID",
        "sekret-value",
        "https://paper-api.alpaca.markets/v2",
        Duration::from_millis(700),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("/v2") && err.contains("APCA_API_BASE_URL"),
        "{err}"
    );
    // Any other wrong path: Alpaca's 404 "endpoint not found" is named, with its code, for the
    // account, the positions, the open orders and an order look-up alike.
    let server = TestServer::start(|_| {
        Response::json(404, r#"{"code":40410000,"message":"endpoint not found"}"#)
    });
    let alpaca = client(&server);
    let errors = [
        alpaca.account_balances().err().map(|e| e.to_string()),
        alpaca.open_positions().err().map(|e| e.to_string()),
        alpaca.list_open_orders().err().map(|e| e.to_string()),
        alpaca.order_by_client_id("x").err().map(|e| e.to_string()),
    ];
    for err in errors {
        let err = err.expect("a 404 is an error, not \"nothing there\"");
        assert!(
            err.contains("endpoint not found")
                && err.contains("40410000")
                && err.contains("APCA_API_BASE_URL"),
            "{err}"
        );
    }
    // An order Alpaca does not know is still "none".
    let server = TestServer::start(|_| {
        Response::json(
            404,
            r#"{"code":40410000,"message":"order not found for x"}"#,
        )
    });
    assert!(client(&server).order_by_client_id("x").unwrap().is_none());
}
