//! The board's sections below the zones: announce (operators; with a
//! preview of the file or the speech before it is queued), the queue, the
//! schedules with the quiet hours, holidays and pauses (an admin pauses
//! and resumes), the receivers, the regency's kiosks (with `[mqtt]`) and
//! the as-run log.
//! Their rows are filled by `assets/app.js` from the event stream and the
//! JSON endpoints; the server writes the frames, labels and choices.

/// Text for HTML: the five characters that could close a tag or an
/// attribute, as entities (every page uses it).
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Indonesian or English.
fn t(en: bool, id: &'static str, english: &'static str) -> &'static str {
    if en {
        english
    } else {
        id
    }
}

/// A table with its caption-less header row and an empty body `id`.
fn table(id: &str, heads: &[&str]) -> String {
    let th: String = heads
        .iter()
        .map(|h| format!("<th scope=\"col\">{h}</th>"))
        .collect();
    format!("<div class=\"scroll\"><table><thead><tr>{th}</tr></thead><tbody id=\"{id}\"></tbody></table></div>")
}

/// The HTML of every section, for an admin, an operator or a viewer.
pub fn render(
    en: bool,
    operator: bool,
    admin: bool,
    zones: &[String],
    groups: &[String],
) -> String {
    let mut out = String::new();
    if operator {
        out.push_str(&announce(en, zones, groups));
    }
    let act = if operator {
        t(en, "Tindakan", "Actions")
    } else {
        ""
    };
    out.push_str(&format!(
        "<section aria-labelledby=\"queue-title\"><h2 id=\"queue-title\">{title}</h2>{table}</section>",
        title = t(en, "Antrean", "Queue"),
        table = table(
            "queue",
            &[
                "#",
                t(en, "Jenis", "Kind"),
                t(en, "Asal", "Origin"),
                t(en, "Prioritas", "Priority"),
                t(en, "Zona", "Zones"),
                t(en, "Status", "State"),
                t(en, "Berkas", "File"),
                t(en, "Mulai", "Not before"),
                act,
            ]
        ),
    ));
    out.push_str(&schedules(en, admin));
    out.push_str(&format!(
        "<section aria-labelledby=\"receivers-title\"><h2 id=\"receivers-title\">{title}</h2>{table}</section>",
        title = t(en, "Penerima (tiang)", "Receivers (poles)"),
        table = table(
            "receivers",
            &[
                t(en, "Zona", "Zone"),
                t(en, "Penerima", "Receiver"),
                t(en, "Status", "State"),
                t(en, "Hilang", "Loss"),
                "jitter",
                t(en, "Terakhir", "Last seen"),
            ]
        ),
    ));
    out.push_str(&sites(en));
    out.push_str(&log(en, zones));
    out
}

/// The regency's kiosks (`corong sites`), hidden until the event stream
/// brings them (a kiosk without `[mqtt]` has none).
fn sites(en: bool) -> String {
    format!(
        "<section id=\"sites-section\" aria-labelledby=\"sites-title\" hidden \
         data-online=\"{online}\" data-offline=\"{offline}\" data-since=\"{since}\" \
         data-this=\"{this}\" data-ok=\"{ok}\" data-broker=\"{broker}\" data-lost=\"{lost}\">\
         <h2 id=\"sites-title\">{title}</h2><p id=\"sites-broker\"></p>{table}</section>",
        title = t(en, "Kios (kecamatan)", "Kiosks (sites)"),
        online = t(en, "daring", "online"),
        offline = t(en, "luring", "offline"),
        since = t(en, "sejak", "since"),
        this = t(en, "kios ini", "this kiosk"),
        ok = t(en, "baik", "ok"),
        broker = t(en, "Broker terhubung", "Broker connected"),
        lost = t(en, "Broker TIDAK TERJANGKAU", "Broker NOT REACHED"),
        table = table(
            "sites",
            &[
                t(en, "Kios", "Kiosk"),
                t(en, "Status", "State"),
                t(en, "Zona", "Zones"),
                t(en, "Kesehatan", "Health"),
                t(en, "Peringatan tertunda", "Pending alerts"),
                t(en, "Yang diputar", "Playing"),
            ]
        ),
    )
}

/// The schedules with their next fires, holidays and pauses; an admin's
/// rows get a pause or resume button (`data-admin`, read by `app.js`).
fn schedules(en: bool, admin: bool) -> String {
    let act = if admin {
        t(en, "Tindakan", "Actions")
    } else {
        ""
    };
    format!(
        "<section id=\"schedules-section\" data-admin=\"{admin}\" aria-labelledby=\"schedules-title\">\
         <h2 id=\"schedules-title\">{title}</h2>\
         <p id=\"quiet\" data-none=\"{none}\" data-label=\"{quiet}\"></p>{table}\
         <p id=\"schedules-result\" role=\"status\" aria-live=\"polite\"></p>\
         <h3 id=\"week-title\">{week}</h3><div class=\"scroll\"><table class=\"week\" aria-labelledby=\"week-title\">\
         <thead><tr id=\"week-days\"></tr></thead><tbody><tr id=\"week\" data-none=\"{no_fires}\" data-more=\"{more}\"></tr></tbody></table></div></section>",
        week = t(en, "Tujuh hari ke depan", "The next seven days"),
        no_fires = t(en, "tidak ada", "none"),
        more = t(en, "lagi", "more"),
        title = t(en, "Jadwal", "Schedules"),
        none = t(en, "Tanpa jam tenang", "No quiet hours"),
        quiet = t(en, "Jam tenang", "Quiet hours"),
        table = table(
            "schedules",
            &[
                t(en, "Nama", "Name"),
                "cron",
                t(en, "Daftar putar", "Playlist"),
                t(en, "Zona", "Zones"),
                t(en, "Berikutnya", "Next"),
                t(en, "Libur (tidak berbunyi)", "Holidays (does not fire)"),
                t(en, "Status", "State"),
                act,
            ]
        ),
    )
}

fn checkboxes(names: &[String], class: &str) -> String {
    names
        .iter()
        .map(|n| {
            let n = escape(n);
            format!("<label class=\"{class}\"><input type=\"checkbox\" name=\"zones\" value=\"{n}\"> {n}</label>")
        })
        .collect()
}

fn announce(en: bool, zones: &[String], groups: &[String]) -> String {
    let priorities = [
        ("announcement", t(en, "pengumuman", "announcement")),
        ("live", t(en, "langsung", "live")),
        ("program", t(en, "program", "program")),
        ("background", t(en, "latar", "background")),
    ]
    .iter()
    .map(|(v, label)| format!("<option value=\"{v}\">{label}</option>"))
    .collect::<String>();
    format!(
        "<section aria-labelledby=\"announce-title\"><h2 id=\"announce-title\">{title}</h2>\
         <form id=\"announce\" class=\"panel\">\
         <label for=\"announce-file\">{file}</label>\
         <input id=\"announce-file\" name=\"file\" type=\"file\" accept=\"audio/*\">\
         <label for=\"announce-text\">{text}</label>\
         <textarea id=\"announce-text\" name=\"text\" rows=\"2\"></textarea>\
         <div class=\"row\"><button id=\"announce-listen\" type=\"button\">{listen}</button>\
         <audio id=\"announce-preview\" controls hidden aria-label=\"{preview}\"></audio></div>\
         <fieldset><legend>{where_}</legend>{zone_boxes}{group_boxes}</fieldset>\
         <label for=\"announce-priority\">{prio}</label>\
         <select id=\"announce-priority\" name=\"priority\">{priorities}</select>\
         <label for=\"announce-at\">{at}</label>\
         <input id=\"announce-at\" name=\"at\" type=\"datetime-local\">\
         <div class=\"row\"><label>{repeat} <input id=\"announce-repeat\" name=\"repeat\" type=\"number\" min=\"1\" max=\"{max_repeat}\" value=\"1\"></label>\
         <label>{interval} <input id=\"announce-interval\" name=\"interval_min\" type=\"number\" min=\"0\" max=\"{max_interval}\" placeholder=\"1\"></label></div>\
         <input type=\"hidden\" name=\"chime\" value=\"off\">\
         <label><input id=\"announce-chime\" type=\"checkbox\" name=\"chime\" value=\"on\" checked> {chime}</label>\
         <button id=\"announce-go\" type=\"submit\">{go}</button>\
         <p id=\"announce-result\" role=\"status\" aria-live=\"polite\"></p></form></section>",
        title = t(en, "Pengumuman", "Announce"),
        file = t(en, "Berkas audio", "Audio file"),
        text = t(en, "atau teks untuk dibacakan", "or text to speak"),
        where_ = t(en, "Zona dan grup", "Zones and groups"),
        zone_boxes = checkboxes(zones, "zone-choice"),
        group_boxes = checkboxes(groups, "group-choice"),
        prio = t(en, "Prioritas", "Priority"),
        at = t(en, "Waktu (kosong: sekarang)", "Time (empty: now)"),
        repeat = t(en, "Diputar (kali)", "Plays (times)"),
        interval = t(en, "Jeda antar putaran (menit)", "Minutes between plays"),
        max_repeat = crate::control::protocol::MAX_REPEAT,
        max_interval = crate::control::protocol::MAX_INTERVAL_S / 60,
        go = t(en, "Masukkan antrean", "Queue it"),
        listen = t(en, "Dengar dulu", "Listen first"),
        preview = t(en, "Pratinjau", "Preview"),
        chime = t(en, "Bunyi tanda sebelumnya", "Chime before"),
    )
}

fn log(en: bool, zones: &[String]) -> String {
    let options: String = zones
        .iter()
        .map(|z| {
            let z = escape(z);
            format!("<option value=\"{z}\">{z}</option>")
        })
        .collect();
    format!(
        "<section aria-labelledby=\"log-title\"><h2 id=\"log-title\">{title}</h2>\
         <form id=\"log-filter\" class=\"row\">\
         <label>{date} <input id=\"log-date\" name=\"date\" type=\"date\"></label>\
         <label>{zone} <select id=\"log-zone\" name=\"zone\"><option value=\"\">{all}</option>{options}</select></label>\
         <label>{origin} <input id=\"log-origin\" name=\"origin\" placeholder=\"web:sri\"></label>\
         <button id=\"log-show\" type=\"submit\">{show}</button>\
         <a id=\"log-csv\" href=\"/api/log.csv\" download>{csv}</a></form>{table}</section>",
        title = t(en, "Log siaran (bukti tayang)", "As-run log (proof of play)"),
        date = t(en, "Tanggal", "Date"),
        zone = t(en, "Zona", "Zone"),
        all = t(en, "semua", "all"),
        origin = t(en, "Asal", "Origin"),
        show = t(en, "Tampilkan", "Show"),
        csv = t(en, "Unduh CSV", "Download CSV"),
        table = table(
            "log",
            &[
                t(en, "Zona", "Zone"),
                "#",
                t(en, "Asal", "Origin"),
                t(en, "Berkas", "File"),
                t(en, "Mulai", "Started"),
                t(en, "Selesai", "Ended"),
                t(en, "Hasil", "How"),
                t(en, "Alasan", "Reason"),
            ]
        ),
    )
}
