//! "Listen first" on the console's announce form: `POST /api/say/preview`
//! answers the text's speech as a WAV (espeak-ng, rendered by the daemon
//! beside its loop as `say` renders), queues nothing, needs an operator,
//! and refuses an over-long text in one line. And the emergency dialog's
//! prepared message is rendered when the console starts, so the first
//! confirm finds it in the cache. Only 127.0.0.1.

mod common;
#[path = "web_support/http.rs"]
mod http;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::require_peer;
use common::station::{free_port_pair, Station};
use http::*;

const PASSWORD: &str = "kelud-siaga-3";

#[test]
fn the_preview_is_the_texts_speech_for_an_operator_and_queues_nothing() {
    if !require_peer("espeak-ng") {
        return;
    }
    let port = free_port_pair();
    let _rtp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let st = Station::new();
    st.config(&format!(
        "[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{port}\"]\ncodec = \"pcmu\"\n\n\
         [web]\nlisten = \"127.0.0.1:0\"\n"
    ));
    add_user(&st, "wati", "viewer", PASSWORD);
    add_user(&st, "sri", "operator", PASSWORD);
    let d = st.start();
    let addr = web_addr(&d);
    let text = r#"{"text":"Perhatian, air sungai Brantas naik."}"#;

    let wati = login(addr, "wati", PASSWORD).cookie().unwrap();
    let a = post_json(addr, "/api/say/preview", &wati, text);
    assert_eq!(a.status, 403, "{a:?}");
    assert_eq!(a.json()["code"], "denied");

    let sri = login(addr, "sri", PASSWORD).cookie().unwrap();
    let a = post_json(addr, "/api/say/preview", &sri, text);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("content-type"), Some("audio/wav"));
    let mut wav = hound::WavReader::new(std::io::Cursor::new(&a.raw[..])).expect("a WAV");
    let spec = wav.spec();
    let samples: Vec<f64> = match spec.sample_format {
        hound::SampleFormat::Int => wav
            .samples::<i32>()
            .map(|s| s.unwrap() as f64 / (1u64 << (spec.bits_per_sample - 1)) as f64)
            .collect(),
        hound::SampleFormat::Float => wav.samples::<f32>().map(|s| s.unwrap() as f64).collect(),
    };
    let seconds = samples.len() as f64 / spec.sample_rate as f64 / spec.channels as f64;
    let rms = (samples.iter().map(|s| s * s).sum::<f64>() / samples.len() as f64).sqrt();
    assert!(seconds > 1.0, "{seconds} s of speech");
    assert!(rms > 0.01, "the speech is silent: rms {rms}");

    // Played nowhere: nothing was queued, nothing is in the as-run log.
    let (_, queue, _) = st.client(&["queue", "--json"]);
    let queue: serde_json::Value = serde_json::from_str(&queue).unwrap();
    assert!(queue["jobs"].as_array().unwrap().is_empty(), "{queue}");
    let (_, log, _) = st.client(&["log", "--json"]);
    assert!(!log.contains("alun-alun"), "{log}");

    // Longer than `say` takes: 400; longer than any JSON body: 413. One
    // line each.
    let long = format!(r#"{{"text":"{}"}}"#, "a".repeat(5000));
    let a = post_json(addr, "/api/say/preview", &sri, &long);
    assert_eq!(a.status, 400, "{a:?}");
    let error = a.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("at most 4096") && !error.contains('\n'),
        "{error}"
    );
    let huge = format!(r#"{{"text":"{}"}}"#, "a".repeat(20_000));
    let a = post_json(addr, "/api/say/preview", &sri, &huge);
    assert_eq!(a.status, 413, "{a:?}");
    assert!(!a.json()["error"].as_str().unwrap().contains('\n'));
    assert!(d.stop().success());
}

#[test]
fn the_emergency_dialogs_message_is_in_the_speech_cache_before_the_first_confirm() {
    if !require_peer("espeak-ng") {
        return;
    }
    let port = free_port_pair();
    let rtp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    rtp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let st = Station::new();
    st.config(&format!(
        "[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{port}\"]\ncodec = \"pcmu\"\n\n\
         [web]\nlisten = \"127.0.0.1:0\"\n"
    ));
    add_user(&st, "sri", "operator", PASSWORD);
    let d = st.start();
    let addr = web_addr(&d);
    // Both languages' messages, before anyone asked for them.
    d.wait_log_count(
        "the emergency message's speech is ready",
        2,
        Duration::from_secs(20),
    );

    // The message as the board's dialog holds it, sent as its confirm does.
    let sri = login(addr, "sri", PASSWORD).cookie().unwrap();
    let board = get(addr, "/", &sri).body;
    let text = board
        .split("id=\"emergency-text\" rows=\"3\">")
        .nth(1)
        .and_then(|rest| rest.split("</textarea>").next())
        .expect("the dialog's message on the board")
        .to_string();
    assert!(text.starts_with("Perhatian."), "{text}");
    let sent = Instant::now();
    let a = post_json(
        addr,
        "/api/emergency",
        &sri,
        &serde_json::json!({ "text": text }).to_string(),
    );
    assert_eq!(a.status, 200, "{a:?}");
    // The alert is on the zone ...
    let mut buf = [0u8; 2048];
    loop {
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "no audio on the zone"
        );
        if let Ok(n) = rtp.recv(&mut buf) {
            if buf[12..n].iter().filter(|b| (*b & 0x7F) < 0x60).count() > 20 {
                break;
            }
        }
    }
    // ... and its speech came from the cache: espeak-ng ran only for the
    // two prepared messages.
    let rendered = d.log_lines(&["speech rendered"]);
    assert_eq!(rendered.len(), 3, "{rendered:?}");
    assert!(rendered[2].contains("cached=true"), "{rendered:?}");
    assert_eq!(
        rendered
            .iter()
            .filter(|l| l.contains("cached=false"))
            .count(),
        2,
        "{rendered:?}"
    );
    let a = post_json(addr, "/api/emergency/stop", &sri, "{}");
    assert_eq!(a.status, 200, "{a:?}");
    assert!(d.stop().success());
}
