//! The application's own counters on `/metrics`, beside the runtime's: orders by how the broker
//! answered. Every series exists from the first scrape, at 0 (a counter that appears only at its
//! first increment breaks alerts and `rate()`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kobe_actors::health::MetricsFragment;

/// How the broker answered an order kobe sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderResult {
    /// Taken (accepted, or already known from a run that died after sending it).
    Accepted,
    /// Refused: recorded `rejected`, never sent again.
    Refused,
    /// A close for a position the broker no longer held (a leg filled first).
    NothingToClose,
}

impl OrderResult {
    const ALL: [OrderResult; 3] = [
        OrderResult::Accepted,
        OrderResult::Refused,
        OrderResult::NothingToClose,
    ];

    fn as_str(self) -> &'static str {
        match self {
            OrderResult::Accepted => "accepted",
            OrderResult::Refused => "refused",
            OrderResult::NothingToClose => "nothing_to_close",
        }
    }
}

/// Orders by result since the runner started; cheap to clone, shared by the jobs and `/metrics`.
#[derive(Clone, Default)]
pub struct OrderCounts {
    counts: Arc<[AtomicU64; 3]>,
}

impl OrderCounts {
    pub fn count(&self, result: OrderResult) {
        let i = OrderResult::ALL
            .iter()
            .position(|r| *r == result)
            .expect("listed");
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The counter family in OpenMetrics text, for `/metrics`.
    pub fn text(&self) -> String {
        let mut out = String::from(
            "# HELP kobe_orders Orders sent to the broker, by its answer.\n# TYPE kobe_orders counter\n",
        );
        for (i, result) in OrderResult::ALL.iter().enumerate() {
            let n = self.counts[i].load(Ordering::Relaxed);
            out.push_str(&format!(
                "kobe_orders_total{{result=\"{}\"}} {n}\n",
                result.as_str()
            ));
        }
        out
    }

    /// What the health server appends to `/metrics`.
    pub fn fragment(&self) -> MetricsFragment {
        let counts = self.clone();
        Arc::new(move || counts.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_is_there_from_the_start_and_counts() {
        let counts = OrderCounts::default();
        let text = counts.text();
        for result in ["accepted", "refused", "nothing_to_close"] {
            assert!(
                text.contains(&format!("kobe_orders_total{{result=\"{result}\"}} 0")),
                "{text}"
            );
        }
        counts.count(OrderResult::Refused);
        counts.count(OrderResult::Refused);
        assert!(counts
            .text()
            .contains("kobe_orders_total{result=\"refused\"} 2"));
    }
}
