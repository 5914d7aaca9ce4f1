//! `[web]`: the web console's listen address, TLS files and session
//! lifetime. A listen address other than loopback needs both TLS files:
//! a password must never cross a network in clear.

use std::net::SocketAddr;
use std::time::Duration;

use toml::de::DeValue;
use toml::Spanned;

use super::loader::Loader;
use crate::config::model::{Web, WebTls};
use crate::config::schema::{self, WebTable};

impl Loader<'_> {
    /// `[web]`; `None` when absent or broken (the errors are reported).
    pub(super) fn web(&mut self, value: Option<&Spanned<DeValue<'_>>>) -> Option<Web> {
        let raw = self.table::<WebTable>(value?, "[web]")?.value;
        let listen = match raw.listen.get_ref().trim().parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                self.error(
                    raw.listen.span(),
                    format!(
                        "`listen` \"{}\": expected ADDRESS:PORT, e.g. \"127.0.0.1:8080\"",
                        raw.listen.get_ref()
                    ),
                );
                return None;
            }
        };
        let cert = raw
            .tls_cert
            .as_ref()
            .map(|c| self.path_value(Some(c), "", "tls_cert"));
        let key = raw
            .tls_key
            .as_ref()
            .map(|k| self.path_value(Some(k), "", "tls_key"));
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(WebTls { cert, key }),
            (Some(_), None) => {
                let span = raw.tls_cert.as_ref().map_or(0..0, |s| s.span());
                self.error(span, "`tls_cert` without `tls_key`: set both, or neither");
                return None;
            }
            (None, Some(_)) => {
                let span = raw.tls_key.as_ref().map_or(0..0, |s| s.span());
                self.error(span, "`tls_key` without `tls_cert`: set both, or neither");
                return None;
            }
            (None, None) => None,
        };
        if tls.is_none() && !listen.ip().is_loopback() {
            self.error(
                raw.listen.span(),
                format!(
                    "`listen` {listen} is not a loopback address: set `tls_cert` and `tls_key` \
                     (passwords never cross a network in clear), or listen on 127.0.0.1"
                ),
            );
            return None;
        }
        let mut hours = schema::DEFAULT_SESSION_HOURS;
        if let Some(h) = &raw.session_hours {
            if schema::SESSION_HOURS_RANGE.contains(h.get_ref()) {
                hours = *h.get_ref() as u64;
            } else {
                self.error(
                    h.span(),
                    format!(
                        "`session_hours` {}: expected {}..={}",
                        h.get_ref(),
                        schema::SESSION_HOURS_RANGE.start(),
                        schema::SESSION_HOURS_RANGE.end()
                    ),
                );
            }
        }
        Some(Web {
            listen,
            tls,
            session_lifetime: Duration::from_secs(hours * 3600),
            metrics_public: raw.metrics_public.unwrap_or(false),
        })
    }
}
