//! The poller against a small HTTP/1.1 server on 127.0.0.1 started here,
//! serving the test documents: conditional requests, the size cap,
//! failures and backoff, an index's documents fetched once.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::alerts::Document;

/// What the server answers for a path: status, body, ETag.
#[derive(Clone)]
struct Page {
    status: u16,
    body: Vec<u8>,
    etag: Option<String>,
    /// Claim this length whatever the body (a lying server); `u64::MAX`:
    /// send no length, the body ends at the close.
    length: Option<u64>,
}

#[derive(Default)]
struct Served {
    pages: HashMap<String, Page>,
    /// Every request: path and its If-None-Match.
    log: Vec<(String, Option<String>)>,
}

/// A server on 127.0.0.1 that answers from `Served` until the test ends.
fn server() -> (String, Arc<Mutex<Served>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = Arc::new(Mutex::new(Served::default()));
    let state = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut if_none_match = None;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("if-none-match") {
                        if_none_match = Some(v.trim().to_string());
                    }
                }
            }
            let page = {
                let mut s = state.lock().unwrap();
                s.log.push((path.clone(), if_none_match.clone()));
                s.pages.get(&path).cloned()
            };
            let page = page.unwrap_or(Page {
                status: 404,
                body: b"not here".to_vec(),
                etag: None,
                length: None,
            });
            let fresh = page.etag.is_none() || page.etag != if_none_match;
            let (status, body) = if page.status == 200 && !fresh {
                (304, Vec::new())
            } else {
                (page.status, page.body.clone())
            };
            let mut head = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
            match page.length.unwrap_or(body.len() as u64) {
                u64::MAX => {}
                n => head.push_str(&format!("Content-Length: {n}\r\n")),
            }
            if let Some(e) = &page.etag {
                head.push_str(&format!("ETag: {e}\r\n"));
            }
            if status == 301 {
                head.push_str("Location: http://10.0.0.1/elsewhere.xml\r\n");
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.flush();
            // Let the client read before the close.
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
        }
    });
    (base, served)
}

fn doc(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/alerts")
            .join(name),
    )
    .unwrap()
}

fn page(body: Vec<u8>, etag: Option<&str>) -> Page {
    Page {
        status: 200,
        body,
        etag: etag.map(str::to_string),
        length: None,
    }
}

fn feed(kind: FeedKind, url: String) -> Feed {
    Feed {
        name: "uji".into(),
        kind,
        url,
        poll: Duration::from_secs(30),
    }
}

fn poll(p: &mut Poller) -> Vec<FeedEvent> {
    let mut events = Vec::new();
    p.poll(&mut |e| events.push(e));
    events
}

#[test]
fn a_cap_feed_is_fetched_then_asked_with_its_etag() {
    let (base, served) = server();
    served
        .lock()
        .unwrap()
        .pages
        .insert("/cap.xml".into(), page(doc("nowcast.xml"), Some("\"v1\"")));
    let mut p = Poller::new(feed(FeedKind::Cap, format!("{base}/cap.xml")));
    let events = poll(&mut p);
    assert!(
        matches!(&events[0], FeedEvent::Document { read: Ok(Document::Cap(a)), bytes, .. }
            if a.identifier.ends_with(".001") && *bytes == doc("nowcast.xml")),
        "{events:?}"
    );
    assert!(matches!(events[1], FeedEvent::Polled { .. }));
    // Unchanged: a 304, no document.
    let events = poll(&mut p);
    assert_eq!(events.len(), 1, "{events:?}");
    let log = served.lock().unwrap().log.clone();
    assert_eq!(log[0], ("/cap.xml".into(), None));
    assert_eq!(log[1], ("/cap.xml".into(), Some("\"v1\"".into())));
}

#[test]
fn an_index_fetches_each_listed_document_once() {
    let (base, served) = server();
    let index = String::from_utf8(doc("nowcast-rss.xml"))
        .unwrap()
        .replace("http://127.0.0.1:1", &base);
    {
        let mut s = served.lock().unwrap();
        s.pages
            .insert("/rss.xml".into(), page(index.clone().into_bytes(), None));
        s.pages.insert(
            "/nowcast/JTM20261206001_alert.xml".into(),
            page(doc("nowcast.xml"), None),
        );
        s.pages.insert(
            "/nowcast/latihan.xml".into(),
            page(doc("exercise.xml"), None),
        );
    }
    let mut p = Poller::new(feed(FeedKind::CapRss, format!("{base}/rss.xml")));
    let events = poll(&mut p);
    let docs: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            FeedEvent::Document {
                url, read: Ok(_), ..
            } => Some(url.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(docs.len(), 2, "{events:?}");
    // The second poll reads the index again and fetches nothing else.
    let events = poll(&mut p);
    assert!(
        matches!(events.as_slice(), [FeedEvent::Polled { .. }]),
        "{events:?}"
    );
    let paths: Vec<String> = served
        .lock()
        .unwrap()
        .log
        .iter()
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(
        paths,
        [
            "/rss.xml",
            "/nowcast/JTM20261206001_alert.xml",
            "/nowcast/latihan.xml",
            "/rss.xml"
        ]
    );
}

#[test]
fn a_refused_document_is_reported_with_its_bytes_and_the_feed_goes_on() {
    let (base, served) = server();
    served
        .lock()
        .unwrap()
        .pages
        .insert("/bad.xml".into(), page(doc("doctype-entity.xml"), None));
    let mut p = Poller::new(feed(FeedKind::Cap, format!("{base}/bad.xml")));
    let events = poll(&mut p);
    match &events[0] {
        FeedEvent::Document {
            read: Err(e),
            bytes,
            ..
        } => {
            assert!(e.0.contains("DOCTYPE"), "{e}");
            assert_eq!(*bytes, doc("doctype-entity.xml"));
        }
        other => panic!("{other:?}"),
    }
    // A refused document is not a failed poll: no backoff.
    assert!(matches!(events[1], FeedEvent::Polled { .. }));
    assert_eq!(p.next_wait(), Duration::from_secs(30));
}

#[test]
fn failures_back_off_and_recover() {
    let (base, served) = server();
    let mut p = Poller::new(feed(FeedKind::InaTews, format!("{base}/warninggeof.xml")));
    let events = poll(&mut p);
    match &events[..] {
        [FeedEvent::Failed { error, .. }] => assert!(error.contains("HTTP status 404"), "{error}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.next_wait(), Duration::from_secs(60));
    let _ = poll(&mut p);
    assert_eq!(p.next_wait(), Duration::from_secs(120));
    for _ in 0..10 {
        let _ = poll(&mut p);
    }
    assert_eq!(p.next_wait(), MAX_BACKOFF);
    served
        .lock()
        .unwrap()
        .pages
        .insert("/warninggeof.xml".into(), page(doc("inatews.xml"), None));
    let events = poll(&mut p);
    assert!(
        matches!(&events[0], FeedEvent::Document { read: Ok(Document::InaTews(b)), .. } if b.districts.len() == 3),
        "{events:?}"
    );
    assert_eq!(p.next_wait(), Duration::from_secs(30));
}

#[test]
fn oversized_documents_and_redirects_are_refused() {
    let (base, served) = server();
    {
        let mut s = served.lock().unwrap();
        // Told in advance by Content-Length.
        s.pages.insert(
            "/big.xml".into(),
            Page {
                status: 200,
                body: Vec::new(),
                etag: None,
                length: Some(50 << 20),
            },
        );
        // Not told: the body runs over the cap.
        s.pages.insert(
            "/long.xml".into(),
            Page {
                length: Some(u64::MAX),
                ..page(vec![b' '; MAX_DOCUMENT_BYTES + 10], None)
            },
        );
        s.pages.insert(
            "/moved.xml".into(),
            Page {
                status: 301,
                body: Vec::new(),
                etag: None,
                length: None,
            },
        );
    }
    for (path, expected) in [
        ("/big.xml", "52428800 bytes: at most"),
        ("/long.xml", "at most 4194304 bytes"),
        (
            "/moved.xml",
            "redirected to http://10.0.0.1/elsewhere.xml: not followed",
        ),
    ] {
        let mut p = Poller::new(feed(FeedKind::Cap, format!("{base}{path}")));
        match &poll(&mut p)[..] {
            [FeedEvent::Failed { error, .. }] => {
                assert!(error.contains(expected), "{path}: {error}")
            }
            other => panic!("{path}: {other:?}"),
        }
    }
}

#[test]
fn plain_http_to_another_host_is_never_asked() {
    let mut p = Poller::new(feed(FeedKind::Cap, "http://192.0.2.1/cap.xml".into()));
    match &poll(&mut p)[..] {
        [FeedEvent::Failed { error, .. }] => assert!(error.contains("only https://"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_thread_stops_when_told() {
    let (base, served) = server();
    served
        .lock()
        .unwrap()
        .pages
        .insert("/cap.xml".into(), page(doc("nowcast.xml"), None));
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn({
        let f = feed(FeedKind::Cap, format!("{base}/cap.xml"));
        move || run(f, stop_rx, move |e| drop(tx.send(e)))
    });
    let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(matches!(first, FeedEvent::Document { .. }));
    stop_tx.send(()).unwrap();
    handle.join().unwrap();
}

#[test]
fn an_unchanged_document_without_validators_is_reported_once() {
    let (base, served) = server();
    served
        .lock()
        .unwrap()
        .pages
        .insert("/w.xml".into(), page(doc("inatews.xml"), None));
    let mut p = Poller::new(feed(FeedKind::InaTews, format!("{base}/w.xml")));
    assert_eq!(poll(&mut p).len(), 2);
    let again = poll(&mut p);
    assert!(
        matches!(again.as_slice(), [FeedEvent::Polled { .. }]),
        "{again:?}"
    );
    // Changed: reported again.
    let changed = String::from_utf8(doc("inatews.xml"))
        .unwrap()
        .replace("PD-1", "PD-2");
    served
        .lock()
        .unwrap()
        .pages
        .insert("/w.xml".into(), page(changed.into_bytes(), None));
    assert_eq!(poll(&mut p).len(), 2);
}
