//! The web console: an HTTP(S) server on the daemon's tokio control plane
//! (see `docs/web.md`). It never touches the station or the audio threads:
//! every action is the same [`Request`] the control socket sends, handed to
//! the same [`Handler`] (the daemon's loop), with a [`Peer`] whose user is
//! `web:ACCOUNT`, so the as-run log names the account.
//!
//! - `mod.rs`: the shared state, the routes, start and stop.
//! - `listen.rs`: binding, TLS (rustls) and the accept loop.
//! - `auth.rs`: passwords (argon2id), tokens, sessions, login rate limits.
//! - `guard.rs`: security headers, the Origin check, roles.
//! - `api.rs`: the login, status, emergency and the server-sent events.
//! - `body.rs`: parsing the bodies the web reads (fuzzed).
//! - `jobs.rs`: announce (`upload.rs` keeps its file), the speech preview,
//!   queue, cancel, skip.
//! - `report.rs`: the as-run log (JSON, CSV) and the schedules (pause and
//!   resume).
//! - `sections.rs`: the board's announce, queue, schedules, receivers and
//!   log sections.
//! - `pages.rs`: the server-rendered pages and their embedded assets.
//! - `metrics.rs`: `/metrics` in Prometheus text format.

mod api;
pub mod auth;
pub mod body;
mod guard;
mod jobs;
mod listen;
mod metrics;
mod pages;
mod report;
mod sections;
mod upload;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{mpsc, watch};

use crate::config::Web;
use crate::control::protocol::{ErrorCode, Request, Response};
use crate::control::server::{Handler, Peer};
use crate::engine::Heartbeat;
use crate::store::Accounts;

pub use listen::{bind, Bound};

/// Largest request body accepted (a login form, an emergency's JSON).
pub const MAX_BODY: usize = 16 * 1024;

/// How long the web waits for the daemon's loop to answer a request.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the web server is given by the daemon.
pub struct Context {
    pub config: Web,
    /// Where `corong.db` is.
    pub state_dir: std::path::PathBuf,
    /// The daemon's loop (as the control socket's requests go).
    pub handler: Arc<dyn Handler>,
    /// Bumped by the daemon's loop whenever a zone or the queue may have
    /// changed; the web fetches the status once per change and fans it out.
    pub changes: watch::Receiver<u64>,
    /// The engine's signs of life, for `/metrics`.
    pub heartbeat: Option<Arc<Heartbeat>>,
    /// With `[mqtt]`: changes when the regency's link or what it heard of
    /// the other kiosks does (the sites' section follows it).
    pub sites: Option<watch::Receiver<crate::control::protocol::BrokerLink>>,
    /// `[quiet_hours]` `from` and `to` as the daemon started (shown on the
    /// schedules' section).
    pub quiet_hours: Option<(chrono::NaiveTime, chrono::NaiveTime)>,
}

/// The state every handler shares.
pub struct App {
    pub config: Web,
    pub accounts: Arc<Mutex<Accounts>>,
    pub handler: Arc<dyn Handler>,
    pub limiter: Mutex<auth::Limiter>,
    /// The latest status reply as JSON (`{"type":"status",..}`), for the
    /// event stream.
    pub status: watch::Receiver<Arc<String>>,
    /// The latest queue reply as JSON, likewise.
    pub queue: watch::Receiver<Arc<String>>,
    /// The latest `sites` reply as JSON (with `[mqtt]` only), likewise.
    pub sites: watch::Receiver<Arc<String>>,
    pub heartbeat: Option<Arc<Heartbeat>>,
    pub tls: bool,
    /// Where `uploads/` is.
    pub state_dir: std::path::PathBuf,
    pub quiet_hours: Option<(chrono::NaiveTime, chrono::NaiveTime)>,
}

impl App {
    /// Send `request` into the daemon's loop as `account` and wait for the
    /// final response.
    pub async fn ask(&self, request: Request, account: &str) -> Response {
        if let Err(e) = request.validate() {
            return Response::error(ErrorCode::BadRequest, e.0);
        }
        let (tx, mut rx) = mpsc::channel(16);
        let peer = Peer {
            uid: u32::MAX,
            gid: u32::MAX,
            pid: None,
            user: format!("web:{account}"),
        };
        self.handler.handle(request, peer, tx);
        let wait = async {
            while let Some(r) = rx.recv().await {
                if r.is_final() {
                    return r;
                }
            }
            Response::error(ErrorCode::Failed, "the daemon gave no answer")
        };
        tokio::time::timeout(REPLY_TIMEOUT, wait)
            .await
            .unwrap_or_else(|_| Response::error(ErrorCode::Unavailable, "the daemon is busy"))
    }
}

/// The routes, with their guards.
fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(pages::board))
        .route("/login", get(pages::login_page).post(api::login))
        .route("/logout", post(api::logout))
        .route("/assets/{name}", get(pages::asset))
        .route("/api/status", get(api::status))
        .route("/api/emergency", post(api::emergency))
        .route("/api/emergency/stop", post(api::emergency_stop))
        .route("/api/events", get(api::events))
        .route(
            "/api/announce",
            post(jobs::announce).layer(axum::extract::DefaultBodyLimit::max(
                (upload::MAX_UPLOAD + jobs::FORM_SLACK) as usize,
            )),
        )
        .route("/api/queue", get(jobs::queue))
        .route("/api/sites", get(api::sites))
        .route("/api/cancel", post(jobs::cancel))
        .route("/api/skip", post(jobs::skip))
        .route("/api/log", get(report::log))
        .route("/api/log.csv", get(report::log_csv))
        .route("/api/schedule", get(report::schedule))
        .route("/api/schedules/pause", post(report::schedule_pause))
        .route("/api/schedules/resume", post(report::schedule_resume))
        .route("/api/say/preview", post(jobs::say_preview))
        .route("/metrics", get(metrics::metrics))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::origin_check,
        ))
        .layer(axum::middleware::from_fn(guard::headers))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

/// Serve `bound` until `shutdown` resolves; connections still open then
/// are given [`listen::DRAIN`] to finish.
pub async fn serve(
    bound: Bound,
    ctx: Context,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let accounts = open_accounts(&ctx.state_dir)?;
    let (status_tx, status_rx) = watch::channel(Arc::new(String::new()));
    let (queue_tx, queue_rx) = watch::channel(Arc::new(String::new()));
    let (sites_tx, sites_rx) = watch::channel(Arc::new(String::new()));
    let app = Arc::new(App {
        tls: bound.is_tls(),
        config: ctx.config,
        accounts: Arc::new(Mutex::new(accounts)),
        handler: ctx.handler,
        limiter: Mutex::new(auth::Limiter::default()),
        status: status_rx,
        queue: queue_rx,
        sites: sites_rx,
        heartbeat: ctx.heartbeat,
        state_dir: std::path::absolute(&ctx.state_dir).unwrap_or(ctx.state_dir.clone()),
        quiet_hours: ctx.quiet_hours,
    });
    let hub = tokio::spawn(api::status_hub(
        app.clone(),
        api::Hub {
            changes: ctx.changes,
            sites_changes: ctx.sites,
            status: status_tx,
            queue: queue_tx,
            sites: sites_tx,
        },
    ));
    let speech = tokio::spawn(prepare_emergency_speech(app.clone()));
    let result = listen::run(bound, router(app), shutdown).await;
    hub.abort();
    speech.abort();
    result
}

/// Render the emergency dialog's prepared message (both languages) into
/// the speech cache now, as "listen first" would: the first "confirm
/// emergency" then finds it there, and its alert does not wait for
/// espeak-ng (20 to 110 ms in `bench/web.sh`, the first time a state
/// directory's cache meets the text). Without espeak-ng, nothing to
/// prepare (the emergency then says why, as from the control socket).
async fn prepare_emergency_speech(app: Arc<App>) {
    for text in pages::EMERGENCY_TEXT {
        let request = Request::SayPreview {
            text: text.to_string(),
            voice: None,
        };
        match app.ask(request, "console").await {
            Response::Ok(_) => {
                tracing::info!(text, "web console: the emergency message's speech is ready")
            }
            Response::Err { error, .. } => {
                tracing::debug!(text, "web console: the emergency message's speech: {error}")
            }
            Response::Progress(_) => {}
        }
    }
}

fn open_accounts(state_dir: &Path) -> anyhow::Result<Accounts> {
    Accounts::open(state_dir).map_err(|e| anyhow::anyhow!("web console: {e}"))
}
