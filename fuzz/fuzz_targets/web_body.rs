//! The bodies the web console reads, through the same functions the server
//! calls (`corong::web::body`): the first byte picks the login form, the
//! emergency's JSON, cancel/skip JSON, schedule pause/resume and speech
//! preview JSON, or the announce form's fields (the
//! rest as `name=value` lines). Nothing may panic; whatever parses must be
//! a request the control protocol's own checks accept.
#![no_main]

use corong::web::body::{self, AnnounceFields};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let parsed = match pick % 8 {
        0 => {
            let _ = body::login_form(rest);
            return;
        }
        1 => body::emergency(rest),
        2 => body::cancel(rest),
        3 => body::skip(rest),
        4 => body::schedule_pause(rest),
        5 => body::schedule_resume(rest),
        6 => body::say_preview(rest),
        _ => {
            let text = String::from_utf8_lossy(rest);
            let mut fields = AnnounceFields::default();
            let mut file = None;
            for line in text.lines() {
                let (name, value) = line.split_once('=').unwrap_or((line, ""));
                if name == "file" {
                    file = Some(std::path::PathBuf::from("/state/uploads/0.wav"));
                    continue;
                }
                if fields.field(name, value).is_err() {
                    return;
                }
            }
            fields.request(file)
        }
    };
    if let Ok(request) = parsed {
        assert!(request.validate().is_ok(), "{request:?}");
    }
});
