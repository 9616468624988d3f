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

async fn live() -> HttpResponse {
    HttpResponse::Ok().body("live\n")
}

async fn ready(view: web::Data<Arc<RuntimeView>>) -> HttpResponse {
    if view.snapshot().ready {
        HttpResponse::Ok().body("ready\n")
    } else {
        HttpResponse::ServiceUnavailable().body("starting\n")
    }
}

async fn metrics(view: web::Data<Arc<RuntimeView>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(view.metrics_text())
}

/// Starts serving on `listener` inside the current actix system.
pub fn serve(listener: TcpListener, view: Arc<RuntimeView>) -> std::io::Result<Server> {
    let data = web::Data::new(view);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
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
