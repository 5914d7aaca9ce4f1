//! The readers of hazard documents on the test documents in
//! `tests/data/alerts/` (written for these tests in the shapes HAZARDS.md
//! describes), and on hostile ones: huge, deep, truncated, malformed, in
//! the wrong namespace, with a DOCTYPE and entities.

use corong::alerts::cap::{self, MsgType, Status};
use corong::alerts::{inatews, read_any, rss, Document};
use corong::hazard::geo::Point;
use corong::hazard::{Severity, TsunamiLevel};

fn data(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/alerts")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn refusal(bytes: &[u8]) -> String {
    let e = cap::read(bytes).expect_err("the document was accepted").0;
    assert!(!e.contains('\n'), "a refusal is one line: {e}");
    e
}

#[test]
fn a_nowcast_reads_with_all_its_polygons() {
    let a = cap::read(&data("nowcast.xml")).unwrap();
    assert_eq!(a.identifier, "2.49.0.1.360.0.2026.12.06.15.35.001");
    assert_eq!(a.sender, "test-nowcast@corong.invalid");
    assert_eq!(a.sent_text, "2026-12-06T15:00:00+07:00");
    assert_eq!(a.sent.offset().local_minus_utc(), 7 * 3600);
    assert_eq!((a.status, a.msg_type), (Status::Actual, MsgType::Alert));
    assert_eq!(a.infos.len(), 1);
    let info = &a.infos[0];
    assert_eq!(info.language, "id");
    assert_eq!(info.event, "Hujan Lebat dan Petir");
    assert_eq!(info.severity, Severity::Severe);
    assert_eq!(info.urgency, "Immediate");
    assert_eq!(info.certainty, "Likely");
    assert!(info.effective.is_some() && info.expires.is_some() && info.onset.is_none());
    assert!(info.headline.as_deref().unwrap().starts_with("Hujan lebat"));
    assert!(info.instruction.as_deref().unwrap().contains("pohon"));
    assert_eq!(info.areas.len(), 1);
    let area = &info.areas[0];
    assert_eq!(area.desc, "Jawa Timur");
    assert_eq!(area.polygons.len(), 3);
    assert_eq!(
        area.polygons[0].points()[0],
        Point {
            lat: -8.05,
            lon: 112.29
        }
    );
    // Wlingi (about -8.08, 112.32) is in the first polygon, not the third.
    let wlingi = Point {
        lat: -8.08,
        lon: 112.32,
    };
    assert!(area.polygons[0].contains(wlingi));
    assert!(!area.polygons[2].contains(wlingi));
}

#[test]
fn update_and_cancel_name_what_they_replace() {
    let first = cap::read(&data("nowcast.xml")).unwrap();
    let up = cap::read(&data("nowcast-update.xml")).unwrap();
    assert_eq!(up.msg_type, MsgType::Update);
    assert_eq!(up.references, vec![first.identity()]);
    let cancel = cap::read(&data("nowcast-cancel.xml")).unwrap();
    assert_eq!(cancel.msg_type, MsgType::Cancel);
    assert!(cancel.infos.is_empty(), "a Cancel may carry no <info>");
    assert_eq!(cancel.references.len(), 2);
    assert_eq!(cancel.references[0], first.identity());
    assert_eq!(cancel.references[1], up.identity());
}

#[test]
fn an_exercise_has_a_circle_and_a_geocode() {
    let a = cap::read(&data("exercise.xml")).unwrap();
    assert_eq!(a.status, Status::Exercise);
    let area = &a.infos[0].areas[0];
    assert_eq!(area.circles.len(), 1);
    assert_eq!(area.circles[0].radius_km, 8.0);
    assert_eq!(area.geocodes[0].name, "kecamatan");
    assert_eq!(area.geocodes[0].value, "PANGGUNGREJO");
}

#[test]
fn an_inatews_bulletin_reads_lon_lat_and_district_levels() {
    let b = inatews::read(&data("inatews.xml")).unwrap();
    assert_eq!(b.event_id, "20261206153012");
    assert_eq!(b.subject, "PD-1");
    // The file writes lon,lat.
    assert_eq!(
        b.epicenter,
        Some(Point {
            lat: -9.85,
            lon: 112.10
        })
    );
    assert_eq!(b.magnitude, Some(7.4));
    assert_eq!(
        b.origin_time.unwrap().to_rfc3339(),
        "2026-12-06T15:30:12+07:00"
    );
    let levels: Vec<(&str, TsunamiLevel)> = b
        .districts
        .iter()
        .map(|d| (d.district.as_str(), d.level))
        .collect();
    assert_eq!(
        levels,
        [
            ("PANTAI-BLITAR", TsunamiLevel::Siaga),
            ("PANTAI-MALANG", TsunamiLevel::Waspada),
            ("PANTAI-TULUNGAGUNG", TsunamiLevel::Waspada)
        ]
    );
    assert_eq!(b.highest_level(), Some(TsunamiLevel::Siaga));
    assert_eq!(
        b.districts[0].arrival.as_deref(),
        Some("06-12-26 15:58:00 WIB")
    );
    assert!(matches!(
        read_any(&data("inatews.xml")).unwrap(),
        Document::InaTews(_)
    ));
    assert!(matches!(
        read_any(&data("nowcast.xml")).unwrap(),
        Document::Cap(_)
    ));
}

#[test]
fn an_rss_index_lists_its_documents() {
    let items = rss::read(&data("nowcast-rss.xml")).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].link,
        "http://127.0.0.1:1/nowcast/JTM20261206001_alert.xml"
    );
    assert_eq!(
        items[0].guid.as_deref(),
        Some("2.49.0.1.360.0.2026.12.06.15.35.001")
    );
    assert_eq!(items[1].guid, None);
    let e =
        rss::read(b"<rss><channel><item><link>file:///etc/passwd</link></item></channel></rss>")
            .unwrap_err();
    assert!(e.0.contains("rss/channel/item[1]/link"), "{e}");
    let e = rss::read(&data("nowcast.xml")).unwrap_err();
    assert!(e.0.contains("root is <alert>"), "{e}");
}

#[test]
fn a_doctype_with_entities_is_refused_before_anything_expands() {
    let e = refusal(&data("doctype-entity.xml"));
    assert!(e.starts_with("line 2: a DOCTYPE is refused"), "{e}");
    // An entity without a DOCTYPE is refused too.
    let doc = String::from_utf8(data("nowcast.xml"))
        .unwrap()
        .replace("<event>Hujan", "<event>&ext;Hujan");
    let e = refusal(doc.as_bytes());
    assert!(e.contains("line 13: the entity `&ext;` is refused"), "{e}");
}

#[test]
fn the_wrong_namespace_is_not_cap_1_2() {
    let e = refusal(&data("wrong-namespace.xml"));
    assert!(e.contains("cap:1.1") && e.contains("CAP 1.2's is"), "{e}");
    let e = refusal(b"<alert><identifier>x</identifier></alert>");
    assert!(e.contains("namespace `(none)`"), "{e}");
}

#[test]
fn a_truncated_document_is_refused_naming_the_open_element() {
    let whole = data("nowcast.xml");
    let cut = &whole[..whole.len() * 2 / 3];
    let e = refusal(cut);
    assert!(e.contains("truncated") || e.contains("malformed"), "{e}");
    // Every cut of the document is refused or read, never a panic.
    for n in (0..whole.len()).step_by(7) {
        let _ = cap::read(&whole[..n]);
    }
}

#[test]
fn a_fifty_megabyte_document_is_refused_by_its_size() {
    let mut big = data("nowcast.xml");
    let pad = b"<!-- padding padding padding padding padding padding -->\n";
    while big.len() < 50 << 20 {
        big.extend_from_slice(pad);
    }
    let started = std::time::Instant::now();
    let e = refusal(&big);
    assert!(e.contains("bytes: at most"), "{e}");
    // Refused by its length, not after reading it: well under a second
    // even in a debug build (a bound on work, not a benchmark).
    assert!(started.elapsed().as_secs() < 5);
}

#[test]
fn deep_nesting_and_element_floods_are_refused() {
    let deep = format!(
        "<alert xmlns=\"{}\">{}{}</alert>",
        cap::CAP_NAMESPACE,
        "<x>".repeat(10_000),
        "</x>".repeat(10_000)
    );
    assert!(refusal(deep.as_bytes()).contains("nested deeper than"));
    let flood = format!(
        "<alert xmlns=\"{}\">{}</alert>",
        cap::CAP_NAMESPACE,
        "<info/>".repeat(60_000)
    );
    assert!(refusal(flood.as_bytes()).contains("more than 50000 elements"));
}

/// Each field rule of the spec is checked, and the refusal names it.
#[test]
fn spec_violations_name_the_field() {
    let base = String::from_utf8(data("nowcast.xml")).unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("<sent>2026-12-06T15:00:00+07:00</sent>", "<sent>2026-12-06 15:00</sent>", "alert/sent"),
        ("<status>Actual</status>", "<status>Real</status>", "alert/status"),
        ("<msgType>Alert</msgType>", "", "alert/msgType is missing"),
        ("<scope>Public</scope>", "<scope>Everyone</scope>", "alert/scope"),
        ("<severity>Severe</severity>", "<severity>severe</severity>", "alert/info[1]/severity"),
        ("<urgency>Immediate</urgency>", "<urgency>Now</urgency>", "alert/info[1]/urgency"),
        ("<event>Hujan Lebat dan Petir</event>", "<event> </event>", "alert/info[1]/event is missing"),
        ("<category>Met</category>", "<category>Weather</category>", "alert/info[1]/category"),
        ("<identifier>2.49", "<identifier>a b 2.49", "alert/identifier"),
        ("<expires>2099-12-06T17:00:00+07:00</expires>", "<expires>soon</expires>", "alert/info[1]/expires"),
        (
            " -8.05,112.29</polygon>\n      <polygon>-8.10",
            "</polygon>\n      <polygon>-8.10",
            "alert/info[1]/area[1]/polygon[1]: a polygon needs at least 4 points, the first equal to the last",
        ),
        ("-7.60,111.90 -7.60,111.95", "-97.60,111.90 -7.60,111.95", "alert/info[1]/area[1]/polygon[3]: `-97.60,111.90`"),
        ("<areaDesc>Jawa Timur</areaDesc>", "", "alert/info[1]/area[1]/areaDesc is missing"),
    ];
    for (from, to, expected) in cases {
        assert!(base.contains(from), "the base lacks {from}");
        let doc = base.replacen(from, to, 1);
        let e = refusal(doc.as_bytes());
        assert!(e.contains(expected), "{from} -> {to}: {e}");
        assert!(e.starts_with("line "), "{e}");
    }
    // An Update must say what it updates.
    let doc = base.replace("<msgType>Alert</msgType>", "<msgType>Update</msgType>");
    assert!(refusal(doc.as_bytes()).contains("alert/references"));
    let circle = String::from_utf8(data("exercise.xml"))
        .unwrap()
        .replace("-8.33,112.21 8", "-8.33,112.21");
    assert!(refusal(circle.as_bytes()).contains("circle[1]"));
}

#[test]
fn inatews_refusals_name_the_field() {
    let base = String::from_utf8(data("inatews.xml")).unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (
            "<level>SIAGA</level>",
            "<level>BAHAYA</level>",
            "alert/info/wzarea[1]/level",
        ),
        (
            "112.10,-9.85",
            "-9.85,212.10",
            "alert/info/point/coordinates",
        ),
        (
            "<eventid>20261206153012</eventid>",
            "",
            "alert/info/eventid is missing",
        ),
        (
            "<time>15:30:12 WIB</time>",
            "<time>15:30 WIB</time>",
            "alert/info/time",
        ),
        (
            "<magnitude>7.4</magnitude>",
            "<magnitude>besar</magnitude>",
            "alert/info/magnitude",
        ),
    ];
    for (from, to, expected) in cases {
        let e = inatews::read(base.replacen(from, to, 1).as_bytes())
            .unwrap_err()
            .0;
        assert!(e.contains(expected), "{from} -> {to}: {e}");
    }
}

/// A poor man's fuzzing, run with the tests (cargo-fuzz runs the real one,
/// `fuzz/run.sh 60 alerts`): every test document with bytes overwritten,
/// inserted and removed at pseudo-random places is read or refused in one
/// line, never a panic.
#[test]
fn mutated_documents_are_read_or_refused_in_one_line() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let names = [
        "nowcast.xml",
        "nowcast-update.xml",
        "nowcast-cancel.xml",
        "exercise.xml",
        "expired.xml",
        "nowcast-rss.xml",
        "inatews.xml",
    ];
    let alphabet = b"<>/&;#x=\"' ,.-0123456789abcdefz!?[]\n\xff\xc3";
    let mut refused = 0;
    for name in names {
        let original = data(name);
        for _ in 0..400 {
            let mut doc = original.clone();
            for _ in 0..1 + next(4) {
                let at = next(doc.len());
                match next(3) {
                    0 => doc[at] = alphabet[next(alphabet.len())],
                    1 => doc.insert(at, alphabet[next(alphabet.len())]),
                    _ => {
                        doc.remove(at);
                    }
                }
            }
            match read_any(&doc) {
                Ok(_) => {}
                Err(e) => {
                    assert!(!e.0.contains('\n'), "{e}");
                    refused += 1;
                }
            }
            let _ = rss::read(&doc);
        }
    }
    // Most single mutations of a strict format are refused: the test did
    // reach the checks.
    assert!(refused > 1000, "{refused}");
}
