//! Notifications to a webhook (`[notify] webhook_url`; Slack- and Discord-compatible JSON) and
//! to Telegram (`TELEGRAM_BOT_TOKEN` and `TELEGRAM_CHAT_ID` in `.env`): kill-switch changes,
//! jobs past their restart limit, entries and exits, the EOD summary.
//!
//! Sending never blocks a job: each channel has its own bounded queue and background thread
//! (a dead webhook must not hold Telegram's messages back, nor the other way round), retrying
//! a bounded number of times; a full queue, a dead endpoint or a refusal costs a log line,
//! nothing more. The Telegram token sits in the request path, so no URL is ever logged and
//! every text built from an answer goes through `Secrets::redact`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::secrets::Secrets;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// Empty: notifications off.
    pub webhook_url: String,
    /// Telegram's Bot API; another address only for tests or a relay.
    pub telegram_base_url: String,
    /// Attempts per message before it is given up (logged).
    pub attempts: u32,
    pub timeout_secs: u64,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            webhook_url: String::new(),
            telegram_base_url: "https://api.telegram.org".into(),
            attempts: 3,
            timeout_secs: 5,
        }
    }
}

/// Messages waiting beyond this are dropped (and logged) rather than queued without bound.
const QUEUE: usize = 256;

/// A handle on this run's notification channels: cheap to clone, shared by the jobs and the
/// runtime's event hook. `off()` sends nothing.
#[derive(Clone, Default)]
pub struct Notifier {
    channels: Vec<Arc<Channel>>,
}

struct Channel {
    name: &'static str,
    tx: SyncSender<String>,
    /// Messages queued and not yet dealt with (delivered or given up).
    pending: AtomicUsize,
}

/// Where one channel's messages go.
enum Sink {
    Webhook {
        url: String,
    },
    Telegram {
        /// Holds the token: never logged.
        url: String,
        chat_id: serde_json::Value,
    },
}

impl Sink {
    fn name(&self) -> &'static str {
        match self {
            Sink::Webhook { .. } => "webhook",
            Sink::Telegram { .. } => "telegram",
        }
    }
}

/// Why one attempt at a message failed; the text is already free of secrets.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("answered {code}: {description}")]
    Answered { code: u16, description: String },
}

impl DeliveryError {
    /// A timeout, a rate limit or a server fault may pass; a bad token or chat id will not.
    fn retryable(&self) -> bool {
        match self {
            DeliveryError::Unreachable(_) => true,
            DeliveryError::Answered { code, .. } => matches!(code, 408 | 429) || *code >= 500,
        }
    }
}

/// Telegram's answer to every method: `ok`, and on failure `error_code` and `description`.
#[derive(Deserialize)]
struct TelegramAnswer {
    ok: bool,
    error_code: Option<u16>,
    description: Option<String>,
}

impl Notifier {
    /// Sends nothing (no channel configured, tests, operator commands).
    pub fn off() -> Self {
        Self::default()
    }

    /// Starts one sender thread per configured channel: the webhook when `webhook_url` is set,
    /// Telegram when both Telegram keys are in the secrets. Off when neither is.
    pub fn start(settings: &NotifySettings, secrets: &Secrets) -> Self {
        let mut sinks = Vec::new();
        if !settings.webhook_url.trim().is_empty() {
            sinks.push(Sink::Webhook {
                url: settings.webhook_url.clone(),
            });
        }
        if let Some(sink) = telegram_sink(settings, secrets) {
            sinks.push(sink);
        }
        let channels = sinks
            .into_iter()
            .filter_map(|sink| start_channel(settings, secrets, sink))
            .collect();
        Self { channels }
    }

    /// Queues a message on every channel; returns at once whatever the endpoints do.
    pub fn send(&self, text: impl Into<String>) {
        let text = text.into();
        for channel in &self.channels {
            channel.pending.fetch_add(1, Ordering::SeqCst);
            match channel.tx.try_send(text.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(text)) => {
                    channel.pending.fetch_sub(1, Ordering::SeqCst);
                    tracing::warn!(channel = channel.name, message = %text, "notification queue full: dropped");
                }
                Err(TrySendError::Disconnected(_)) => {
                    channel.pending.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
    }

    /// At exit: gives queued messages up to `limit` to go out, then leaves them.
    pub fn flush(&self, limit: Duration) {
        let started = std::time::Instant::now();
        let busy = || {
            self.channels
                .iter()
                .any(|c| c.pending.load(Ordering::SeqCst) > 0)
        };
        while busy() && started.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Telegram needs both keys; one without the other is a setup slip worth a line.
fn telegram_sink(settings: &NotifySettings, secrets: &Secrets) -> Option<Sink> {
    let token = secrets.get("TELEGRAM_BOT_TOKEN");
    let chat = secrets.get("TELEGRAM_CHAT_ID");
    let (token, chat) = match (token, chat) {
        (Some(t), Some(c)) => (t.trim(), c.trim()),
        (None, None) => return None,
        (Some(_), None) => {
            tracing::warn!("Telegram off: TELEGRAM_BOT_TOKEN is set but TELEGRAM_CHAT_ID is not");
            return None;
        }
        (None, Some(_)) => {
            tracing::warn!("Telegram off: TELEGRAM_CHAT_ID is set but TELEGRAM_BOT_TOKEN is not");
            return None;
        }
    };
    // A numeric id goes as a number, a channel's @name as a string: both are what the API takes.
    let chat_id = chat
        .parse::<i64>()
        .map_or_else(|_| serde_json::Value::from(chat), serde_json::Value::from);
    let base = settings.telegram_base_url.trim_end_matches('/');
    Some(Sink::Telegram {
        url: format!("{base}/bot{token}/sendMessage"),
        chat_id,
    })
}

fn start_channel(settings: &NotifySettings, secrets: &Secrets, sink: Sink) -> Option<Arc<Channel>> {
    let (tx, rx) = sync_channel::<String>(QUEUE);
    let name = sink.name();
    let channel = Arc::new(Channel {
        name,
        tx,
        pending: AtomicUsize::new(0),
    });
    let (settings, secrets, shared) = (settings.clone(), secrets.clone(), channel.clone());
    let spawned = std::thread::Builder::new()
        .name(format!("notify-{name}"))
        .spawn(move || deliver_all(&settings, &secrets, &sink, rx, &shared.pending));
    match spawned {
        Ok(_) => Some(channel),
        Err(e) => {
            tracing::error!(channel = name, error = %e, "notifications off: no sender thread");
            None
        }
    }
}

/// The sender thread: posts each message, retrying what may pass a bounded number of times.
fn deliver_all(
    settings: &NotifySettings,
    secrets: &Secrets,
    sink: &Sink,
    rx: Receiver<String>,
    pending: &AtomicUsize,
) {
    let channel = sink.name();
    let Ok(http) = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(settings.timeout_secs.max(1)))
        .build()
    else {
        tracing::error!(channel, "notifications off: no HTTP client");
        return;
    };
    let attempts = settings.attempts.max(1);
    for text in rx {
        for attempt in 1..=attempts {
            let error = match post(&http, sink, &text, secrets) {
                Ok(()) => break,
                Err(e) => e,
            };
            if !error.retryable() {
                tracing::error!(channel, error = %error, message = %text, "notification refused: not retried");
                break;
            }
            if attempt == attempts {
                tracing::error!(channel, error = %error, message = %text, "notification not delivered");
                break;
            }
            tracing::warn!(channel, attempt, error = %error, "notification failed: retrying");
            std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
        }
        pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One attempt at one message.
fn post(
    http: &reqwest::blocking::Client,
    sink: &Sink,
    text: &str,
    secrets: &Secrets,
) -> Result<(), DeliveryError> {
    let (url, body) = match sink {
        // Slack reads "text", Discord "content".
        Sink::Webhook { url } => (url, serde_json::json!({ "text": text, "content": text })),
        Sink::Telegram { url, chat_id } => {
            (url, serde_json::json!({ "chat_id": chat_id, "text": text }))
        }
    };
    let answer =
        http.post(url).json(&body).send().map_err(|e| {
            DeliveryError::Unreachable(secrets.redact(&e.without_url().to_string()))
        })?;
    let status = answer.status();
    let telegram = matches!(sink, Sink::Telegram { .. });
    if !telegram {
        return match status.is_success() {
            true => Ok(()),
            false => Err(DeliveryError::Answered {
                code: status.as_u16(),
                description: status.canonical_reason().unwrap_or("").into(),
            }),
        };
    }
    // Telegram's verdict is its `ok`, with its own code and reason beside the HTTP status.
    let parsed = answer.json::<TelegramAnswer>().ok();
    match parsed {
        Some(a) if a.ok && status.is_success() => Ok(()),
        Some(a) => Err(DeliveryError::Answered {
            code: a.error_code.unwrap_or(status.as_u16()),
            description: secrets.redact(a.description.as_deref().unwrap_or("")),
        }),
        None => Err(DeliveryError::Answered {
            code: status.as_u16(),
            description: "an answer that is not the Bot API's JSON".into(),
        }),
    }
}
