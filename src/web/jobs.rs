//! The endpoints that make and unmake jobs: `/api/announce` (a file or a
//! text, as `corong announce` / `say`), `/api/say/preview` (the text's
//! speech, played nowhere), `/api/queue`, `/api/cancel` and `/api/skip`. Each is the control socket's request, sent into the same
//! loop as `web:ACCOUNT`.

use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use super::api::{http, json_ask, json_request, require};
use super::body::{self, AnnounceFields};
use super::guard::refuse;
use super::upload::{self, UploadError, MAX_UPLOAD};
use super::App;
use crate::control::protocol::{Request, Response as Reply};
use crate::store::Role;

/// Room for the announce form's other fields and the multipart framing
/// around a file of [`MAX_UPLOAD`] bytes.
pub const FORM_SLACK: u64 = 64 * 1024;

fn too_large(e: &UploadError) -> Response {
    refuse(StatusCode::PAYLOAD_TOO_LARGE, "too_large", &e.to_string())
}

/// `POST /api/announce` (multipart: `file` or `text`, `zones` (repeated or
/// comma-separated), `priority`, `at`, `repeat`). Operator. The file is
/// kept in the state directory's `uploads/` under a name the daemon
/// chooses; the daemon then checks it decodes, as for `corong announce`,
/// and a refused file that this upload brought is deleted again.
pub async fn announce(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let account = match require(&app, &headers, Role::Operator).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let claimed = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if claimed.is_some_and(|n| n > MAX_UPLOAD + FORM_SLACK) {
        return too_large(&UploadError::TooLarge);
    }
    let mut form = match form {
        Ok(f) => f,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!("expected multipart/form-data: {}", e.body_text()),
            )
        }
    };
    let dir = app.state_dir.join("uploads");
    let mut fields = AnnounceFields::default();
    let mut kept: Option<upload::Kept> = None;
    let gathered: Result<(), Response> = async {
        while let Some(field) = form.next_field().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large(&UploadError::TooLarge)
            } else {
                refuse(StatusCode::BAD_REQUEST, "bad_request", &e.body_text())
            }
        })? {
            let name = field.name().unwrap_or_default().to_string();
            if name == "file" {
                // A file input left empty sends a part with no file name.
                if field.file_name().unwrap_or_default().is_empty() {
                    continue;
                }
                if kept.is_some() {
                    return Err(bad("field `file`: one file per announcement"));
                }
                match upload::keep(field, &dir, MAX_UPLOAD).await {
                    Ok(k) => kept = Some(k),
                    Err(e @ UploadError::TooLarge) => return Err(too_large(&e)),
                    Err(e @ UploadError::TooSlow) => {
                        return Err(refuse(
                            StatusCode::REQUEST_TIMEOUT,
                            "timeout",
                            &e.to_string(),
                        ))
                    }
                    Err(e @ UploadError::Store { .. }) => {
                        return Err(refuse(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "failed",
                            &e.to_string(),
                        ))
                    }
                    Err(e) => return Err(bad(&format!("field `file`: {e}"))),
                }
            } else {
                let value = field
                    .text()
                    .await
                    .map_err(|e| bad(&format!("field `{name}`: {}", e.body_text())))?;
                fields.field(&name, &value).map_err(|e| bad(&e))?;
            }
        }
        Ok(())
    }
    .await;
    let request = gathered.and_then(|()| {
        fields
            .request(kept.as_ref().map(|k| k.path.clone()))
            .map_err(|e| bad(&e))
    });
    let reply = match request {
        Ok(r) => app.ask(r, &account.name).await,
        Err(refused) => {
            forget(kept).await;
            return refused;
        }
    };
    if matches!(reply, Reply::Err { .. }) {
        forget(kept).await;
    } else if let Some(k) = &kept {
        tracing::info!(account = %account.name, file = %k.path.display(), "web upload queued");
    }
    http(reply)
}

/// Delete a refused upload this request brought (not a file of the same
/// content another job may still use).
async fn forget(kept: Option<upload::Kept>) {
    if let Some(k) = kept.filter(|k| k.fresh) {
        let _ = tokio::fs::remove_file(&k.path).await;
    }
}

fn bad(message: &str) -> Response {
    refuse(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// `GET /api/queue`: as `corong queue --json`. Viewer.
pub async fn queue(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match require(&app, &headers, Role::Viewer).await {
        Ok(a) => http(app.ask(Request::Queue, &a.name).await),
        Err(r) => r,
    }
}

/// `POST /api/cancel` (JSON `{"id": N}`): as `corong cancel N`. Operator.
pub async fn cancel(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    bytes: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    json_request(&app, &headers, bytes, Role::Operator, body::cancel).await
}

/// `POST /api/say/preview` (JSON `{"text": ".."}`): "listen first". The
/// daemon renders the text as `say` would (espeak-ng, beside its loop, the
/// same speech cache) and plays it nowhere; the answer is the WAV.
/// Operator.
pub async fn say_preview(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    bytes: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    use axum::response::IntoResponse;
    match json_ask(&app, &headers, bytes, Role::Operator, body::say_preview).await {
        Ok(Reply::Ok(crate::control::protocol::Reply::Uploaded(u))) => {
            match tokio::fs::read(&u.path).await {
                Ok(wav) => (
                    [
                        (header::CONTENT_TYPE, "audio/wav"),
                        (header::CACHE_CONTROL, "no-store"),
                    ],
                    wav,
                )
                    .into_response(),
                Err(e) => refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "failed",
                    &format!("the rendered speech could not be read: {e}"),
                ),
            }
        }
        Ok(other) => http(other),
        Err(r) => r,
    }
}

/// `POST /api/skip` (JSON `{"zones": [..]}`, absent = every zone): as
/// `corong skip`. Operator.
pub async fn skip(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    bytes: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    json_request(&app, &headers, bytes, Role::Operator, body::skip).await
}
