//! A small HTTP/1.1 client over a plain TCP socket for the web console's
//! tests: every header is the test's own (a forged Origin, no Origin at
//! all), and the raw answer is there to assert on.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::station::{Daemon, Station};

/// One answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body's bytes as they came (a WAV).
    pub raw: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The session cookie's `name=value` from `Set-Cookie`.
    pub fn cookie(&self) -> Option<String> {
        let set = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v)
            .find(|v| v.starts_with("corong_session="))?;
        Some(set.split(';').next()?.to_string())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// Send one request (`Connection: close`) and read the whole answer.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may refuse before reading a large body.
    let _ = s.write_all(body);
    parse(&read_answer(&mut s))
}

/// Read one answer: up to its `Content-Length` when it has one (a server
/// may keep the connection open whatever the request said: chromedriver
/// does), else to the end of the stream.
fn read_answer(s: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .filter_map(|l| l.strip_prefix("content-length:"))
                .find_map(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|n| raw.len() >= end + 4 + n) {
                return raw;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return raw,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    }
}

fn parse(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let raw = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|end| raw[end + 4..].to_vec())
        .unwrap_or_default();
    Answer {
        status,
        headers,
        body: body.to_string(),
        raw,
    }
}

/// The console's own origin.
pub fn origin(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// Log in; the `Cookie` header value of the session.
pub fn login(addr: SocketAddr, name: &str, password: &str) -> Answer {
    let form = format!("username={name}&password={password}");
    let o = origin(addr);
    request(
        addr,
        "POST",
        "/login",
        &[
            ("Origin", &o),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        form.as_bytes(),
    )
}

/// A JSON POST with the session cookie and the console's Origin.
pub fn post_json(addr: SocketAddr, path: &str, cookie: &str, body: &str) -> Answer {
    let o = origin(addr);
    request(
        addr,
        "POST",
        path,
        &[
            ("Origin", &o),
            ("Cookie", cookie),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}

pub fn get(addr: SocketAddr, path: &str, cookie: &str) -> Answer {
    request(addr, "GET", path, &[("Cookie", cookie)], b"")
}

/// Add an account with `corong user add`.
pub fn add_user(st: &Station, name: &str, role: &str, password: &str) {
    let mut child = crate::common::station::corong()
        .arg("--config")
        .arg(st.path("config.toml"))
        .args(["user", "add", name, "--role", role, "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The address the daemon's web console listens on, from its log.
pub fn web_addr(d: &Daemon) -> SocketAddr {
    let text = d.wait_log("web console ready", Duration::from_secs(10));
    let line = text
        .lines()
        .find(|l| l.contains("web console ready"))
        .unwrap();
    let at = line.find("listen=").expect("listen= in the log line") + "listen=".len();
    line[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// An open event stream: `GET /api/events` read line by line.
pub struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    pub fn open(addr: SocketAddr, cookie: &str) -> Events {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let head = format!(
            "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        Events {
            reader: BufReader::new(s),
        }
    }

    /// Wait for a `data:` line that satisfies `pred`; its JSON.
    pub fn wait(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let end = Instant::now() + timeout;
        let mut line = String::new();
        let mut seen = Vec::new();
        while Instant::now() < end {
            // A timed-out read keeps what it had: the line goes on next time.
            match self.reader.read_line(&mut line) {
                Ok(0) => panic!("event stream closed; seen {seen:?}"),
                Ok(_) => {
                    let line = std::mem::take(&mut line);
                    if let Some(data) = line.trim_end().strip_prefix("data:") {
                        if let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) {
                            if pred(&v) {
                                return v;
                            }
                            seen.push(v);
                        }
                    }
                }
                Err(_) => continue,
            }
        }
        panic!("no matching event within {timeout:?}; seen {seen:?}");
    }
}

/// One part of a multipart form: a name, a file name for a file, bytes.
pub struct Part<'a> {
    pub name: &'a str,
    pub file_name: Option<&'a str>,
    pub bytes: &'a [u8],
}

/// A text field.
pub fn field<'a>(name: &'a str, value: &'a str) -> Part<'a> {
    Part {
        name,
        file_name: None,
        bytes: value.as_bytes(),
    }
}

/// `multipart/form-data` of `parts`: the Content-Type and the body.
pub fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = "corong-test-boundary-7d1f3a";
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match p.file_name {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{}\"; filename=\"{f}\"\r\nContent-Type: audio/wav\r\n\r\n",
                p.name
            ),
            None => format!("Content-Disposition: form-data; name=\"{}\"\r\n\r\n", p.name),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(p.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// `POST /api/announce` with the session cookie and `origin`.
pub fn announce(addr: SocketAddr, cookie: &str, origin: &str, parts: &[Part<'_>]) -> Answer {
    let (kind, body) = multipart(parts);
    request(
        addr,
        "POST",
        "/api/announce",
        &[
            ("Origin", origin),
            ("Cookie", cookie),
            ("Content-Type", &kind),
        ],
        &body,
    )
}
