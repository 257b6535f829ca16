//! Golden images: the per-OS requirements and fake images (`golden-images/<os>/`), `build` (a real
//! image from the OS's recipe), `check`, `fake`, `pack`, and the
//! local plan runner (`run`); what bundles' plans need from an image (`needs`). Uploading one is
//! an appliance call: [`crate::appliance::golden_image`].
//!
//! Everything that touches a disk image goes through guestfish ([`crate::guestfish::driver`]),
//! one process per operation, because one appliance launch costs ~20 s under emulation.
pub mod boot;
pub mod build;
pub mod check;
pub mod fake;
pub mod listing;
pub mod needs;
pub mod os;
pub mod pack;
pub mod recipe;
pub mod requirements;
pub mod run;

pub use check::{CheckReport, check, check_many};
pub use fake::{fake, fake_many};
pub use os::OsDefinition;
pub use run::{PlanReport, RunReport, prepare, run_plans};
