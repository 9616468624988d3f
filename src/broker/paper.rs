//! The embedded paper broker: orders, fills and positions in the trading ledger. An order fills
//! at the price its decision recorded (the market model of DESIGN §7 decides that price in a
//! replay: the session's open for entries, the stop, target or close for exits; live, the latest
//! price), so a replay is exact and a restarted run fills a pending order exactly as the dead one
//! would have. A limit order the price does not reach expires unfilled (a day order).

use rust_decimal::Decimal;

use super::{
    cents, from_ledger, Account, Broker, BrokerError, Fills, Order, OrderRequest, OrderStatus,
    Position, Side,
};
use crate::trading::TradingLedger;

pub struct PaperBroker<'a> {
    ledger: &'a TradingLedger,
    /// When orders and fills happen, on the runtime's clock (simulated in a replay).
    at: String,
}

fn storage(e: crate::trading::LedgerError) -> BrokerError {
    BrokerError::Ledger(e)
}

impl<'a> PaperBroker<'a> {
    pub fn new(ledger: &'a TradingLedger, at: String) -> Self {
        Self { ledger, at }
    }

    /// Fills one order at its decision's price, unless it is a limit order that price does
    /// not reach: then it expires.
    fn fill(&self, id: &str) -> Result<(), BrokerError> {
        let terms = self.ledger.fill_terms(id).map_err(storage)?;
        let reached = match (terms.limit, terms.side) {
            (Some(limit), Side::Buy) => terms.price <= limit,
            (Some(limit), Side::Sell) => terms.price >= limit,
            (None, _) => true,
        };
        if reached {
            self.ledger
                .apply_fill(id, terms.qty, terms.price, &self.at, None)
                .map_err(storage)?;
        } else {
            self.ledger
                .set_order_status(id, OrderStatus::Expired)
                .map_err(storage)?;
        }
        Ok(())
    }

    fn order(&self, id: &str) -> Result<Option<Order>, BrokerError> {
        self.ledger.paper_order(id).map_err(storage)
    }
}

impl Broker for PaperBroker<'_> {
    /// The paper account's book is the ledger itself.
    fn keeps_own_book(&self) -> bool {
        false
    }

    /// Every order fills at once at its decision's price (the market model's).
    fn fills(&self) -> Fills {
        Fills::AtDecisionPrice
    }

    /// Fills (or expires) every order a crashed run left unfilled.
    fn settle(&self) -> Result<(), BrokerError> {
        for id in self.ledger.new_order_ids().map_err(storage)? {
            self.fill(&id)?;
        }
        Ok(())
    }

    fn account(&self) -> Result<Account, BrokerError> {
        let cash = self.ledger.cash().map_err(storage)?;
        let held: f64 = self
            .ledger
            .positions()
            .map_err(storage)?
            .iter()
            .map(|p| p.qty as f64 * p.entry_price)
            .sum();
        Ok(Account {
            cash: cents(cash),
            equity: cents(cash + held),
            blocked: None,
            last_equity: None,
            buying_power: None,
        })
    }

    fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        // The paper account's positions are the ledger's (it is the broker).
        let positions = self.ledger.positions().map_err(storage)?;
        Ok(positions
            .into_iter()
            .map(|p| Position {
                symbol: p.symbol,
                qty: Decimal::from(p.qty),
                entry_price: from_ledger(p.entry_price),
            })
            .collect())
    }

    fn open_orders(&self) -> Result<Vec<Order>, BrokerError> {
        let mut orders = Vec::new();
        for id in self.ledger.new_order_ids().map_err(storage)? {
            orders.extend(self.order(&id)?);
        }
        Ok(orders)
    }

    fn submit(&self, request: &OrderRequest) -> Result<Order, BrokerError> {
        if let Some(existing) = self.order(&request.client_order_id)? {
            return Ok(existing);
        }
        if request.trigger.is_some() {
            return Err(BrokerError::Refused(
                "the paper broker triggers its brackets itself: no resting stop orders".into(),
            ));
        }
        let session: String = self
            .ledger
            .decision_session(&request.client_order_id)
            .map_err(storage)?
            .ok_or_else(|| {
                BrokerError::Refused(format!(
                    "{}: no decision recorded for this order",
                    request.client_order_id
                ))
            })?;
        let accepted = Order {
            client_order_id: request.client_order_id.clone(),
            broker_id: None,
            symbol: request.symbol.clone(),
            side: request.side,
            kind: request.kind(),
            qty: request.qty,
            filled_qty: 0,
            status: OrderStatus::New,
            fill_price: None,
            legs: Vec::new(),
            filled_at: None,
            unrecognized: None,
        };
        self.ledger
            .record_order(&session, request, &accepted, &self.at)
            .map_err(storage)?;
        crate::failpoint::point("after_order");
        self.fill(&request.client_order_id)?;
        self.order(&request.client_order_id)?
            .ok_or_else(|| BrokerError::Refused("order vanished".into()))
    }

    fn cancel(&self, client_order_id: &str) -> Result<(), BrokerError> {
        self.ledger.cancel_new(client_order_id).map_err(storage)
    }

    fn close_position(
        &self,
        symbol: &str,
        qty: i64,
        client_order_id: &str,
        _entry_order: &str,
    ) -> Result<Order, BrokerError> {
        // The paper broker holds no exit orders: its stops and targets trigger in the market
        // model, so closing is a plain market sell.
        self.submit(&OrderRequest::market_sell(client_order_id, symbol, qty))
    }

    fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<Order>, BrokerError> {
        self.order(client_order_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DecisionReason, EntrySource, ExitReason, OrderKind};
    use crate::strategy::signals::Strategy;
    use crate::trading::Decision;
    use chrono::NaiveDate;
    use kobe_actors::atomic_file::Durability;

    fn decide(ledger: &TradingLedger, symbol: &str, limit: Option<f64>) -> OrderRequest {
        let d = Decision {
            client_order_id: format!("2018-02-07-IBS_RSI-{symbol}-buy"),
            session: NaiveDate::from_ymd_opt(2018, 2, 7).unwrap(),
            strategy: Strategy::IbsRsi,
            symbol: symbol.into(),
            side: Side::Buy,
            qty: 10,
            price_ref: 100.0,
            stop: Some(95.0),
            target: None,
            limit,
            trigger: None,
            reason: DecisionReason::Entry(EntrySource::Scan),
        };
        ledger.record_decision(&d, "t").unwrap();
        OrderRequest {
            client_order_id: d.client_order_id,
            symbol: d.symbol,
            side: Side::Buy,
            qty: 10,
            limit: limit.map(cents),
            stop: Some(cents(95.0)),
            target: None,
            trigger: None,
        }
    }

    #[test]
    fn a_limit_order_fills_only_at_its_price_or_better() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = TradingLedger::open(dir.path(), 10_000.0, Durability::ProcessCrash).unwrap();
        let broker = PaperBroker::new(&ledger, "t".into());
        // The price (100) is above a 99.50 limit: the day order expires unfilled.
        let low = broker.submit(&decide(&ledger, "AAA", Some(99.5))).unwrap();
        assert_eq!((low.status, low.filled_qty), (OrderStatus::Expired, 0));
        // At or above the price it fills at the price, as a market order would.
        let high = broker.submit(&decide(&ledger, "BBB", Some(100.2))).unwrap();
        assert_eq!(high.status, OrderStatus::Filled);
        assert_eq!(high.fill_price, Some(Decimal::from(100)));
        assert_eq!(high.kind, OrderKind::Limit);
        let held: Vec<String> = broker
            .positions()
            .unwrap()
            .into_iter()
            .map(|p| p.symbol)
            .collect();
        assert_eq!(held, ["BBB"]);
        assert_eq!(ledger.cash().unwrap(), 9_000.0);
        // Closing sells the whole position and records the trade.
        let d = Decision {
            client_order_id: "2018-02-08-IBS_RSI-BBB-sell".into(),
            session: NaiveDate::from_ymd_opt(2018, 2, 8).unwrap(),
            strategy: Strategy::IbsRsi,
            symbol: "BBB".into(),
            side: Side::Sell,
            qty: 10,
            price_ref: 103.0,
            stop: None,
            target: None,
            limit: None,
            trigger: None,
            reason: DecisionReason::Exit(ExitReason::StrategyExit),
        };
        ledger.record_decision(&d, "t").unwrap();
        let sold = broker
            .close_position("BBB", 10, &d.client_order_id, "2018-02-07-IBS_RSI-BBB-buy")
            .unwrap();
        assert_eq!(sold.status, OrderStatus::Filled);
        assert!(broker.positions().unwrap().is_empty());
        assert_eq!(ledger.cash().unwrap(), 10_030.0);
    }
}
