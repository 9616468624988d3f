//! The health server (actix-web): `/health`, `/live`, `/ready`, `/metrics`, read-only.
//!
//! `/health` is the runtime's real state: 503 when a job is past its restart limit or keeps
//! failing, or the heartbeat is stale; 200 for ok and halted (a halted runner is doing its job).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::view::{Health, RuntimeView};

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("--health-addr {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("--health-addr {addr} is not a loopback address: pass --health-allow-remote to serve it beyond this machine")]
    NotLoopback { addr: SocketAddr },
}

/// Binds the listener before anything starts, so a taken port is a clear refusal.
pub fn bind(addr: SocketAddr, allow_remote: bool) -> Result<TcpListener, HealthError> {
    if !addr.ip().is_loopback() {
        if !allow_remote {
            return Err(HealthError::NotLoopback { addr });
        }
        tracing::warn!(%addr, "health server bound beyond loopback: anyone who can reach it can read the runner's state");
    }
    TcpListener::bind(addr).map_err(|source| HealthError::Bind { addr, source })
}

async fn health(view: web::Data<Arc<RuntimeView>>) -> HttpResponse {
    let snapshot = view.snapshot();
    let mut response = if snapshot.status == Health::Degraded {
        HttpResponse::ServiceUnavailable()
    } else {
        HttpResponse::Ok()
    };
    response.json(snapshot)
}

/// An HTML fragment the application adds to the status page (positions, P&L, the chart).
pub type PageFragment = Arc<dyn Fn() -> String + Send + Sync>;

/// What the application adds to `/metrics`: metric families in OpenMetrics text, placed before
/// the closing `# EOF`.
pub type MetricsFragment = Arc<dyn Fn() -> String + Send + Sync>;

/// Extra parts the application adds to what the health server shows.
#[derive(Clone, Default)]
pub struct Extras {
    pub page: Option<PageFragment>,
    pub metrics: Option<MetricsFragment>,
}

/// Escapes text for HTML.
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /`: the runtime's state as a page a person reads, refreshing itself (no JavaScript).
async fn status_page(
    view: web::Data<Arc<RuntimeView>>,
    extra: web::Data<Option<PageFragment>>,
) -> HttpResponse {
    let s = view.snapshot();
    let status = s.status.as_str();
    let ks = if s.kill_switch.active {
        format!(
            "<strong class=\"alarm\">ON</strong> since {} — {}",
            esc(&s
                .kill_switch
                .since
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "?".into())),
            esc(s.kill_switch.reason.as_deref().unwrap_or(""))
        )
    } else {
        "off".to_string()
    };
    let last = s.last_job.as_ref().map_or("none".into(), |l| {
        format!(
            "{} at {} — {}",
            esc(&l.tag),
            l.slot_et.format("%Y-%m-%d %H:%M %:z"),
            l.status.as_str()
        )
    });
    let next = s.next_job.as_ref().map_or("none".into(), |n| {
        format!(
            "{} at {}",
            esc(&n.tag),
            n.at_et.format("%Y-%m-%d %H:%M %:z")
        )
    });
    let mut rows = String::new();
    for (tag, j) in &s.jobs {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(tag),
            j.last_slot
                .map_or("-".into(), |t| t.format("%m-%d %H:%M").to_string()),
            j.last_status.map_or("-", |st| st.as_str()),
            j.next_slot
                .map_or("-".into(), |t| t.format("%m-%d %H:%M").to_string()),
            j.failures
        ));
    }
    let problems: String = s
        .problems
        .iter()
        .map(|p| format!("<li>{}</li>", esc(p)))
        .collect();
    // On the blocking pool: the fragment reads files and a database, and the one worker must
    // stay free to answer /live and /ready meanwhile.
    let fragment = match extra.as_ref().clone() {
        Some(f) => web::block(move || f()).await.unwrap_or_else(|e| {
            format!(
                "<p class=\"alarm\">status page: {}</p>",
                esc(&e.to_string())
            )
        }),
        None => String::new(),
    };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"15\">\
<title>kobe — {status}</title><style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}\
.st{{padding:.2em .6em;border-radius:.3em;color:#fff}}.st-ok{{background:#2a7}}.st-halted{{background:#c80}}\
.st-degraded,.st-stopping{{background:#c33}}.alarm{{color:#c33}}table{{border-collapse:collapse}}\
td,th{{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left}}</style></head><body>\
<h1>kobe <span id=\"status\" class=\"st st-{status}\">{status}</span></h1>\
<p>mode {mode}, clock {clock}, pid {pid}, up {up} s, now {now}</p>\
<ul id=\"problems\">{problems}</ul>\
<section id=\"kill-switch\"><h2>Kill switch</h2><p>{ks}</p></section>\
<section id=\"jobs\"><h2>Jobs</h2><p id=\"last-job\">Last: {last}</p><p id=\"next-job\">Next: {next}</p>\
<table><tr><th>job</th><th>last slot</th><th>status</th><th>next slot</th><th>failures</th></tr>{rows}</table></section>\
{fragment}</body></html>",
        mode = esc(&s.mode),
        clock = s.clock.as_str(),
        pid = s.pid,
        up = s.uptime_s,
        now = s.now_et.format("%Y-%m-%d %H:%M:%S %:z"),
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page)
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().body("live\n")
}

async fn ready(view: web::Data<Arc<RuntimeView>>) -> HttpResponse {
    if view.is_ready() {
        HttpResponse::Ok().body("ready\n")
    } else {
        HttpResponse::ServiceUnavailable().body("starting\n")
    }
}

async fn metrics(view: web::Data<Arc<RuntimeView>>, extras: web::Data<Extras>) -> HttpResponse {
    let mut text = view.metrics_text();
    if let Some(more) = &extras.metrics {
        let at = text.rfind("# EOF").unwrap_or(text.len());
        text.insert_str(at, &more());
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text)
}

/// Starts serving on `listener` inside the current actix system.
pub fn serve(
    listener: TcpListener,
    view: Arc<RuntimeView>,
    extras: Extras,
) -> std::io::Result<Server> {
    let data = web::Data::new(view);
    let extra = web::Data::new(extras.page.clone());
    let extras = web::Data::new(extras);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(extra.clone())
            .app_data(extras.clone())
            .route("/", web::get().to(status_page))
            .route("/health", web::get().to(health))
            .route("/live", web::get().to(live))
            .route("/ready", web::get().to(ready))
            .route("/metrics", web::get().to(metrics))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(2)
    .listen(listener)?
    .run();
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::NyseCalendar;
    use crate::clock::{Clock, SimClock, Speed};
    use crate::schedule::Schedule;
    use std::io::{Read, Write};
    use std::sync::{mpsc, Mutex};
    use std::time::Duration;

    /// One GET over a plain socket; the reply as text (an error if none comes in 20 s).
    fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
        let mut stream = std::net::TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        Ok(reply)
    }

    #[test]
    fn a_status_page_still_being_made_leaves_live_answering() {
        let (entered_tx, entered) = mpsc::channel::<()>();
        let (release, release_rx) = mpsc::channel::<()>();
        let (entered_tx, release_rx) = (Mutex::new(entered_tx), Mutex::new(release_rx));
        // A page part that waits until the test lets it go, as one waiting on a locked file.
        let page: PageFragment = Arc::new(move || {
            let _ = entered_tx.lock().unwrap().send(());
            let _ = release_rx.lock().unwrap().recv();
            "<p>made at last</p>".into()
        });
        let start = chrono::DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .unwrap()
            .to_utc();
        let clock: Arc<dyn Clock> = Arc::new(SimClock::new(start, Speed::Max));
        let view = RuntimeView::new(
            None,
            clock.clone(),
            clock,
            Arc::new(Schedule::new(Vec::new(), NyseCalendar)),
            chrono::TimeDelta::seconds(30),
        );
        let listener = bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let extras = Extras {
                    page: Some(page),
                    metrics: None,
                };
                serve(listener, view, extras).unwrap().await
            })
        });
        let slow = std::thread::spawn(move || get(addr, "/"));
        entered
            .recv_timeout(Duration::from_secs(20))
            .expect("the page was asked for");
        // The page is still being made: /live answers all the same.
        let live = get(addr, "/live").expect("/live answers while the page waits");
        assert!(live.starts_with("HTTP/1.1 200"), "{live}");
        release.send(()).unwrap();
        let page = slow.join().unwrap().unwrap();
        assert!(page.contains("made at last"), "{page}");
    }
}
