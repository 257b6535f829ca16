//! What Consul documents and both sides of our pipeline rely on: the ACL each HTTP endpoint our
//! plan scripts call requires and how policy rules match ([`acl`]). Lint (rule I3S113) checks the
//! shipped policies against it; the simulator's Consul stand-in enforces it. It imports nothing
//! else of the crate, so any module may use it.
pub mod acl;
