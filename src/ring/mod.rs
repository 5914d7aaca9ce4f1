//! The contract between the stages of the audio path, which run on
//! different threads: what a producer (a decoder worker, [`crate::media`])
//! and a consumer (the engine, [`crate::engine`]) agree on, so that neither
//! depends on the other.
//!
//! - [`audio`]: the voice ring: shared chunks of decoded audio, item
//!   markers, and the atomics the two ends of one voice share.
//! - [`doorbell`]: how a thread that sleeps until there is work is woken
//!   without the waking side ever making a syscall in its steady state; and
//!   joining a thread within a time limit.

pub mod audio;
pub mod doorbell;

pub use audio::{ring, Chunk, FeedShared, Marker, RingOutput, VoiceInput, CHUNK_FRAMES};
pub use doorbell::{join_within, Doorbell};

pub use crate::ids::{JobId, ZoneId};
