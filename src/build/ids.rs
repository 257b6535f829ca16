//! Stable identity: every artifact uuid is a UUIDv5 over one fixed project namespace and
//! `<kind>:<name>`. A rebuild never changes it; renaming an artifact gives a new one; the same
//! plan script in two bundles (same name) has the same uuid, as on the appliance. Imported
//! artifacts pin the uuid the appliance already knows instead.
use uuid::Uuid;

/// The fixed namespace of every derived id (itself `uuid5(URL, "https://i3s-bundle/artifacts")`
/// written out, so it can never drift).
pub const NAMESPACE: Uuid = Uuid::from_u128(0x8c0f_5b8e_3d43_5a4e_9b6e_64a4_1f6c_0d21);

/// What an id is derived for; part of the hashed name, so kinds never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    PlanScript,
    BuildPlan,
    DeploymentPlan,
    /// A deployment plan's attribute: named `<deployment plan>/<attribute>`.
    DeploymentPlanAttribute,
    GoldenImage,
}

impl IdKind {
    fn label(self) -> &'static str {
        match self {
            IdKind::PlanScript => "plan-script",
            IdKind::BuildPlan => "build-plan",
            IdKind::DeploymentPlan => "deployment-plan",
            IdKind::DeploymentPlanAttribute => "deployment-plan-attribute",
            IdKind::GoldenImage => "golden-image",
        }
    }
}

/// The lower-case canonical uuid of an artifact.
pub fn artifact_id(kind: IdKind, name: &str) -> String {
    Uuid::new_v5(&NAMESPACE, format!("{}:{name}", kind.label()).as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_v5_and_depend_on_kind_and_name() {
        let a = artifact_id(IdKind::PlanScript, "Acme - CentOS 7.4 - mount");
        assert_eq!(
            a,
            artifact_id(IdKind::PlanScript, "Acme - CentOS 7.4 - mount")
        );
        assert_ne!(
            a,
            artifact_id(IdKind::BuildPlan, "Acme - CentOS 7.4 - mount")
        );
        assert_ne!(
            a,
            artifact_id(IdKind::PlanScript, "Acme - CentOS 7.4 - mount2")
        );
        let parsed = Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version_num(), 5);
        assert!(crate::bundle::is_canonical_uuid(&a));
        // Pinned: changing the namespace or the scheme would re-identify every published artifact.
        assert_eq!(
            artifact_id(IdKind::PlanScript, "x"),
            Uuid::new_v5(&NAMESPACE, b"plan-script:x").to_string()
        );
    }
}
