//! i3s-bundle: source in git → HPE Synergy Image Streamer artifact bundles → appliance → servers.
//!
//! The pipeline is the layout; each stage owns its types and knows nothing of the stages after it:
//! `source` (the project on disk) → `render` (minijinja, placeholders) → `build` (bundle model,
//! dist/) → `bundle` (THE format: read, write, verify, inspect, diff) → `appliance` (REST client,
//! publish, deploy) ← `simulator`. `guestfish` is the plan-script language (parser and driver),
//! used by `lint`, `render` and `image` (golden images, the local plan runner). At the bottom,
//! `fs`: every file we write goes through its temporary files, and it removes those a killed run
//! left behind; beside it `consul`, Consul's documented ACL facts (lint checks policies against
//! them, the simulator's Consul stand-in enforces them).
// Errors carry their location (file, entry, line, column) by value; they are built on cold paths
// only, so their size does not matter and boxing would only add noise at every construction.
#![allow(clippy::result_large_err)]

pub mod appliance;
pub mod build;
pub mod bundle;
pub mod cli;
pub mod consul;
pub mod deploy;
pub mod error;
pub mod fs;
pub mod guestfish;
pub mod image;
pub mod lint;
pub mod placeholder;
pub mod publish;
pub mod render;
pub mod report;
/// Behind the default-on `simulator` cargo feature (it brings the axum/tokio server stack).
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod source;
pub mod terminal;
pub mod units;

pub use error::{Error, Result};
