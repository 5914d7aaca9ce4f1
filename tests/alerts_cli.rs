//! `corong alerts test FILE`: the dry run an operator uses to check a
//! playbook against a document, with no daemon running.

use std::path::{Path, PathBuf};
use std::process::Command;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/alerts")
        .join(name)
}

const CONFIG: &str = r#"
[daemon]
control_socket = "run/no-daemon.sock"

[[zones]]
name = "wlingi"
wav = "w.wav"
location = [-8.08, 112.32]

[[zones]]
name = "pantai"
wav = "p.wav"
location = [-8.33, 112.21]
areas = ["PANTAI-BLITAR"]

[[alerts.feeds]]
name = "inatews"
kind = "inatews"
url = "http://127.0.0.1:9/warninggeof.xml"

[[alerts.playbooks]]
name = "hujan-lebat"
when = { event = "Hujan Lebat*", severity = ["Severe", "Extreme"] }
text = "Peringatan dari BMKG: {headline}. {instruction}"
repeat_every_s = 120

[[alerts.playbooks]]
name = "tsunami-siaga"
when = { feed = "inatews", level = "SIAGA" }
text = "Tsunami {level}. {instruction}"
mode = "auto"
"#;

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_corong"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), CONFIG).unwrap();
    dir
}

#[test]
fn a_nowcast_names_its_playbook_zones_and_words_without_a_daemon() {
    let dir = setup();
    let file = data("nowcast.xml");
    let (code, out, err) = run(
        dir.path(),
        &["alerts", "test", file.to_str().unwrap(), "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "cap");
    assert_eq!(v["identifier"], "2.49.0.1.360.0.2026.12.06.15.35.001");
    assert_eq!(v["infos"][0]["areas"][0]["polygons"], 3);
    assert_eq!(v["covered"], serde_json::json!(["wlingi"]));
    let d = &v["decisions"][0];
    assert_eq!(d["playbook"], "hujan-lebat");
    assert_eq!(d["zones"], serde_json::json!(["wlingi"]));
    assert_eq!(d["mode"], "confirm");
    assert_eq!(d["repeat_every_s"], 120);
    assert!(d["text"]
        .as_str()
        .unwrap()
        .starts_with("Peringatan dari BMKG: Hujan lebat disertai petir"));
    assert_eq!(v["held"], serde_json::Value::Null);
    assert_eq!(v["started"], false);
    // Nothing was started, and no daemon was asked: no socket, no state.
    assert!(!dir.path().join("run").exists());
    assert!(!dir.path().join("state").exists());

    let (code, out, _) = run(dir.path(), &["alerts", "test", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("playbook `hujan-lebat` (confirm, priority emergency, every 120 s until it ends): zones wlingi"), "{out}");
    assert!(out.contains("nothing was started"), "{out}");
}

#[test]
fn a_tsunami_bulletin_matches_by_district_through_the_feed() {
    let dir = setup();
    let file = data("inatews.xml");
    let (code, out, err) = run(
        dir.path(),
        &["alerts", "test", file.to_str().unwrap(), "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "inatews");
    assert_eq!(v["feed"], "inatews");
    assert_eq!(v["epicenter"], serde_json::json!([-9.85, 112.10]));
    assert_eq!(v["covered"], serde_json::json!(["pantai"]));
    assert_eq!(v["decisions"][0]["playbook"], "tsunami-siaga");
    assert_eq!(v["decisions"][0]["mode"], "auto");
    assert_eq!(
        v["decisions"][0]["text"],
        "Tsunami SIAGA. Warga pesisir segera menjauhi pantai menuju tempat tinggi"
    );
}

#[test]
fn held_and_refused_documents_say_why() {
    let dir = setup();
    let expired = data("expired.xml");
    let (code, out, _) = run(dir.path(), &["alerts", "test", expired.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("held: expired at 2020-01-01T12:00:00+07:00"),
        "{out}"
    );
    let hostile = data("doctype-entity.xml");
    let (code, out, err) = run(dir.path(), &["alerts", "test", hostile.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("doctype-entity.xml: refused: line 2: a DOCTYPE is refused"),
        "{err}"
    );
    let (code, _, err) = run(dir.path(), &["alerts", "test", "/nonexistent.xml"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent.xml"), "{err}");
}

#[test]
fn config_errors_in_alerts_name_file_line_and_column() {
    let dir = setup();
    let bad = CONFIG
        .replace("level = \"SIAGA\"", "level = \"BAHAYA\"")
        .replace("location = [-8.08, 112.32]", "location = [-98.08, 112.32]")
        .replace("http://127.0.0.1:9/", "http://www.bmkg.go.id/");
    std::fs::write(dir.path().join("config.toml"), bad).unwrap();
    let (code, out, err) = run(dir.path(), &["check"]);
    let err = out + &err;
    assert_eq!(code, 2, "{err}");
    for expected in [
        "config.toml:8:12: error: `location` [-98.08, 112.32] is out of range",
        "config.toml:19:7: error: feed `url` `http://www.bmkg.go.id/warninggeof.xml`: expected an https:// URL",
        "config.toml:29:36: error: `level` \"BAHAYA\": expected \"AWAS\", \"SIAGA\" or \"WASPADA\"",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(!err.contains("not among"), "one mistake, one error:\n{err}");
}
