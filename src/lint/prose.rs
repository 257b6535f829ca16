//! Prose rule (I3S080): a build plan's description must not contradict its steps — DHCP in the
//! description with static addressing in the steps, or the reverse.
use super::target::{ScriptView, Target};
use super::{ArtifactKind, Sink};
use regex::Regex;
use std::sync::LazyLock;

static STATIC_ADDRESS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^\s*IPADDR\d*=").expect("static"));
static DHCP_ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?m)^\s*BOOTPROTO=["']?dhcp|\bdhclient\b|ipv4\.method\s+auto"#).expect("dhcp")
});

/// Which addressing a plan script's uploaded files configure: (static, dhcp).
fn addressing(view: &ScriptView) -> (bool, bool) {
    let mut found = (false, false);
    for command in &view.parsed.commands {
        if let Some(doc) = &command.heredoc {
            found.0 |= STATIC_ADDRESS.is_match(&doc.body);
            found.1 |= DHCP_ADDRESS.is_match(&doc.body);
        }
    }
    found
}

pub fn check(target: &Target, sink: &mut Sink) {
    for (index, plan) in target.bundle.build_plans.iter().enumerate() {
        let description = plan
            .description
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        let says_dhcp = description.contains("dhcp");
        let says_static = description.contains("static");
        if says_dhcp == says_static {
            continue;
        }
        let steps = target.steps(plan);
        let mut static_step = None;
        let mut dhcp_step = None;
        for (i, view) in steps.iter().enumerate() {
            let Some(view) = view else { continue };
            let (is_static, is_dhcp) = addressing(view);
            if is_static && static_step.is_none() {
                static_step = Some((i, view.script.name.as_str()));
            }
            if is_dhcp && dhcp_step.is_none() {
                dhcp_step = Some((i, view.script.name.as_str()));
            }
        }
        let contradiction = match (says_dhcp, static_step, dhcp_step) {
            (true, Some((i, script)), None) => Some(format!(
                "says DHCP, but step {} ({script:?}) configures static addresses",
                i + 1
            )),
            (false, None, Some((i, script))) => Some(format!(
                "says static, but step {} ({script:?}) configures DHCP",
                i + 1
            )),
            _ => None,
        };
        if let Some(what) = contradiction {
            sink.at_artifact(
                "I3S080",
                ArtifactKind::BuildPlan,
                &plan.name,
                &target.build_plan_origin(index),
                format!("build plan {:?}: the description {what}", plan.name),
            );
        }
    }
}
