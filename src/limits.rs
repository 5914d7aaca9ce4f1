//! Bounds that more than one layer enforces, kept here so that each layer
//! reads them without importing the other.
//!
//! A leaf: it imports nothing from corong.

/// At most this many bytes of text to speak: in `corong say` and
/// `emergency --text` (the control protocol) and in a schedule's `text`
/// (the config), so that a schedule can say whatever an operator can.
pub const MAX_TEXT: usize = 4096;
