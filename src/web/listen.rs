//! Binding the console's address, TLS with rustls, and the accept loop:
//! one task per connection, HTTP/1.1, each request told its client's
//! address (for the login rate limit and `/metrics`).
//!
//! Bounded, so that clients that open connections and send nothing, or
//! dribble a request, cannot take the daemon's file descriptors (which it
//! needs to open an emergency's file) or its memory: at most
//! [`MAX_CONNECTIONS`] at once (more are closed as they come, and logged
//! at most once a minute), and a request's headers must arrive within
//! [`HEADER_TIMEOUT`]. Uploads bound their bodies' time themselves
//! (`upload.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::{Web, WebTls};

/// How long open connections (an event stream) get to finish at shutdown:
/// within the daemon's budget for its servers.
pub const DRAIN: Duration = Duration::from_millis(100);

/// How long a client has for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections open at once, at most: a command centre's browsers use a
/// few each (an event stream and a request or two).
pub const MAX_CONNECTIONS: usize = 128;

/// How long a request's headers may take to arrive (and an idle
/// keep-alive connection may wait for its next request's).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A refused connection is logged at most this often.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// A bound listener, with TLS when configured.
pub struct Bound {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl Bound {
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The address actually bound (port 0 becomes a real port).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Bind `web.listen` and load the TLS files, so that every problem is said
/// at start, in one line naming the key.
pub async fn bind(web: &Web) -> anyhow::Result<Bound> {
    // The loader refuses this already; a config built in code must not slip.
    if web.tls.is_none() && !web.listen.ip().is_loopback() {
        anyhow::bail!(
            "[web] listen {} is not loopback: set tls_cert and tls_key, or listen on 127.0.0.1",
            web.listen
        );
    }
    let tls = match &web.tls {
        Some(t) => Some(acceptor(t)?),
        None => None,
    };
    let listener = TcpListener::bind(web.listen)
        .await
        .with_context(|| format!("[web] listen {}: cannot bind", web.listen))?;
    Ok(Bound { listener, tls })
}

fn acceptor(t: &WebTls) -> anyhow::Result<TlsAcceptor> {
    let cert_pem = std::fs::read(&t.cert)
        .with_context(|| format!("[web] tls_cert {}: cannot read", t.cert.display()))?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("[web] tls_cert {}: not PEM", t.cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("[web] tls_cert {}: no certificate in it", t.cert.display());
    }
    let key_pem = std::fs::read(&t.key)
        .with_context(|| format!("[web] tls_key {}: cannot read", t.key.display()))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .with_context(|| format!("[web] tls_key {}: not PEM", t.key.display()))?
        .with_context(|| format!("[web] tls_key {}: no private key in it", t.key.display()))?;
    // ring, not aws-lc-rs: no C toolchain beyond cc to build it on a kiosk;
    // post-quantum key exchange is not needed on a LAN console.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("[web] TLS")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| format!("[web] tls_key {}: does not fit tls_cert", t.key.display()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accept until `shutdown`, then give open connections [`DRAIN`].
pub async fn run(
    bound: Bound,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut refused = 0u64;
    let mut refusal_logged: Option<Instant> = None;
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            _ = &mut shutdown => break,
            r = bound.listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little
                    // rather than spin.
                    tracing::warn!("web console: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            drop(tcp);
            refused += 1;
            if refusal_logged.is_none_or(|t| t.elapsed() >= REFUSAL_LOG_EVERY) {
                tracing::warn!(
                    "web console: {MAX_CONNECTIONS} connections open: {refused} more refused (the latest from {addr})"
                );
                refusal_logged = Some(Instant::now());
                refused = 0;
            }
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            req.extensions_mut().insert(ConnectInfo(addr));
            router.clone().oneshot(req.map(axum::body::Body::new))
        });
        match &bound.tls {
            None => {
                let conn = http.serve_connection(TokioIo::new(tcp), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(permit);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                let http = http.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    let tls =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(s)) => s,
                            _ => return,
                        };
                    let conn = http.serve_connection(TokioIo::new(tls), service);
                    let _ = watcher.watch(conn).await;
                });
            }
        }
    }
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("web console: connections still open at shutdown were dropped");
    }
    Ok(())
}
