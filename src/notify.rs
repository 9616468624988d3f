//! Notifications to a webhook (`[notify] webhook_url`; Slack- and Discord-compatible JSON):
//! kill-switch changes, jobs past their restart limit, entries and exits, the EOD summary.
//!
//! Sending never blocks a job: messages go through a bounded queue to one background thread
//! that posts them, retrying a bounded number of times; a full queue or a dead webhook costs a
//! log line, nothing more.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// Empty: notifications off.
    pub webhook_url: String,
    /// Attempts per message before it is given up (logged).
    pub attempts: u32,
    pub timeout_secs: u64,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            webhook_url: String::new(),
            attempts: 3,
            timeout_secs: 5,
        }
    }
}

/// Messages waiting beyond this are dropped (and logged) rather than queued without bound.
const QUEUE: usize = 256;

/// A handle on this run's notification channel: cheap to clone, shared by the jobs and the
/// runtime's event hook. `off()` sends nothing.
#[derive(Clone, Default)]
pub struct Notifier {
    inner: Option<Arc<Channel>>,
}

struct Channel {
    tx: SyncSender<String>,
    /// Messages queued and not yet dealt with (delivered or given up).
    pending: AtomicUsize,
}

impl Notifier {
    /// Sends nothing (no webhook configured, tests, operator commands).
    pub fn off() -> Self {
        Self::default()
    }

    /// Starts a sender thread posting to the configured webhook; off if none is configured.
    pub fn start(settings: &NotifySettings) -> Self {
        if settings.webhook_url.trim().is_empty() {
            return Self::off();
        }
        let (tx, rx) = sync_channel::<String>(QUEUE);
        let channel = Arc::new(Channel {
            tx,
            pending: AtomicUsize::new(0),
        });
        let settings = settings.clone();
        let shared = channel.clone();
        let spawned = std::thread::Builder::new()
            .name("notify".into())
            .spawn(move || deliver_all(&settings, rx, &shared.pending));
        match spawned {
            Ok(_) => Self {
                inner: Some(channel),
            },
            Err(e) => {
                tracing::error!(error = %e, "notifications off: no sender thread");
                Self::off()
            }
        }
    }

    /// Queues a message; returns at once whatever the webhook does.
    pub fn send(&self, text: impl Into<String>) {
        let Some(channel) = &self.inner else { return };
        channel.pending.fetch_add(1, Ordering::SeqCst);
        match channel.tx.try_send(text.into()) {
            Ok(()) => {}
            Err(TrySendError::Full(text)) => {
                channel.pending.fetch_sub(1, Ordering::SeqCst);
                tracing::warn!(message = %text, "notification queue full: dropped");
            }
            Err(TrySendError::Disconnected(_)) => {
                channel.pending.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// At exit: gives queued messages up to `limit` to go out, then leaves them.
    pub fn flush(&self, limit: Duration) {
        let Some(channel) = &self.inner else { return };
        let started = std::time::Instant::now();
        while channel.pending.load(Ordering::SeqCst) > 0 && started.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The sender thread: posts each message, retrying a bounded number of times.
fn deliver_all(settings: &NotifySettings, rx: Receiver<String>, pending: &AtomicUsize) {
    let Ok(http) = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(settings.timeout_secs.max(1)))
        .build()
    else {
        tracing::error!("notifications off: no HTTP client");
        return;
    };
    for text in rx {
        let body = serde_json::json!({ "text": text, "content": text });
        let mut delivered = false;
        for attempt in 1..=settings.attempts.max(1) {
            match http.post(&settings.webhook_url).json(&body).send() {
                Ok(r) if r.status().is_success() => {
                    delivered = true;
                    break;
                }
                Ok(r) => tracing::warn!(
                    attempt,
                    status = r.status().as_u16(),
                    "webhook refused a notification"
                ),
                Err(e) => {
                    tracing::warn!(attempt, error = %e.without_url(), "webhook unreachable")
                }
            }
            std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
        }
        if !delivered {
            tracing::error!(message = %text, "notification not delivered");
        }
        pending.fetch_sub(1, Ordering::SeqCst);
    }
}
