//! The deploy and undeploy phases. Every check (reads only) comes first and reports all problems
//! at once; then the writes, each waited for; then the wait for the node's own verdict in Consul.
use super::attributes::{self, OsAttribute};
use super::consul::{ConsulClient, ConsulError, FirstBoot, Readiness, readiness};
use super::usecase::{Server, UseCase};
use super::{Outcome, Phase, Problem, Report};
use crate::appliance::oneview::{self, text};
use crate::appliance::{Client, Host};
use crate::bundle::CustomAttribute;
use crate::error::Context;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub dry_run: bool,
    /// Replace an existing profile of the same name (on the same server).
    pub replace: bool,
    /// How long to wait for the node to report ready after power-on.
    pub wait: Duration,
    /// Interval between Consul reads.
    pub poll: Duration,
}

/// A line of progress: `phase`, then what happened.
pub struct Event<'a> {
    pub elapsed: Duration,
    pub phase: &'static str,
    pub message: &'a str,
}

/// Keeps the report and tells the caller about every step as it happens.
struct Run<'a> {
    started: Instant,
    report: Report,
    events: &'a mut dyn FnMut(&Event),
}

impl Run<'_> {
    fn say(&mut self, phase: &'static str, message: &str) {
        (self.events)(&Event {
            elapsed: self.started.elapsed(),
            phase,
            message,
        });
    }
    fn phase(&mut self, name: &'static str, ok: bool, detail: String) {
        self.say(name, &detail);
        self.report.phases.push(Phase {
            name,
            elapsed_secs: self.started.elapsed().as_secs_f64(),
            ok,
            detail,
        });
    }
    fn fail(mut self, phase: &'static str, detail: String) -> Report {
        self.phase(phase, false, detail);
        self.report.outcome = Outcome::Failed;
        self.report.failed_phase = Some(phase);
        self.report
    }
}

fn new_report(use_case: &UseCase) -> Report {
    Report {
        use_case: use_case.path.display().to_string(),
        profile: use_case.profile.clone(),
        outcome: Outcome::Failed,
        failed_phase: None,
        failed_units: Vec::new(),
        problems: Vec::new(),
        phases: Vec::new(),
        server_hardware_uri: None,
        profile_uri: None,
        consul_node: None,
        profile_body: None,
    }
}

/// Everything the checks found out, for the writes.
struct Checked {
    hardware: Value,
    /// The profile of the same name that `--replace` removes first.
    old_profile: Option<Value>,
    body: Value,
    attributes: Vec<OsAttribute>,
    node: String,
    consul: ConsulClient,
    /// The `ModifyIndex` of a `first-boot` check that existed before this deploy: a report from
    /// an earlier life of the node, not a verdict on this one.
    stale_index: Option<u64>,
}

/// Runs a deploy. `problems` are those found while reading the use-case file; they are reported
/// together with the appliance-side checks.
pub fn deploy(
    client: &Client,
    use_case: &UseCase,
    problems: Vec<Problem>,
    options: &DeployOptions,
    events: &mut dyn FnMut(&Event),
) -> Report {
    mark_secrets(use_case);
    let mut run = Run {
        started: Instant::now(),
        report: new_report(use_case),
        events,
    };
    let checked = match check(client, use_case, problems, options) {
        Ok(checked) => checked,
        Err(problems) => {
            let detail = format!(
                "{} problem(s) in {}; nothing was changed",
                problems.len(),
                use_case.path.display()
            );
            for p in &problems {
                run.say("validate", &p.located(&use_case.path));
            }
            run.report.problems = problems;
            return run.fail("validate", detail);
        }
    };
    let (hardware_uri, hardware_name) = validated(&mut run, &checked);
    if options.dry_run {
        run.report.outcome = Outcome::Valid;
        return run.report;
    }

    if let Some(old) = &checked.old_profile
        && let Err(detail) = replace_old(client, &mut run, &checked, old, &hardware_uri)
    {
        return run.fail("replace", detail.to_string());
    }
    if let Err(detail) = create(client, &mut run, use_case, &checked) {
        return run.fail("create-profile", detail.to_string());
    }
    if let Err(e) = oneview::set_power(client, &hardware_uri, true) {
        return run.fail("power-on", format!("powering on {hardware_name:?}: {e}"));
    }
    run.phase("power-on", true, format!("{hardware_name:?} is powered on"));

    wait_ready(run, &checked, options)
}

/// The validate phase passed: what the report says of it. Returns the server's URI and name.
fn validated(run: &mut Run, checked: &Checked) -> (String, String) {
    let hardware_uri = text(&checked.hardware, "uri").to_string();
    let hardware_name = text(&checked.hardware, "name").to_string();
    run.report.server_hardware_uri = Some(text(&checked.hardware, "uri").to_string());
    run.report.consul_node = Some(checked.node.clone());
    run.report.profile_body = Some(display_body(&checked.body, &checked.attributes));
    let replacing = checked
        .old_profile
        .as_ref()
        .map(|p| format!(", replacing the existing profile {:?}", text(p, "name")))
        .unwrap_or_default();
    run.phase(
        "validate",
        true,
        format!(
            "{} custom attributes checked; server {hardware_name:?}; Consul node {:?}{replacing}",
            checked.attributes.len(),
            checked.node
        ),
    );
    (hardware_uri, hardware_name)
}

/// --replace: the server off and the old profile deleted. `Err`: what failed.
fn replace_old(
    client: &Client,
    run: &mut Run,
    checked: &Checked,
    old: &Value,
    hardware_uri: &str,
) -> crate::Result<()> {
    let hardware_name = text(&checked.hardware, "name");
    if text(&checked.hardware, "powerState") != "Off" {
        oneview::set_power(client, hardware_uri, false)
            .context(|| format!("powering off {hardware_name:?}"))?;
    }
    oneview::delete_profile(client, text(old, "uri"))
        .context(|| format!("deleting the profile {:?}", text(old, "name")))?;
    run.phase(
        "replace",
        true,
        format!(
            "powered off {hardware_name:?} and deleted the old profile {:?}",
            text(old, "name")
        ),
    );
    Ok(())
}

/// The profile created from the checked body. `Err`: what failed.
fn create(
    client: &Client,
    run: &mut Run,
    use_case: &UseCase,
    checked: &Checked,
) -> crate::Result<()> {
    let hardware_name = text(&checked.hardware, "name");
    let created = match oneview::create_profile(client, &checked.body) {
        Ok(created) => created,
        Err(e) => {
            // A POST is not repeated: a lost answer may hide a profile that was created.
            let lost = e.is_connection_error() || e.status().is_some_and(|s| s >= 500);
            let failed = Err::<(), _>(e)
                .context(|| format!("creating {:?} on {hardware_name:?}", use_case.profile))
                .unwrap_err();
            return Err(if lost {
                crate::Error::Failed {
                    source: Box::new(failed),
                    after: Some(format!(
                        "  the answer was lost, so OneView may have created {:?} anyway: check it, then run again with --replace",
                        use_case.profile
                    )),
                }
            } else {
                failed
            });
        }
    };
    let profile_uri = text(&created, "uri").to_string();
    run.report.profile_uri = Some(profile_uri.clone()).filter(|u| !u.is_empty());
    run.phase(
        "create-profile",
        true,
        format!(
            "created {:?} ({profile_uri}) with {} custom attributes",
            use_case.profile,
            checked.attributes.len()
        ),
    );

    Ok(())
}

/// The attributes the use case gives as `[secrets]`: hidden in verbose logs of profiles.
fn mark_secrets(use_case: &UseCase) {
    for given in use_case.attributes.iter().filter(|g| g.table == "secrets") {
        crate::appliance::secret::mark_secret_attribute(&given.name);
    }
}

/// Polls Consul until the node's first-boot check gives a verdict or `options.wait` runs out.
fn wait_ready(mut run: Run, checked: &Checked, options: &DeployOptions) -> Report {
    const PHASE: &str = "wait-ready";
    let deadline = Instant::now() + options.wait;
    let node = &checked.node;
    run.say(
        PHASE,
        &format!(
            "waiting up to {} for node {node:?} in Consul at {}",
            human(options.wait),
            checked.consul.base()
        ),
    );
    let mut last = String::new();
    loop {
        let state = match checked.consul.first_boot(node) {
            Ok(FirstBoot::Check { modify_index, .. })
                if Some(modify_index) == checked.stale_index =>
            {
                Readiness::Waiting(
                    "Consul still shows the first-boot report of the node's previous deployment"
                        .into(),
                )
            }
            Ok(first_boot) => readiness(&first_boot),
            Err(ConsulError::Denied(message)) => return run.fail(PHASE, message),
            // Consul or the network may hiccup during a long wait; only the deadline ends it.
            Err(other) => Readiness::Waiting(other.to_string()),
        };
        match state {
            Readiness::Ready => {
                run.phase(PHASE, true, format!("node {node:?} reports ready"));
                run.report.outcome = Outcome::Ready;
                return run.report;
            }
            Readiness::Failed(units) => {
                let named = if units.is_empty() {
                    "(the node named no unit)".to_string()
                } else {
                    units.join(", ")
                };
                run.report.failed_units = units;
                return run.fail(
                    PHASE,
                    format!("node {node:?} reports failed first-boot unit(s): {named}"),
                );
            }
            Readiness::Waiting(message) => {
                if message != last {
                    run.say(PHASE, &message);
                    last = message;
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            run.phase(
                PHASE,
                false,
                format!(
                    "node {node:?} did not report ready within {} (last: {last})",
                    human(options.wait)
                ),
            );
            run.report.outcome = Outcome::TimedOut;
            run.report.failed_phase = Some(PHASE);
            return run.report;
        }
        std::thread::sleep(options.poll.min(deadline - now));
    }
}

fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 120.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{secs:.1}s")
    }
}

/// The checks, reads only. Collects every problem before giving up.
fn check(
    client: &Client,
    use_case: &UseCase,
    mut problems: Vec<Problem>,
    options: &DeployOptions,
) -> Result<Checked, Vec<Problem>> {
    let found = find_plan(client, use_case, &mut problems);
    let (plan_attributes, skeleton) = read_plan(client, &found, &mut problems);
    let resolved = resolve_attributes(use_case, &found, &plan_attributes, &skeleton, &mut problems);
    let (hardware, old_profile) = find_server(client, use_case, options, &mut problems);
    let (node, consul, stale_index) = first_consul_read(
        client,
        use_case,
        options,
        resolved.as_deref(),
        &mut problems,
    );
    let osdp = found.osdp;
    if !problems.is_empty() {
        return Err(problems);
    }
    let (Some(hardware), Some(attributes), Some(consul), Some(osdp)) =
        (hardware, resolved, consul, osdp)
    else {
        return Err(vec![Problem::new(
            "use case",
            None,
            "incomplete (no template, plan, server or Consul settings)",
        )]);
    };
    let body = profile_body(client, use_case, skeleton, &osdp, &hardware, &attributes);
    Ok(Checked {
        hardware,
        old_profile,
        body,
        attributes,
        node,
        consul,
        stale_index,
    })
}

/// What the use case deploys: the OS deployment plan, and the template's new-profile skeleton
/// URI when it names a template.
struct FoundPlan {
    osdp: Option<Value>,
    skeleton_uri: Option<String>,
}

fn problem(key: &str, message: String) -> Problem {
    Problem::new(key, None, message)
}

/// The template (its skeleton) and the deployment plan behind it.
fn find_plan(client: &Client, use_case: &UseCase, problems: &mut Vec<Problem>) -> FoundPlan {
    let mut skeleton_uri = None;
    let mut osdp = None;
    if let Some(template_name) = &use_case.template {
        match oneview::one_by_name(
            client,
            oneview::TEMPLATES,
            "server profile template",
            template_name,
        ) {
            Ok(template) => {
                let plan_uri = template
                    .pointer("/osDeploymentSettings/osDeploymentPlanUri")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if plan_uri.is_empty() {
                    problems.push(problem("template", format!("server profile template {template_name:?} has no OS deployment plan (run publish --profile-template)")));
                } else {
                    match client.get(Host::OneView, plan_uri) {
                        Ok(plan) => osdp = Some(plan),
                        Err(e) => problems.push(problem(
                            "template",
                            format!("the OS deployment plan of template {template_name:?}: {e}"),
                        )),
                    }
                }
                skeleton_uri = Some(format!(
                    "{}/{}",
                    text(&template, "uri"),
                    crate::appliance::api::NEW_PROFILE
                ));
            }
            Err(e) => problems.push(problem("template", e.to_string())),
        }
        if let (Some(wanted), Some(plan)) = (&use_case.deployment_plan, &osdp)
            && text(plan, "name") != wanted
        {
            problems.push(problem(
                "deployment_plan",
                format!(
                    "template {template_name:?} deploys {:?}, not {wanted:?}",
                    text(plan, "name")
                ),
            ));
        }
    } else if let Some(plan_name) = &use_case.deployment_plan {
        match oneview::one_by_name(
            client,
            oneview::OS_DEPLOYMENT_PLANS,
            "OS deployment plan",
            plan_name,
        ) {
            Ok(plan) => osdp = Some(plan),
            Err(e) => problems.push(problem("deployment_plan", e.to_string())),
        }
    }

    FoundPlan { osdp, skeleton_uri }
}

/// The plan's attributes and the template's skeleton.
fn read_plan(
    client: &Client,
    found: &FoundPlan,
    problems: &mut Vec<Problem>,
) -> (Option<Vec<CustomAttribute>>, Option<Value>) {
    let (osdp, skeleton_uri) = (&found.osdp, &found.skeleton_uri);
    let mut skeleton = None;
    // The plan's attributes; its password attributes are marked secret before any profile (or
    // skeleton) carrying their values is read, so that verbose logs hide them.
    let plan_attributes = match &osdp {
        Some(plan) => match oneview::plan_attributes(client, plan) {
            Ok(list) => Some(list),
            Err(e) => {
                problems.push(problem("deployment_plan", e.to_string()));
                None
            }
        },
        None => None,
    };
    for attribute in plan_attributes
        .iter()
        .flatten()
        .filter(|a| a.attribute_type.is_secret())
    {
        crate::appliance::secret::mark_secret_attribute(&attribute.name);
    }
    if let Some(uri) = &skeleton_uri {
        match client.get(Host::OneView, uri) {
            Ok(s) => skeleton = Some(s),
            Err(e) => problems.push(problem(
                "template",
                format!("the new-profile skeleton of the template: {e}"),
            )),
        }
    }

    (plan_attributes, skeleton)
}

/// The custom attributes: the use case's values, the template's, the plan's defaults.
fn resolve_attributes(
    use_case: &UseCase,
    found: &FoundPlan,
    plan_attributes: &Option<Vec<CustomAttribute>>,
    skeleton: &Option<Value>,
    problems: &mut Vec<Problem>,
) -> Option<Vec<OsAttribute>> {
    let osdp = &found.osdp;
    let mut resolved = None;
    if let (Some(plan), Some(plan_attributes)) = (&osdp, &plan_attributes) {
        let template_values = skeleton
            .as_ref()
            .map(oneview::os_custom_attributes)
            .unwrap_or_default();
        match attributes::resolve(
            text(plan, "name"),
            plan_attributes,
            &template_values,
            &use_case.attributes,
        ) {
            Ok(list) => resolved = Some(list),
            Err(found) => problems.extend(found),
        }
    }

    resolved
}

/// The server and the profiles already there.
fn find_server(
    client: &Client,
    use_case: &UseCase,
    options: &DeployOptions,
    problems: &mut Vec<Problem>,
) -> (Option<Value>, Option<Value>) {
    let hardware = match &use_case.server {
        Server::Bay { enclosure, bay } => oneview::hardware_in_bay(client, enclosure, *bay)
            .map_err(|e| problems.push(problem("server", e.to_string())))
            .ok(),
        Server::Hardware(name) => {
            oneview::one_by_name(client, oneview::SERVER_HARDWARE, "server hardware", name)
                .map_err(|e| problems.push(problem("server.hardware", e.to_string())))
                .ok()
        }
        Server::Invalid => None,
    };
    let mut old_profile = None;
    if !use_case.profile.is_empty() {
        match oneview::profiles_named(client, &use_case.profile) {
            Ok(found) => {
                if let Some(existing) = found.into_iter().next() {
                    let on = text(&existing, "serverHardwareUri");
                    let same_server = hardware.as_ref().is_some_and(|h| text(h, "uri") == on);
                    if !options.replace {
                        problems.push(problem("profile", format!("a server profile named {:?} already exists ({}); use --replace to replace it", use_case.profile, text(&existing, "uri"))));
                    } else if !same_server && hardware.is_some() {
                        problems.push(problem("profile", format!("the existing profile {:?} is on other server hardware ({on}); --replace only replaces it on the same server", use_case.profile)));
                    } else {
                        old_profile = Some(existing);
                    }
                }
            }
            Err(e) => problems.push(problem("profile", e.to_string())),
        }
    }
    if let Some(h) = &hardware {
        let current = text(h, "serverProfileUri");
        let replaced = old_profile
            .as_ref()
            .is_some_and(|p| text(p, "uri") == current);
        if !current.is_empty() && !replaced {
            let name = client
                .get(Host::OneView, current)
                .ok()
                .map(|p| text(&p, "name").to_string())
                .unwrap_or_else(|| current.to_string());
            problems.push(problem("server", format!("server hardware {:?} already has the server profile {name:?}; undeploy it first", text(h, "name"))));
        } else if current.is_empty() && text(h, "powerState") != "Off" {
            // OneView applies a profile only to a powered-off server. A server without a
            // profile that runs anyway was started by hand: not ours to switch off.
            problems.push(problem(
                "server",
                format!("server hardware {:?} is powered on ({}) without a profile; OneView applies a profile only to a powered-off server — power it off first", text(h, "name"), text(h, "powerState")),
            ));
        }
    }

    (hardware, old_profile)
}

/// The Consul node and a first read: the address and token work, and what is there already.
fn first_consul_read(
    client: &Client,
    use_case: &UseCase,
    options: &DeployOptions,
    resolved: Option<&[OsAttribute]>,
    problems: &mut Vec<Problem>,
) -> (String, Option<ConsulClient>, Option<u64>) {
    let mut node = String::new();
    let mut consul = None;
    let mut stale_index = None;
    if let Some(list) = resolved {
        let lookup = |name: &str| {
            list.iter()
                .find(|a| a.name == name && !a.secret)
                .map(|a| a.value.clone())
        };
        match crate::placeholder::substitute(&use_case.consul.node_template, &lookup) {
            Ok(n) => node = n,
            Err(missing) => {
                let names: Vec<String> = missing.iter().map(|p| p.key()).collect();
                problems.push(Problem::new(
                    "consul.node",
                    Some(use_case.consul.line),
                    format!(
                        "{} is not a (non-secret) attribute of the deployment plan",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(token) = &use_case.consul.token
        && !use_case.consul.address.is_empty()
    {
        // One Consul read never outlasts --wait by much.
        let timeout = options
            .wait
            .clamp(Duration::from_secs(1), Duration::from_secs(30));
        match ConsulClient::new(
            &use_case.consul.address,
            token.clone(),
            timeout,
            use_case.consul.ca_cert.as_deref(),
            client.log,
        ) {
            Ok(consul_client) => consul = Some(consul_client),
            Err(e) => problems.push(Problem::new(
                "consul.ca_cert",
                Some(use_case.consul.line),
                e.to_string(),
            )),
        }
        if let (Some(consul), false) = (&consul, node.is_empty()) {
            match consul.first_boot(&node) {
                Ok(FirstBoot::Check { modify_index, .. }) => stale_index = Some(modify_index),
                Ok(FirstBoot::NotRegistered) => {}
                Err(e @ ConsulError::Denied(_)) => problems.push(Problem::new(
                    "consul.token_env",
                    Some(use_case.consul.line),
                    format!("{e} (from ${})", use_case.consul.token_env),
                )),
                Err(e) => problems.push(Problem::new(
                    "consul.address",
                    Some(use_case.consul.line),
                    e.to_string(),
                )),
            }
        }
    }

    (node, consul, stale_index)
}

/// The profile to create: the template's new-profile skeleton (or a minimal profile for a bare
/// deployment plan) with the name, the server and the custom attributes set.
fn profile_body(
    client: &Client,
    use_case: &UseCase,
    skeleton: Option<Value>,
    osdp: &Value,
    hardware: &Value,
    attributes: &[OsAttribute],
) -> Value {
    let mut body = skeleton.filter(Value::is_object).unwrap_or_else(|| {
        json!({"type": oneview::server_profile_type(client.api_version), "osDeploymentSettings": {"osDeploymentPlanUri": text(osdp, "uri")}})
    });
    let object = body.as_object_mut().expect("object");
    object.insert("name".into(), json!(use_case.profile));
    object.insert("serverHardwareUri".into(), json!(text(hardware, "uri")));
    let settings = object
        .entry("osDeploymentSettings")
        .or_insert_with(|| json!({}));
    if !settings.is_object() {
        *settings = json!({});
    }
    settings["osCustomAttributes"] =
        Value::Array(attributes.iter().map(OsAttribute::to_json).collect());
    body
}

/// The body with secret attribute values masked, for printing.
fn display_body(body: &Value, attributes: &[OsAttribute]) -> Value {
    let mut shown = body.clone();
    shown["osDeploymentSettings"]["osCustomAttributes"] = Value::Array(
        attributes
            .iter()
            .map(OsAttribute::to_display_json)
            .collect(),
    );
    shown
}

/// Powers the server of a use case off and deletes its profile, after checking that the profile
/// of that name is on the server the use case names; then confirms by name that it is gone.
pub fn undeploy(client: &Client, use_case: &UseCase, events: &mut dyn FnMut(&Event)) -> Report {
    mark_secrets(use_case);
    let mut run = Run {
        started: Instant::now(),
        report: new_report(use_case),
        events,
    };
    const FIND: &str = "find-profile";
    let found = match oneview::profiles_named(client, &use_case.profile) {
        Ok(found) => found,
        Err(e) => return run.fail(FIND, e.to_string()),
    };
    let Some(profile) = found.into_iter().next() else {
        run.phase(
            FIND,
            true,
            format!(
                "no server profile named {:?}: nothing to undeploy",
                use_case.profile
            ),
        );
        run.report.outcome = Outcome::Removed;
        return run.report;
    };
    let profile_uri = text(&profile, "uri").to_string();
    let hardware_uri = text(&profile, "serverHardwareUri").to_string();
    run.report.profile_uri = Some(profile_uri.clone());
    run.report.server_hardware_uri = Some(hardware_uri.clone()).filter(|u| !u.is_empty());
    let hardware = match named_hardware(client, use_case) {
        Ok(h) if text(&h, "uri") == hardware_uri => h,
        Ok(h) => {
            return run.fail(FIND, format!("the profile {:?} is on {hardware_uri}, not on {:?} as the use case says; nothing was changed", use_case.profile, text(&h, "name")));
        }
        Err(e) => return run.fail(FIND, format!("{e}; nothing was changed")),
    };
    let hardware_name = text(&hardware, "name").to_string();
    run.phase(
        FIND,
        true,
        format!(
            "profile {:?} ({profile_uri}) on {hardware_name:?}",
            use_case.profile
        ),
    );
    power_off_and_delete(run, client, use_case, &hardware, &profile_uri)
}

/// The server hardware the use case names (by bay or by name).
fn named_hardware(client: &Client, use_case: &UseCase) -> Result<Value, crate::Error> {
    match &use_case.server {
        Server::Bay { enclosure, bay } => oneview::hardware_in_bay(client, enclosure, *bay),
        Server::Hardware(name) => {
            oneview::one_by_name(client, oneview::SERVER_HARDWARE, "server hardware", name)
        }
        Server::Invalid => Err(crate::Error::Usage(
            "the use case names no usable server".into(),
        )),
    }
}

/// The undeploy steps after the checks: power the server off, delete the profile, and confirm
/// by name that it is gone.
fn power_off_and_delete(
    mut run: Run,
    client: &Client,
    use_case: &UseCase,
    hardware: &Value,
    profile_uri: &str,
) -> Report {
    let hardware_uri = text(hardware, "uri");
    let hardware_name = text(hardware, "name");
    if text(hardware, "powerState") != "Off" {
        if let Err(e) = oneview::set_power(client, hardware_uri, false) {
            return run.fail("power-off", format!("powering off {hardware_name:?}: {e}"));
        }
        run.phase(
            "power-off",
            true,
            format!("{hardware_name:?} is powered off"),
        );
    } else {
        run.phase(
            "power-off",
            true,
            format!("{hardware_name:?} was already off"),
        );
    }
    if let Err(e) = oneview::delete_profile(client, profile_uri) {
        return run.fail(
            "delete-profile",
            format!("deleting {:?}: {e}", use_case.profile),
        );
    }
    match oneview::profiles_named(client, &use_case.profile) {
        Ok(left) if left.is_empty() => {
            run.phase(
                "delete-profile",
                true,
                format!(
                    "deleted; OneView lists no profile named {:?}",
                    use_case.profile
                ),
            );
            run.report.outcome = Outcome::Removed;
            run.report
        }
        Ok(_) => run.fail(
            "delete-profile",
            format!(
                "the delete task ended, but OneView still lists a profile named {:?}",
                use_case.profile
            ),
        ),
        Err(e) => run.fail("delete-profile", format!("confirming the delete: {e}")),
    }
}
