//! The server-rendered pages and their assets, embedded in the binary (no
//! CDN; the console works with no internet). Bahasa Indonesia first;
//! `?lang=en` switches to English (remembered in a cookie). The board's
//! sections below the zones are in `sections.rs`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::api::require;
use super::sections::escape;
use super::App;
use crate::store::Role;

/// The emergency dialog's prepared message (Bahasa Indonesia, English):
/// rendered into the speech cache when the console starts
/// (`prepare_emergency_speech` in `mod.rs`).
pub const EMERGENCY_TEXT: [&str; 2] = [
    "Perhatian. Ini adalah peringatan darurat. Ikuti petunjuk petugas.",
    "Attention. This is an emergency warning. Follow the officers' instructions.",
];

const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// The page's language.
#[derive(Clone, Copy, PartialEq)]
enum Lang {
    Id,
    En,
}

#[derive(Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

/// `?lang=` first, then the cookie, then Indonesian.
fn lang(q: &LangQuery, headers: &HeaderMap) -> Lang {
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.split(';').any(|kv| kv.trim() == "corong_lang=en"));
    match q.lang.as_deref() {
        Some("en") => Lang::En,
        Some(_) => Lang::Id,
        None if cookie => Lang::En,
        None => Lang::Id,
    }
}

/// One phrase in both languages.
fn t(lang: Lang, id: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Id => id,
        Lang::En => en,
    }
}

fn page(lang: Lang, title: &str, body: &str) -> Response {
    let code = if lang == Lang::En { "en" } else { "id" };
    let html = format!(
        "<!doctype html>\n<html lang=\"{code}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · corong</title><link rel=\"stylesheet\" href=\"/assets/style.css\">\
         <script src=\"/assets/app.js\" defer></script></head><body>{body}</body></html>"
    );
    let mut res = Html(html).into_response();
    let cookie = format!("corong_lang={code}; Path=/; SameSite=Strict");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

fn switch(lang: Lang) -> &'static str {
    match lang {
        Lang::Id => "<a class=\"lang\" href=\"?lang=en\" hreflang=\"en\">English</a>",
        Lang::En => "<a class=\"lang\" href=\"?lang=id\" hreflang=\"id\">Bahasa Indonesia</a>",
    }
}

/// `GET /login`.
pub async fn login_page(Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    let l = lang(&q, &headers);
    let body = format!(
        "<main class=\"login\"><h1>corong</h1>{switch}\
         <form method=\"post\" action=\"/login\">\
         <label for=\"username\">{user}</label>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">{pass}</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button id=\"login\" type=\"submit\">{go}</button></form></main>",
        switch = switch(l),
        user = t(l, "Nama akun", "Account name"),
        pass = t(l, "Kata sandi", "Password"),
        go = t(l, "Masuk", "Log in"),
    );
    page(l, t(l, "Masuk", "Log in"), &body)
}

/// `GET /`: the zone board, the emergency button and banner. Without a
/// login: to the login page.
pub async fn board(
    State(app): State<Arc<App>>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let account = match require(&app, &headers, Role::Viewer).await {
        Ok(a) => a,
        Err(_) => return Redirect::to("/login").into_response(),
    };
    let l = lang(&q, &headers);
    let (zones, groups) = match app
        .ask(crate::control::protocol::Request::Zones, &account.name)
        .await
    {
        crate::control::protocol::Response::Ok(crate::control::protocol::Reply::Zones(z)) => {
            let groups: std::collections::BTreeSet<String> =
                z.zones.iter().flat_map(|z| z.groups.clone()).collect();
            let names = z.zones.into_iter().map(|z| z.name).collect::<Vec<_>>();
            (names, groups.into_iter().collect::<Vec<_>>())
        }
        _ => (Vec::new(), Vec::new()),
    };
    let rows: String = zones
        .iter()
        .map(|z| {
            let z = escape(z);
            format!(
                "<li class=\"zone\" data-zone=\"{z}\"><h3>{z}</h3>\
                 <p class=\"state\">…</p><p class=\"playing\"></p></li>"
            )
        })
        .collect();
    let operator = account.role >= Role::Operator;
    let emergency = if operator {
        format!(
            "<button id=\"emergency\" class=\"big\" type=\"button\">{btn}</button>\
             <dialog id=\"confirm\" aria-labelledby=\"confirm-title\"><h2 id=\"confirm-title\">{ask}</h2>\
             <p>{zones_label}: <strong id=\"confirm-zones\">{all}</strong></p>\
             <label for=\"emergency-text\">{text_label}</label>\
             <textarea id=\"emergency-text\" rows=\"3\">{default_text}</textarea>\
             <div class=\"actions\"><button id=\"confirm-yes\" class=\"danger\" type=\"button\">{yes}</button>\
             <button id=\"confirm-no\" type=\"button\">{no}</button></div></dialog>",
            btn = t(l, "DARURAT", "EMERGENCY"),
            ask = t(l, "Mulai siaran darurat?", "Start an emergency broadcast?"),
            zones_label = t(l, "Zona", "Zones"),
            all = escape(&zones.join(", ")),
            text_label = t(l, "Pesan", "Message"),
            default_text = escape(t(l, EMERGENCY_TEXT[0], EMERGENCY_TEXT[1])),
            yes = t(l, "Ya, siarkan sekarang", "Yes, broadcast now"),
            no = t(l, "Batal", "Cancel"),
        )
    } else {
        String::new()
    };
    let stop = if operator {
        format!(
            "<button id=\"emergency-stop\" type=\"button\">{}</button>",
            t(l, "Hentikan", "Stop")
        )
    } else {
        String::new()
    };
    let body = format!(
        "<header><h1>corong</h1><span class=\"who\">{name} ({role})</span>{switch}\
         <form method=\"post\" action=\"/logout\"><button type=\"submit\">{logout}</button></form></header>\
         <div id=\"banner\" role=\"alert\" hidden><strong>{on_air}</strong> <span id=\"banner-zones\"></span> {stop}</div>\
         <main><section aria-labelledby=\"zones-title\"><h2 id=\"zones-title\">{zones_title}</h2>\
         <ul id=\"zones\" data-idle=\"{idle}\">{rows}</ul></section>{emergency}{sections}</main>",
        name = escape(&account.name),
        role = account.role.as_str(),
        switch = switch(l),
        logout = t(l, "Keluar", "Log out"),
        on_air = t(l, "SIARAN DARURAT BERLANGSUNG", "EMERGENCY ON AIR"),
        zones_title = t(l, "Zona", "Zones"),
        idle = t(l, "diam", "idle"),
        sections = super::sections::render(
            l == Lang::En,
            operator,
            account.role >= Role::Admin,
            &zones,
            &groups
        ),
    );
    page(l, t(l, "Papan zona", "Zone board"), &body)
}

/// `GET /assets/NAME`: the embedded script and style sheet.
pub async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE_CSS, "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}
