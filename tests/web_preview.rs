//! "Listen first" on the console's announce form: `POST /api/say/preview`
//! answers the text's speech as a WAV (espeak-ng, rendered by the daemon
//! beside its loop as `say` renders), queues nothing, needs an operator,
//! and refuses an over-long text in one line. Only 127.0.0.1.

mod common;
#[path = "web_support/http.rs"]
mod http;

use std::net::UdpSocket;

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
