//! Configuration: the TOML schema, loading with spans, validation.
//!
//! Parse first, build later: nothing here opens a socket or a device.
//! [`load`] reads a config file, checks every key and cross-reference, and
//! returns the resolved [`Config`] that the rest of corong consumes, or every
//! problem found as [`Diagnostic`]s naming file, line and column.
//!
//! - `model.rs`: the resolved types (paths absolute, groups expanded).
//! - `schema.rs`: the raw serde types as written in TOML (`deny_unknown_fields`).
//! - `load.rs`: read, parse, validate, resolve; one file per part of the
//!   config in `load/` (`daemon.rs`, `zones.rs`, `targets.rs`,
//!   `schedules.rs`, `sections.rs`), all working with `load/loader.rs`.
//! - `hazards.rs`: the resolved hazard-warning settings: zones' places,
//!   `[alerts]` (feeds, playbooks), `[[volcanoes]]`.
//! - `diagnostic.rs`: errors with file:line:col, rendered the way cargo does.

mod diagnostic;
mod hazards;
mod load;
mod model;
pub mod schema;

pub use diagnostic::{line_col, Diagnostic, Diagnostics, Severity};
pub use hazards::*;
pub use load::{
    absolute_folder, load, load_bytes_with_warnings, load_str, load_str_with_warnings,
    load_with_warnings,
};
pub use model::*;
