//! Consul's ACL facts for lint rule I3S113 and the content tests: what each HTTP endpoint our
//! plan scripts call requires, and whether a policy grants it. They live in [`crate::consul::acl`],
//! below both lint and the simulator's Consul stand-in, which enforces them.
pub use crate::consul::acl::*;
