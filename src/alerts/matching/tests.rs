//! Matching on a small Blitar: zones with approximate kecamatan
//! positions, the test documents of `tests/data/alerts/`.

use std::path::Path;

use chrono::DateTime;

use super::*;
use crate::alerts::{cap, inatews};
use crate::config::{load_str, Config};

/// Approximate positions of a few kecamatan (rounded; enough for tests).
const CONFIG: &str = r#"
[[zones]]
name = "wlingi"
wav = "w.wav"
location = [-8.08, 112.32]

[[zones]]
name = "kanigoro"
wav = "k.wav"
location = [-8.13, 112.22]

[[zones]]
name = "panggungrejo"
wav = "p.wav"
location = [-8.28, 112.33]
areas = ["PANTAI-BLITAR", "panggungrejo"]

[[zones]]
name = "nglegok"
wav = "n.wav"
location = [-7.955, 112.29]

[[zones]]
name = "gandusari"
wav = "g.wav"
location = [-8.00, 112.33]

[[zones]]
name = "pos-kelud"
wav = "pk.wav"
location = [-7.94, 112.30]

[[zones]]
name = "kota"
wav = "o.wav"

[groups]
kantor = ["kota"]

[alerts]
mode = "confirm"

[[alerts.feeds]]
name = "inatews"
kind = "inatews"
url = "http://127.0.0.1:9/warninggeof.xml"
poll_s = 5

[[alerts.feeds]]
name = "bmkg"
kind = "cap-rss"
url = "https://127.0.0.1/rss.xml"

[[alerts.playbooks]]
name = "tsunami-siaga"
when = { feed = "inatews", level = "SIAGA" }
text = "Peringatan tsunami {level}: {instruction}"
mode = "auto"

[[alerts.playbooks]]
name = "tsunami-waspada"
when = { feed = "inatews", level = "WASPADA" }
text = "Waspada tsunami. {instruction}"

[[alerts.playbooks]]
name = "hujan-lebat"
when = { event = "hujan lebat*", severity = ["Severe", "Extreme"] }
text = "Peringatan dari BMKG: {headline}. {instruction}"
repeat_every_s = 120

[[alerts.playbooks]]
name = "cuaca-lain"
when = { event = "*" }
text = "{event} {missing_is_not_allowed}"

[[volcanoes]]
name = "kelud"
location = [-7.9300, 112.3080]
rings_km = { 2 = 2.0, 3 = 5.0, 4 = 10.0 }

[[alerts.playbooks]]
name = "kelud-awas"
when = { volcano = "kelud", level = 4 }
text = "{headline}. Kosongkan radius sepuluh kilometer."
zones = "matched"

[[alerts.playbooks]]
name = "kelud-siaga"
when = { volcano = "kelud", level = 3 }
file = "media/kelud-siaga.wav"
zones = ["kantor", "nglegok"]
priority = "announcement"
"#;

fn config() -> Config {
    let text = CONFIG.replace(" {missing_is_not_allowed}", "");
    load_str(&text, Path::new("/tmp/corong-test/config.toml")).unwrap()
}

fn doc(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/alerts")
            .join(name),
    )
    .unwrap()
}

fn now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-12-06T15:05:00+07:00").unwrap()
}

#[test]
fn globs_match_like_a_shell_without_case() {
    assert!(glob_match("Hujan Lebat*", "hujan lebat dan petir"));
    assert!(glob_match("*petir", "Hujan Lebat dan Petir"));
    assert!(glob_match("h?jan*", "Hujan"));
    assert!(glob_match("*", ""));
    assert!(!glob_match("Hujan Lebat*", "Hujan Sedang"));
    assert!(!glob_match("a", "ab"));
    // Many stars do not blow up.
    assert!(!glob_match(&"*a".repeat(50), &"a".repeat(40)));
}

#[test]
fn a_nowcast_reaches_the_zones_inside_its_polygons() {
    let config = config();
    let alert = cap::read(&doc("nowcast.xml")).unwrap();
    let out = match_cap(&config, &alert, Some("bmkg"), now());
    assert_eq!(out.covered, ["wlingi", "kanigoro"]);
    assert_eq!(out.held, None);
    let [d] = out.decisions.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(d.playbook, "hujan-lebat");
    assert_eq!(d.zones, ["wlingi", "kanigoro"]);
    assert_eq!(d.mode, AlertMode::Confirm);
    assert_eq!(d.priority, Priority::EMERGENCY);
    assert_eq!(d.repeat_every, Some(Duration::from_secs(120)));
    assert_eq!(
        d.message,
        Spoken::Text(
            "Peringatan dari BMKG: Hujan lebat disertai petir di sebagian Kabupaten Blitar. \
             Hindari berteduh di bawah pohon dan waspadai genangan"
                .into()
        )
    );
}

#[test]
fn severity_narrows_and_the_next_playbook_takes_the_rest() {
    let config = config();
    let text = String::from_utf8(doc("nowcast.xml")).unwrap().replace(
        "<severity>Severe</severity>",
        "<severity>Moderate</severity>",
    );
    let alert = cap::read(text.as_bytes()).unwrap();
    let out = match_cap(&config, &alert, None, now());
    assert_eq!(out.decisions[0].playbook, "cuaca-lain");
    assert_eq!(
        out.decisions[0].message,
        Spoken::Text("Hujan Lebat dan Petir".into())
    );
}

#[test]
fn geocodes_and_circles_match_and_exercises_are_held() {
    let config = config();
    let alert = cap::read(&doc("exercise.xml")).unwrap();
    let out = match_cap(&config, &alert, None, now());
    // The circle (8 km around -8.33, 112.21) holds no zone's location; the
    // geocode PANGGUNGREJO is in panggungrejo's areas.
    assert_eq!(out.covered, ["panggungrejo"]);
    assert!(out.held.unwrap().contains("Exercise"));
    // Widened to 25 km the circle holds kanigoro (22 km away) and
    // panggungrejo (14 km), not wlingi (30 km).
    let wide = String::from_utf8(doc("exercise.xml"))
        .unwrap()
        .replace("-8.33,112.21 8", "-8.33,112.21 25");
    let out = match_cap(&config, &cap::read(wide.as_bytes()).unwrap(), None, now());
    assert_eq!(out.covered, ["kanigoro", "panggungrejo"]);
}

/// An Exercise plays only on the zones marked `drill = true` among those
/// it covers, framed as a drill and below a real warning's priority.
#[test]
fn an_exercise_is_a_drill_on_the_drill_zones_only() {
    let text = CONFIG
        .replace(" {missing_is_not_allowed}", "")
        .replace(
            "areas = [\"PANTAI-BLITAR\", \"panggungrejo\"]",
            "areas = [\"PANTAI-BLITAR\", \"panggungrejo\"]\ndrill = true",
        )
        .replace(
            "location = [-8.08, 112.32]",
            "location = [-8.08, 112.32]\ndrill = true",
        );
    let config = load_str(&text, Path::new("/tmp/corong-test/config.toml")).unwrap();
    assert!(config.place("wlingi").drill && !config.place("kanigoro").drill);
    let wide = String::from_utf8(doc("exercise.xml"))
        .unwrap()
        .replace("-8.33,112.21 8", "-8.33,112.21 25");
    let out = match_cap(&config, &cap::read(wide.as_bytes()).unwrap(), None, now());
    // Covered: kanigoro and panggungrejo; marked: wlingi and panggungrejo.
    assert_eq!(out.covered, ["kanigoro", "panggungrejo"]);
    assert_eq!(out.held, None);
    assert_eq!(out.decisions.len(), 1);
    let d = &out.decisions[0];
    assert_eq!(d.zones, ["panggungrejo"]);
    assert_eq!(
        d.message,
        Spoken::Text(format!(
            "{DRILL_OPENING} Latihan Evakuasi Tsunami {DRILL_CLOSING}"
        ))
    );
    assert!(d.priority < Priority::EMERGENCY, "{}", d.priority);
    // The same drill covering no marked zone plays nowhere.
    let narrow = wide.replace("-8.33,112.21 25", "-8.13,112.22 1").replace(
        "<geocode><valueName>kecamatan</valueName><value>PANGGUNGREJO</value></geocode>",
        "",
    );
    let out = match_cap(&config, &cap::read(narrow.as_bytes()).unwrap(), None, now());
    assert_eq!(out.covered, ["kanigoro"]);
    assert!(out.decisions.is_empty());
    assert!(out.held.unwrap().contains("drill = true"));
    // An Actual alert is not framed, and keeps its zones and priority.
    let actual = wide.replace("<status>Exercise</status>", "<status>Actual</status>");
    let out = match_cap(&config, &cap::read(actual.as_bytes()).unwrap(), None, now());
    assert_eq!(out.decisions[0].zones, ["kanigoro", "panggungrejo"]);
    assert_eq!(
        out.decisions[0].message,
        Spoken::Text("Latihan Evakuasi Tsunami".into())
    );
}

#[test]
fn an_alert_without_geometry_or_codes_covers_every_zone() {
    let config = config();
    let alert = cap::read(&doc("expired.xml")).unwrap();
    let out = match_cap(&config, &alert, None, now());
    assert_eq!(out.covered.len(), config.zones.len());
    assert!(out
        .held
        .unwrap()
        .starts_with("expired at 2020-01-01T12:00:00+07:00"));
}

#[test]
fn a_cancel_is_held_and_starts_nothing_of_its_own() {
    let config = config();
    let alert = cap::read(&doc("nowcast-cancel.xml")).unwrap();
    let out = match_cap(&config, &alert, None, now());
    assert!(out.decisions.is_empty() && out.covered.is_empty());
    assert!(out.held.unwrap().starts_with("a Cancel"));
}

#[test]
fn a_tsunami_bulletin_starts_each_level_on_its_own_zones() {
    let mut config = config();
    // kota covers the WASPADA district.
    config.places.insert(
        "kota".into(),
        Place {
            location: None,
            areas: vec!["PANTAI-MALANG".into()],
            drill: false,
        },
    );
    let b = inatews::read(&doc("inatews.xml")).unwrap();
    let out = match_inatews(&config, &b, Some("inatews"));
    assert_eq!(out.covered, ["panggungrejo", "kota"]);
    let got: Vec<(&str, &[String], &str, AlertMode)> = out
        .decisions
        .iter()
        .map(|d| {
            (
                d.playbook.as_str(),
                d.zones.as_slice(),
                d.level.as_str(),
                d.mode,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "tsunami-siaga",
                &["panggungrejo".to_string()][..],
                "SIAGA",
                AlertMode::Auto
            ),
            (
                "tsunami-waspada",
                &["kota".to_string()][..],
                "WASPADA",
                AlertMode::Confirm
            ),
        ]
    );
    assert_eq!(
        out.decisions[0].message,
        Spoken::Text(
            "Peringatan tsunami SIAGA: Warga pesisir segera menjauhi pantai menuju tempat tinggi"
                .into()
        )
    );
    // From another feed, no playbook answers.
    assert!(match_inatews(&config, &b, Some("bmkg"))
        .decisions
        .is_empty());
}

#[test]
fn volcano_levels_reach_the_zones_within_their_rings() {
    let config = config();
    let kelud = config.volcano("kelud").unwrap();
    // From the crater: pos-kelud about 1.4 km, nglegok 3.4 km, gandusari
    // 8.1 km, wlingi 16.7 km.
    let level = |n| VolcanoLevel::new(n).unwrap();
    assert_eq!(volcano_zones(&config, kelud, level(2)), ["pos-kelud"]);
    assert_eq!(
        volcano_zones(&config, kelud, level(3)),
        ["nglegok", "pos-kelud"]
    );
    assert_eq!(
        volcano_zones(&config, kelud, level(4)),
        ["nglegok", "gandusari", "pos-kelud"]
    );
    assert!(volcano_zones(&config, kelud, level(1)).is_empty());
    let awas = match_volcano(&config, kelud, level(4));
    assert_eq!(awas.decisions[0].playbook, "kelud-awas");
    assert_eq!(
        awas.decisions[0].message,
        Spoken::Text("Gunung Kelud status Awas. Kosongkan radius sepuluh kilometer.".into())
    );
    let siaga = match_volcano(&config, kelud, level(3));
    let d = &siaga.decisions[0];
    // Named zones, not the ring: the group's kota and nglegok.
    assert_eq!(d.zones, ["nglegok", "kota"]);
    assert_eq!(d.priority, Priority::ANNOUNCEMENT);
    assert_eq!(
        d.message,
        Spoken::File("/tmp/corong-test/media/kelud-siaga.wav".into())
    );
    assert!(match_volcano(&config, kelud, level(2)).decisions.is_empty());
    assert!(match_volcano(&config, kelud, level(1)).held.is_some());
}

#[test]
fn an_unknown_placeholder_is_a_config_error_on_its_line() {
    let e = load_str(CONFIG, Path::new("/tmp/corong-test/config.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`{missing_is_not_allowed}`"), "{e}");
    assert!(e.contains("config.toml:"), "{e}");
}
