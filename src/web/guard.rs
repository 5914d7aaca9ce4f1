//! What every response carries and what every state-changing request must
//! show: security headers, and an `Origin` (or `Referer`) that is the
//! console's own.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::App;

/// Security headers on every response: no inline script, no framing, no
/// sniffing, no referrer leaving the console.
pub async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
             media-src 'self' blob:; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// A JSON error body `{"ok":false,"code":..,"error":..}` with `status`.
pub fn refuse(status: StatusCode, code: &str, error: &str) -> Response {
    let body = serde_json::json!({"ok": false, "code": code, "error": error});
    (status, axum::Json(body)).into_response()
}

/// The console's own origin for this request: its scheme and the `Host` it
/// was reached by.
fn own_origin(app: &App, headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let scheme = if app.tls { "https" } else { "http" };
    Some(format!("{scheme}://{host}"))
}

/// The origin a `Referer` URL names (`scheme://host[:port]`).
fn referer_origin(referer: &str) -> Option<String> {
    let (scheme, rest) = referer.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}"))
}

/// State-changing requests (anything but GET and HEAD) must come from the
/// console's own pages: their `Origin` (or, without one, `Referer`) must be
/// the console's, or the request is refused with 403. A request with
/// neither is refused too, unless it authenticates with a bearer token (a
/// browser never adds one by itself, so a token cannot be forged across
/// sites).
pub async fn origin_check(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let claimed = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(referer_origin)
        });
    let ok = match claimed {
        Some(origin) => own_origin(&app, headers).is_some_and(|own| own == origin),
        None => super::auth::bearer(headers).is_some(),
    };
    if !ok {
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden_origin",
            "refused: the request does not come from the console's own pages (Origin/Referer)",
        );
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referer_origin_is_scheme_and_host() {
        assert_eq!(
            referer_origin("http://127.0.0.1:8080/login?x=1").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(referer_origin("nonsense"), None);
    }
}
