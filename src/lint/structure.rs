//! Structure rules (I3S001–I3S011): mount first, unmount last, nothing touches the image while
//! unmounted, step references, serial numbers, unique names, capture plans, deployment plans.
use super::target::{ScriptView, Target};
use super::{ArtifactKind, Sink};
use crate::bundle::BuildPlan;
use crate::guestfish::commands::{self, Effect};
use std::collections::HashMap;

/// Whether a plan script mounts a file system on `/`.
pub fn mounts_root(view: &ScriptView) -> bool {
    view.parsed.commands.iter().any(|c| {
        commands::lookup(&c.name).is_some_and(|s| s.effect == Effect::Mount)
            && c.args.last().is_some_and(|a| a == "/")
    })
}

/// Whether a plan script unmounts `/` (or everything).
pub fn unmounts_root(view: &ScriptView) -> bool {
    view.parsed.commands.iter().any(|c| {
        c.name == "umount-all"
            || c.name == "umount"
                && c.args
                    .first()
                    .is_some_and(|a| a == "/" || a.starts_with("/dev/"))
    })
}

pub fn check(target: &Target, sink: &mut Sink) {
    let bundle = target.bundle;
    for (index, plan) in bundle.build_plans.iter().enumerate() {
        check_build_plan(target, index, plan, sink);
    }

    duplicate_names(target, sink);
    deployment_plans(target, sink);
    if !bundle.build_plans.is_empty() {
        for view in target.unused_scripts() {
            sink.at_artifact(
                "I3S011",
                ArtifactKind::PlanScript,
                &view.script.name,
                &view.origin,
                format!(
                    "plan script {:?} is not a step of any build plan in this bundle",
                    view.script.name
                ),
            );
        }
    }
}

/// Reports a finding on the build plan being checked.
type AtPlan<'a> = dyn Fn(&mut Sink, &str, String) + 'a;

fn check_build_plan(target: &Target, index: usize, plan: &BuildPlan, sink: &mut Sink) {
    let origin = target.build_plan_origin(index);
    let name = plan.name.as_str();
    let steps = target.steps(plan);
    let at_plan = |sink: &mut Sink, id: &str, message: String| {
        sink.at_artifact(id, ArtifactKind::BuildPlan, name, &origin, message)
    };

    for (i, (step, view)) in plan.steps.iter().zip(&steps).enumerate() {
        match view {
            None => at_plan(
                sink,
                "I3S004",
                format!(
                    "build plan {name:?}: step {} ({:?}) points at {:?}, which is not a plan script in this bundle",
                    i + 1,
                    step.plan_script_name,
                    step.plan_script_uri
                ),
            ),
            Some(view) if view.script.name != step.plan_script_name => at_plan(
                sink,
                "I3S010",
                format!(
                    "build plan {name:?}: step {} is named {:?} but its URI points at plan script {:?}",
                    i + 1,
                    step.plan_script_name,
                    view.script.name
                ),
            ),
            Some(_) => {}
        }
    }
    let serials: Vec<&str> = plan
        .steps
        .iter()
        .map(|s| s.serial_number.as_str())
        .collect();
    let expected: Vec<String> = (1..=serials.len()).map(|n| n.to_string()).collect();
    if serials != expected {
        at_plan(
            sink,
            "I3S005",
            format!(
                "build plan {name:?}: step serial numbers are {serials:?}, expected {expected:?}"
            ),
        );
    }
    if plan.is_capture() && !plan.custom_attributes.is_empty() {
        let names: Vec<&str> = plan
            .custom_attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        at_plan(
            sink,
            "I3S007",
            format!(
                "capture build plan {name:?} declares custom attributes {}",
                names.join(", ")
            ),
        );
    }

    let deploy_or_capture =
        plan.is_capture() || plan.build_plan_type.eq_ignore_ascii_case("deploy");
    if !deploy_or_capture || steps.is_empty() {
        return;
    }
    check_mounts(name, plan, &steps, &at_plan, sink);
    image_touched_while_unmounted(name, &steps, sink);
}

/// I3S001 and I3S002: a deploy or capture plan mounts the root file system first and unmounts
/// it last.
fn check_mounts(
    name: &str,
    plan: &BuildPlan,
    steps: &[Option<&ScriptView>],
    at_plan: &AtPlan,
    sink: &mut Sink,
) {
    if let Some(Some(first)) = steps.first()
        && !mounts_root(first)
    {
        let also = step_doing(plan, steps, mounts_root, "mount");
        at_plan(
            sink,
            "I3S001",
            format!(
                "build plan {name:?}: first step {:?} does not mount the root file system{also}",
                first.script.name
            ),
        );
    }
    if let Some(Some(last)) = steps.last()
        && !unmounts_root(last)
    {
        let also = step_doing(plan, steps, unmounts_root, "umount");
        at_plan(
            sink,
            "I3S002",
            format!(
                "build plan {name:?}: last step {:?} does not unmount the root file system{also}",
                last.script.name
            ),
        );
    }
}

/// "; the mount is step N (name)" for the first step that does `what` (empty when none does).
fn step_doing(
    plan: &BuildPlan,
    steps: &[Option<&ScriptView>],
    does: fn(&ScriptView) -> bool,
    what: &str,
) -> String {
    steps
        .iter()
        .position(|s| s.is_some_and(does))
        .map(|p| {
            format!(
                "; the {what} is step {} ({:?})",
                p + 1,
                plan.steps[p].plan_script_name
            )
        })
        .unwrap_or_default()
}

/// I3S003: the first command that reads or writes the image while nothing is mounted.
fn image_touched_while_unmounted(plan: &str, steps: &[Option<&ScriptView>], sink: &mut Sink) {
    let mut mounted = false;
    let mut unmounted_at: Option<usize> = None;
    let mut offending_steps = Vec::new();
    let mut first = None;
    for (i, view) in steps.iter().enumerate() {
        let Some(view) = view else { continue };
        for command in &view.parsed.commands {
            let (name, _) = commands::unprefix(&command.name, &command.args);
            let Some(spec) = commands::lookup(name) else {
                continue;
            };
            match spec.effect {
                Effect::Mount => mounted = true,
                Effect::Unmount => {
                    mounted = false;
                    unmounted_at = Some(i);
                }
                Effect::Reads | Effect::Writes if !mounted => {
                    if offending_steps.last() != Some(&i) {
                        offending_steps.push(i);
                    }
                    first.get_or_insert((i, *view, command.line, name.to_string()));
                }
                _ => {}
            }
        }
    }
    if let Some((i, view, line, command)) = first {
        let when = match unmounted_at.filter(|u| *u < i) {
            Some(u) => format!("after the unmount in step {}", u + 1),
            None => "before any mount".to_string(),
        };
        let steps_list: Vec<String> = offending_steps
            .iter()
            .map(|s| (s + 1).to_string())
            .collect();
        sink.at_script_as(
            "I3S003",
            view,
            ArtifactKind::BuildPlan,
            plan,
            line,
            Some(1),
            command.len(),
            format!(
                "build plan {plan:?}: step {} ({:?}) runs `{command}` {when} (steps touching the unmounted image: {})",
                i + 1,
                view.script.name,
                steps_list.join(", ")
            ),
        );
    }
}

fn duplicate_names(target: &Target, sink: &mut Sink) {
    let bundle = target.bundle;
    let mut report = |kind: ArtifactKind, names: Vec<(&str, super::Origin)>| {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (name, origin) in names {
            let count = seen.entry(name).or_insert(0);
            *count += 1;
            if *count == 2 {
                sink.at_artifact(
                    "I3S006",
                    kind,
                    name,
                    &origin,
                    format!("two {kind}s are named {name:?}"),
                );
            }
        }
    };
    report(
        ArtifactKind::PlanScript,
        target
            .scripts
            .iter()
            .map(|v| (v.script.name.as_str(), v.origin.clone()))
            .collect(),
    );
    report(
        ArtifactKind::BuildPlan,
        bundle
            .build_plans
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.as_str(), target.build_plan_origin(i)))
            .collect(),
    );
    report(
        ArtifactKind::DeploymentPlan,
        bundle
            .deployment_plans
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.as_str(), target.deployment_plan_origin(i)))
            .collect(),
    );
    report(
        ArtifactKind::GoldenImage,
        bundle
            .golden_images
            .iter()
            .map(|g| {
                (
                    g.image.name.as_str(),
                    super::Origin {
                        file: target.path.clone(),
                        ..Default::default()
                    },
                )
            })
            .collect(),
    );
}

fn deployment_plans(target: &Target, sink: &mut Sink) {
    let bundle = target.bundle;
    for (index, plan) in bundle.deployment_plans.iter().enumerate() {
        let origin = target.deployment_plan_origin(index);
        if target.build_plan_by_name(&plan.build_plan).is_none() {
            sink.at_artifact(
                "I3S008",
                ArtifactKind::DeploymentPlan,
                &plan.name,
                &origin,
                format!(
                    "deployment plan {:?} names build plan {:?}, which is not in this bundle",
                    plan.name, plan.build_plan
                ),
            );
        }
        if let Some(image) = plan.golden_image_name()
            && !target.carries_golden_image(image)
        {
            sink.at_artifact(
                "I3S009",
                ArtifactKind::DeploymentPlan,
                &plan.name,
                &origin,
                format!(
                    "deployment plan {:?} names golden image {image:?}, which this bundle does not carry",
                    plan.name
                ),
            );
        }
    }
}
