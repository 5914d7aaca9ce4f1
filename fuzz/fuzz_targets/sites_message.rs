//! What a kiosk reads from the regency's broker, on arbitrary bytes: an
//! order, a state, a presence, an ack (`sites::message`). Nothing may
//! panic; an accepted order asks only what a kiosk carries out; a refusal
//! is one line; an oversized payload is refused before serde reads it.
#![no_main]

use corong::control::protocol::{file_ref_hash, Request};
use corong::sites::message::{self, Ack, BadPayload, Presence, MAX_PAYLOAD};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match message::parse_order(data) {
        Ok(order) => {
            assert!(data.len() <= MAX_PAYLOAD);
            // Text, a stop, or files named by content only (each with its
            // size and name in the order).
            match &order.request {
                Request::Say { .. } | Request::Emergency { file: None, .. } => {
                    assert!(order.files.is_empty())
                }
                Request::Announce { files, .. } => {
                    assert!(files.iter().all(|f| file_ref_hash(f).is_some()))
                }
                Request::Emergency { file: Some(f), .. } => assert!(file_ref_hash(f).is_some()),
                other => panic!("an order of `{}` was accepted", other.name()),
            }
            assert!(order.request.validate_by_content().is_ok());
        }
        Err(e) => {
            assert!(!e.to_string().contains('\n'), "a refusal of more than one line: {e}");
            if data.len() > MAX_PAYLOAD {
                assert!(matches!(e, BadPayload::TooLarge(_)));
            }
        }
    }
    if let Ok(state) = message::parse_state(data) {
        assert!(data.len() <= message::MAX_STATE_PAYLOAD);
        assert!(state.zones.len() <= message::MAX_ZONES);
    }
    let _ = message::parse::<Presence>(data);
    let _ = message::parse::<Ack>(data);
});
