//! The JSON Schema of every report a command prints with `--json`, generated from the types that
//! print it; `docs/schemas/<name>.json` holds them (tests/json_reports.rs keeps the two equal and
//! checks real output against them). Every key in every report is snake_case; objects that come
//! from the appliance (a profile body) keep the appliance's own names.
use schemars::{JsonSchema, Schema, generate::SchemaSettings};

/// `(file stem, what prints it, schema)`, one per report.
pub fn all() -> Vec<(&'static str, &'static str, Schema)> {
    fn one<T: JsonSchema>(
        name: &'static str,
        printed_by: &'static str,
    ) -> (&'static str, &'static str, Schema) {
        // The serialize contract: a field left out when empty (`skip_serializing_if`) is optional.
        let generator = SchemaSettings::draft2020_12()
            .for_serialize()
            .into_generator();
        (name, printed_by, generator.into_root_schema_for::<T>())
    }
    vec![
        one::<crate::build::BuildReport>("build", "build --json"),
        one::<crate::bundle::inspect::InspectReport>("inspect", "inspect --json"),
        one::<Vec<crate::bundle::verify::VerifyReport>>("verify", "verify --json"),
        one::<crate::bundle::diff::BundleDiff>("diff", "diff --json"),
        one::<crate::lint::output::LintJson>("lint", "lint --json (--format json)"),
        one::<crate::source::import::ImportReport>("import", "import --json"),
        one::<super::init::InitReport>("init", "init --json"),
        one::<crate::image::run::RunReport>("run", "run --json"),
        one::<crate::image::check::CheckReport>("golden-image-check", "golden-image check --json"),
        one::<crate::image::build::BuildReport>("golden-image-build", "golden-image build --json"),
        one::<super::golden_image::FakeReport>("golden-image-fake", "golden-image fake --json"),
        one::<crate::image::pack::PackReport>("golden-image-pack", "golden-image pack --json"),
        one::<crate::appliance::golden_image::UploadReport>(
            "golden-image-upload",
            "golden-image upload --json",
        ),
        one::<crate::publish::Report>("publish", "publish --json"),
        one::<crate::publish::pull::PullReport>("pull", "pull --json"),
        one::<crate::publish::status::StatusReport>("status", "status --json"),
        one::<crate::publish::prune::PruneReport>("prune", "prune --json"),
        one::<crate::deploy::Report>("deploy", "deploy --json, undeploy --json"),
        one::<crate::error::ErrorReport>("error", "any command given --json, when it fails"),
    ]
}
