//! The control socket: how operators talk to the running daemon.
//!
//! - [`protocol`]: JSON-lines requests and replies, version 1, with their
//!   bounds (`docs/protocol.md` is the reference).
//! - [`server`]: binds the socket (mode 0660, operators' group, stale-socket
//!   cleanup) and serves it: a task per connection, bounded line reads, peer
//!   credentials, graceful shutdown. The daemon plugs in a [`Handler`].
//!   Who the peer is and whether it may talk: `peer.rs`.
//! - [`client`]: the blocking client the CLI uses, with bounded waits (the
//!   CLI finds the socket path itself: `cli/socket.rs`).
//! - [`render`]: human-readable output of replies (pure: strings out).
//! - [`zones`]: a zone's entry in the `zones` reply as its config gives it:
//!   the one shape of `corong zones --json`, daemon running or not.
//! - [`upload`]: the bytes of a file the daemon's user cannot read, sent by
//!   the client after an `upload` request and kept by content.

pub mod client;
pub mod live;
mod peer;
pub mod protocol;
pub mod render;
pub mod server;
pub mod upload;
pub mod zones;

pub use client::{Client, ClientError};
pub use protocol::{Reply, Request, Response};
pub use server::{bind, serve, serve_with, Handler, Peer, ServeOptions};
