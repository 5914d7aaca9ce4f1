//! One control-socket line, as the server handles it: decode, then
//! validate.
#![no_main]

use corong::control::protocol::Request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::from_line(data) {
        let _ = request.validate();
        // What decodes must encode again and decode to the same request.
        let line = request.to_line();
        let again = Request::from_line(line.as_bytes()).expect("a request's own line decodes");
        assert_eq!(again.to_line(), line);
    }
});
