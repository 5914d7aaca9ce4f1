//! Who is asking: passwords (argon2id), API tokens and session ids (random,
//! stored as SHA-256), the session cookie, and the login rate limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::http::HeaderMap;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::App;
use crate::store::Account;

/// The session cookie's name.
pub const COOKIE: &str = "corong_session";

/// Failed logins allowed per account and per address within [`WINDOW`]
/// before further attempts are refused until the window has passed.
pub const MAX_FAILURES: u32 = 5;
/// See [`MAX_FAILURES`].
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// The argon2id hash (PHC string) of `password`, with a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// Whether `password` matches the stored PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new random secret (session id or API token): 32 bytes as hex.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// What the database keeps of a secret.
pub fn secret_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session id in the request's cookie.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The bearer token of an `Authorization` header.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    value.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

/// The account a request is made by: its session cookie or bearer token.
pub async fn who(app: &App, headers: &HeaderMap) -> Option<Account> {
    let (secret, by_token) = match (bearer(headers), session_cookie(headers)) {
        (Some(t), _) => (t, true),
        (None, Some(s)) => (s, false),
        (None, None) => return None,
    };
    let hash = secret_hash(&secret);
    let accounts = app.accounts.clone();
    let now = chrono::Utc::now().timestamp_millis();
    tokio::task::spawn_blocking(move || {
        let accounts = accounts.lock().unwrap_or_else(|e| e.into_inner());
        if by_token {
            accounts.by_token(&hash)
        } else {
            accounts.session(&hash, now)
        }
    })
    .await
    .ok()?
    .ok()?
}

/// Failed logins, per account and per address.
#[derive(Default)]
pub struct Limiter {
    failures: HashMap<String, (u32, Instant)>,
}

/// Keys tracked at most; past it the oldest windows are dropped, so a flood
/// of made-up names cannot grow memory without bound.
const MAX_KEYS: usize = 10_000;

impl Limiter {
    fn keys(account: &str, addr: IpAddr) -> [String; 2] {
        [format!("account:{account}"), format!("addr:{addr}")]
    }

    /// Whether a login for `account` from `addr` may be tried now.
    pub fn allowed(&mut self, account: &str, addr: IpAddr, now: Instant) -> bool {
        Self::keys(account, addr)
            .iter()
            .all(|k| match self.failures.get(k) {
                Some((n, since)) if now.duration_since(*since) < WINDOW => *n < MAX_FAILURES,
                _ => true,
            })
    }

    pub fn failed(&mut self, account: &str, addr: IpAddr, now: Instant) {
        if self.failures.len() >= MAX_KEYS {
            self.failures
                .retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        }
        if self.failures.len() >= MAX_KEYS {
            return;
        }
        for k in Self::keys(account, addr) {
            let e = self.failures.entry(k).or_insert((0, now));
            if now.duration_since(e.1) >= WINDOW {
                *e = (0, now);
            }
            e.0 += 1;
        }
    }

    /// A good login clears the account's count (not the address's: one
    /// right password must not reset guessing at the others).
    pub fn succeeded(&mut self, account: &str) {
        self.failures.remove(&format!("account:{account}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash_password("rahasia kelud").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("rahasia kelud", &a));
        assert!(!verify_password("rahasia", &a));
        assert_ne!(a, hash_password("rahasia kelud").unwrap(), "salted");
    }

    #[test]
    fn limiter_counts_per_account_and_address() {
        let mut l = Limiter::default();
        let t = Instant::now();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(l.allowed("sri", a, t));
            l.failed("sri", a, t);
        }
        assert!(!l.allowed("sri", a, t));
        assert!(!l.allowed("sri", b, t), "per account");
        assert!(!l.allowed("budi", a, t), "per address");
        assert!(l.allowed("budi", b, t));
        assert!(l.allowed("sri", a, t + WINDOW));
    }
}
