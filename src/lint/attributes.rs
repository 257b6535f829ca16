//! Attribute rules (I3S020–I3S026): placeholders used by a build plan's steps are declared with
//! the same default; declared attributes are used; names, types and values are valid.
use super::target::{ScriptView, Target};
use super::{ArtifactKind, Origin, Sink};
use crate::bundle::{AttributeType, BuildPlan, CustomAttribute, DeploymentPlan};
use crate::placeholder;
use std::collections::{BTreeMap, HashSet};

/// The first use of a placeholder name in a build plan.
struct Use<'v> {
    step: usize,
    view: &'v ScriptView<'v>,
    line: usize,
    column: usize,
    width: usize,
    default: Option<String>,
}

impl Use<'_> {
    /// A finding on build plan `plan` pointing at this use.
    fn report(&self, sink: &mut Sink, id: &str, plan: &str, message: String) {
        sink.at_script_as(
            id,
            self.view,
            ArtifactKind::BuildPlan,
            plan,
            self.line,
            Some(self.column),
            self.width,
            message,
        );
    }
}

pub fn check(target: &Target, sink: &mut Sink) {
    for (index, plan) in target.bundle.build_plans.iter().enumerate() {
        check_build_plan(target, index, plan, sink);
    }
    for (index, plan) in target.bundle.deployment_plans.iter().enumerate() {
        check_deployment_plan(target, index, plan, sink);
    }
}

/// Every default a placeholder name gets in a plan's steps, with its line and script.
type Defaults<'v> = BTreeMap<String, Vec<(String, usize, &'v ScriptView<'v>)>>;

fn check_build_plan(target: &Target, index: usize, plan: &BuildPlan, sink: &mut Sink) {
    let origin = target.build_plan_origin(index);
    let name = plan.name.as_str();
    let (uses, defaults) = scan_steps(target, plan);

    let declared: BTreeMap<&str, &CustomAttribute> = plan
        .custom_attributes
        .iter()
        .map(|a| (a.name.as_str(), a))
        .collect();
    for (used, first) in &uses {
        if !declared.contains_key(used.as_str()) {
            first.report(
                sink,
                "I3S020",
                name,
                format!(
                    "build plan {name:?}: @{used}@ (used by step {} {:?}) is not declared as a custom attribute",
                    first.step + 1,
                    first.view.script.name
                ),
            );
        }
    }
    for attribute in &plan.custom_attributes {
        if !uses.contains_key(&attribute.name) {
            sink.at_artifact(
                "I3S021",
                ArtifactKind::BuildPlan,
                name,
                &origin,
                format!(
                    "build plan {name:?}: custom attribute {:?} is declared but no step uses it",
                    attribute.name
                ),
            );
        }
        if let (Some(first), Some(value)) = (uses.get(&attribute.name), attribute.default_value())
            && let Some(default) = &first.default
            && default != value
        {
            first.report(
                sink,
                "I3S022",
                name,
                format!(
                    "build plan {name:?}: placeholder default {default:?} differs from attribute {:?}'s value {value:?}",
                    attribute.name
                ),
            );
        }
    }
    check_plan_defaults(name, &defaults, sink);
    check_declarations(
        ArtifactKind::BuildPlan,
        name,
        &plan.custom_attributes,
        &origin,
        sink,
    );
}

/// The first use of each placeholder name in the plan's steps, and every default they give.
fn scan_steps<'v>(
    target: &'v Target,
    plan: &BuildPlan,
) -> (BTreeMap<String, Use<'v>>, Defaults<'v>) {
    let mut uses: BTreeMap<String, Use> = BTreeMap::new();
    let mut defaults: Defaults = BTreeMap::new();
    for (step, view) in target.steps(plan).into_iter().enumerate() {
        let Some(view) = view else { continue };
        for p in placeholder::scan(&view.script.content) {
            if let Some(default) = &p.default {
                defaults
                    .entry(p.name.clone())
                    .or_default()
                    .push((default.clone(), p.line, view));
            }
            uses.entry(p.name.clone()).or_insert(Use {
                step,
                view,
                line: p.line,
                column: p.column,
                width: p.key().len() + 2 + p.default.as_ref().map_or(0, |d| d.len() + 1),
                default: p.default.clone(),
            });
        }
    }
    (uses, defaults)
}

/// I3S022: one placeholder with different defaults in the plan's steps.
fn check_plan_defaults(name: &str, defaults: &Defaults, sink: &mut Sink) {
    for (attribute, found) in defaults {
        let distinct: HashSet<&str> = found.iter().map(|(d, _, _)| d.as_str()).collect();
        if distinct.len() > 1 {
            let (d, line, view) = &found[1..]
                .iter()
                .find(|(d, _, _)| *d != found[0].0)
                .unwrap_or(&found[0]);
            sink.at_script_as(
                "I3S022",
                view,
                ArtifactKind::BuildPlan,
                name,
                *line,
                None,
                1,
                format!(
                    "build plan {name:?}: @{attribute}:{d}@ here, but @{attribute}:{}@ elsewhere in the plan",
                    found[0].0
                ),
            );
        }
    }
}

fn check_deployment_plan(target: &Target, index: usize, plan: &DeploymentPlan, sink: &mut Sink) {
    let origin = target.deployment_plan_origin(index);
    check_declarations(
        ArtifactKind::DeploymentPlan,
        &plan.name,
        &plan.custom_attributes,
        &origin,
        sink,
    );
    if let Some(build_plan) = target.build_plan_by_name(&plan.build_plan) {
        for attribute in &plan.custom_attributes {
            if !build_plan
                .custom_attributes
                .iter()
                .any(|a| a.name == attribute.name)
            {
                sink.at_artifact(
                    "I3S026",
                    ArtifactKind::DeploymentPlan,
                    &plan.name,
                    &origin,
                    format!(
                        "deployment plan {:?} sets attribute {:?}, which build plan {:?} does not declare",
                        plan.name, attribute.name, build_plan.name
                    ),
                );
            }
        }
    }
}

/// Names, types and values of declared attributes (I3S023–I3S025, I3S090).
fn check_declarations(
    kind: ArtifactKind,
    artifact: &str,
    attributes: &[CustomAttribute],
    origin: &Origin,
    sink: &mut Sink,
) {
    let mut seen = HashSet::new();
    for attribute in attributes {
        let attr = attribute.name.as_str();
        if !placeholder::is_valid_name(attr) {
            sink.at_artifact(
                "I3S023",
                kind,
                artifact,
                origin,
                format!(
                    "{kind} {artifact:?}: attribute name {attr:?} is not [A-Za-z0-9_]+, so no placeholder can use it"
                ),
            );
        }
        if !seen.insert(attr) {
            sink.at_artifact(
                "I3S023",
                kind,
                artifact,
                origin,
                format!("{kind} {artifact:?}: attribute {attr:?} is declared twice"),
            );
        }
        check_type_and_value(kind, artifact, attribute, origin, sink);
    }
}

/// I3S025, I3S090 and I3S024 on one attribute: its type, a secret's default, its value.
fn check_type_and_value(
    kind: ArtifactKind,
    artifact: &str,
    attribute: &CustomAttribute,
    origin: &Origin,
    sink: &mut Sink,
) {
    let attr = attribute.name.as_str();
    if let AttributeType::Other(other) = &attribute.attribute_type {
        sink.at_artifact(
            "I3S025",
            kind,
            artifact,
            origin,
            format!("{kind} {artifact:?}: attribute {attr:?} has unknown type {other:?}"),
        );
        return;
    }
    if attribute.attribute_type.is_secret() {
        if attribute.default_value().is_some() {
            sink.at_artifact(
                "I3S090",
                kind,
                artifact,
                origin,
                format!(
                    "{kind} {artifact:?}: password attribute {attr:?} has a default value (stored in clear text)"
                ),
            );
        }
        return;
    }
    if let Some(value) = attribute.default_value()
        && let Err(why) = attribute.check_value(value)
    {
        sink.at_artifact(
            "I3S024",
            kind,
            artifact,
            origin,
            format!(
                "{kind} {artifact:?}: attribute {attr:?} ({}): {why}",
                attribute.attribute_type.as_str()
            ),
        );
    }
    if attribute.attribute_type == AttributeType::Option
        && attribute.constraints.options().is_none_or(|o| o.is_empty())
    {
        sink.at_artifact(
            "I3S025",
            kind,
            artifact,
            origin,
            format!(
                "{kind} {artifact:?}: option attribute {attr:?} has no options in its constraints"
            ),
        );
    }
}
