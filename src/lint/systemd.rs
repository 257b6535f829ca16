//! systemd rules (I3S050–I3S055) on the unit files a build plan uploads: sections, ExecStart,
//! dependencies, `.wants/` links (the `k8s-minion` bug), units never enabled.
use super::Sink;
use super::effects::{Effects, FileWrite, basename};
use super::target::{ScriptView, Target};
use std::collections::HashSet;

const UNIT_DIRS: [&str; 4] = [
    "/etc/systemd/system/",
    "/usr/lib/systemd/system/",
    "/lib/systemd/system/",
    "/run/systemd/system/",
];
const UNIT_SUFFIXES: [&str; 9] = [
    ".service",
    ".target",
    ".timer",
    ".socket",
    ".mount",
    ".path",
    ".automount",
    ".slice",
    ".scope",
];

/// Units every systemd system has, or that distribution packages installed at first boot bring.
const KNOWN_UNITS: &[&str] = &[
    "basic.target",
    "default.target",
    "emergency.target",
    "final.target",
    "getty.target",
    "graphical.target",
    "halt.target",
    "local-fs-pre.target",
    "local-fs.target",
    "multi-user.target",
    "network-online.target",
    "network-pre.target",
    "network.target",
    "nss-lookup.target",
    "nss-user-lookup.target",
    "paths.target",
    "poweroff.target",
    "reboot.target",
    "remote-fs-pre.target",
    "remote-fs.target",
    "rescue.target",
    "shutdown.target",
    "sockets.target",
    "swap.target",
    "sysinit.target",
    "timers.target",
    "time-sync.target",
    "cloud-init.target",
    "cloud-config.target",
    "auditd.service",
    "chronyd.service",
    "containerd.service",
    "crond.service",
    "dbus.service",
    "dbus.socket",
    "docker.service",
    "docker.socket",
    "firewalld.service",
    "iscsi.service",
    "iscsid.service",
    "kdump.service",
    "kubelet.service",
    "multipathd.service",
    "network.service",
    "NetworkManager.service",
    "NetworkManager-wait-online.service",
    "ntpd.service",
    "rsyslog.service",
    "sshd.service",
    "tuned.service",
    "cloud-init.service",
    "cloud-final.service",
    "cloud-config.service",
    "cloud-init-local.service",
    "datadog-agent.service",
    "openvswitch.service",
    "libvirtd.service",
];

pub fn is_unit_path(path: &str) -> bool {
    UNIT_DIRS
        .iter()
        .any(|d| path.strip_prefix(d).is_some_and(|rest| !rest.contains('/')))
        && UNIT_SUFFIXES.iter().any(|s| path.ends_with(s))
}

fn is_unit_name(name: &str) -> bool {
    UNIT_SUFFIXES.iter().any(|s| name.ends_with(s))
}

fn is_known_unit(name: &str) -> bool {
    KNOWN_UNITS.contains(&name)
        || name.starts_with("systemd-")
        || name.starts_with("lvm2-")
        || name.contains('@')
        || name.contains('%')
        || name.starts_with("-.")
}

/// One `Key=Value` of a unit file, with its content line in the plan script.
struct Setting {
    section: String,
    key: String,
    value: String,
    line: usize,
}

struct Unit<'v> {
    name: String,
    write: FileWrite<'v>,
    sections: Vec<String>,
    settings: Vec<Setting>,
}

fn parse_unit<'v>(write: &FileWrite<'v>) -> Option<Unit<'v>> {
    let content = write.content.as_ref()?;
    let first_line = write.body_line?;
    let mut section = String::new();
    let mut sections = Vec::new();
    let mut settings = Vec::new();
    for (i, raw) in content.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].to_string();
            sections.push(section.clone());
        } else if let Some((key, value)) = line.split_once('=') {
            settings.push(Setting {
                section: section.clone(),
                key: key.trim().to_string(),
                value: value.trim().to_string(),
                line: first_line + i,
            });
        }
    }
    Some(Unit {
        name: basename(&write.path).to_string(),
        write: write.clone(),
        sections,
        settings,
    })
}

pub fn check(target: &Target, sink: &mut Sink) {
    // Units any plan script of the bundle writes: an ordering dependency (After=/Before=) on one
    // of them is fine even when this build plan does not include it.
    // Script by script: the effects of all scripts at once (every here-document copied) cost
    // tens of MiB for 100,000 plan scripts, only to keep a few unit names.
    let everywhere: HashSet<String> = target
        .scripts
        .iter()
        .flat_map(|view| {
            Effects::of(&[view])
                .files
                .iter()
                .filter(|f| is_unit_path(&f.path))
                .map(|f| basename(&f.path).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    for plan in &target.bundle.build_plans {
        let steps: Vec<&ScriptView> = target.steps(plan).into_iter().flatten().collect();
        check_steps(&plan.name, &steps, &everywhere, sink);
    }
    for view in target.unused_scripts() {
        check_steps(&view.script.name, &[view], &everywhere, sink);
    }
}

/// What the rules on one sequence of steps share: the plan's name, what its steps do and the
/// units they write.
struct Scope<'a, 'v> {
    context: &'a str,
    everywhere: &'a HashSet<String>,
    effects: &'a Effects<'v>,
    written: HashSet<&'a str>,
}

impl Scope<'_, '_> {
    /// " (in build plan …)" when the finding is about a plan rather than the script alone.
    fn in_plan(&self, view: &ScriptView) -> String {
        if view.script.name == self.context {
            String::new()
        } else {
            format!(" (in build plan {:?})", self.context)
        }
    }
}

fn check_steps(
    context: &str,
    steps: &[&ScriptView],
    everywhere: &HashSet<String>,
    sink: &mut Sink,
) {
    let effects = Effects::of(steps);
    let units: Vec<Unit> = effects
        .files
        .iter()
        .filter(|f| is_unit_path(&f.path))
        .filter_map(parse_unit)
        .collect();
    let scope = Scope {
        context,
        everywhere,
        effects: &effects,
        written: units.iter().map(|u| u.name.as_str()).collect(),
    };

    for unit in &units {
        check_section(unit, sink);
        for setting in &unit.settings {
            match (setting.section.as_str(), setting.key.as_str()) {
                (
                    "Service",
                    "ExecStart" | "ExecStartPre" | "ExecStartPost" | "ExecStop" | "ExecReload",
                ) => check_exec(&scope, unit, setting, sink),
                (
                    "Unit" | "Install",
                    key @ ("After" | "Before" | "Requires" | "Wants" | "BindsTo" | "PartOf"
                    | "Requisite" | "WantedBy" | "RequiredBy" | "OnFailure" | "Also"),
                ) => check_dependencies(&scope, unit, setting, key, sink),
                _ => {}
            }
        }
    }
    check_links(&scope, sink);
    check_never_enabled(&scope, &units, sink);
}

/// I3S050: a unit without the section its type needs.
fn check_section(unit: &Unit, sink: &mut Sink) {
    let view = unit.write.view;
    let script = &view.script.name;
    let needed = match unit.name.rsplit('.').next() {
        Some("service") => Some("Service"),
        Some("timer") => Some("Timer"),
        Some("socket") => Some("Socket"),
        Some("mount") => Some("Mount"),
        Some("path") => Some("Path"),
        _ => None,
    };
    if let Some(section) = needed
        && !unit.sections.iter().any(|s| s == section)
    {
        sink.at_script(
            "I3S050",
            view,
            unit.write.at.line,
            None,
            format!(
                "plan script {script:?}: unit {} has no [{section}] section",
                unit.name
            ),
        );
    }
}

/// I3S051: an Exec*= program the plan does not write or never makes executable.
fn check_exec(scope: &Scope, unit: &Unit, setting: &Setting, sink: &mut Sink) {
    let view = unit.write.view;
    let script = &view.script.name;
    let effects = scope.effects;
    let program = setting.value.trim_start_matches(['@', '-', ':', '+', '!']);
    let program = program
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches('"');
    if !program.starts_with('/') || program.contains('@') {
        return;
    }
    let message = match effects.file(program) {
        Some(_) if !effects.executable(program) => Some(format!(
            "{}= runs {program}, which the plan uploads but never makes executable (chmod 0755){}",
            setting.key,
            scope.in_plan(view)
        )),
        Some(_) => None,
        None if is_local_path(program) => Some(format!(
            "{}= runs {program}, which no step of the plan writes{}",
            setting.key,
            scope.in_plan(view)
        )),
        None => None,
    };
    if let Some(message) = message {
        sink.at_script(
            "I3S051",
            view,
            setting.line,
            None,
            format!("plan script {script:?}: unit {}: {message}", unit.name),
        );
    }
}

/// I3S052: a dependency on a unit nothing writes and systemd does not ship.
fn check_dependencies(scope: &Scope, unit: &Unit, setting: &Setting, key: &str, sink: &mut Sink) {
    let view = unit.write.view;
    let script = &view.script.name;
    let context = scope.context;
    let ordering_only = matches!(key, "After" | "Before");
    for dependency in setting.value.split_whitespace() {
        let fine = !is_unit_name(dependency)
            || scope.written.contains(dependency)
            || is_known_unit(dependency)
            || ordering_only && scope.everywhere.contains(dependency);
        if !fine {
            let why = if scope.everywhere.contains(dependency) {
                format!("no step of build plan {context:?} writes it")
            } else {
                "no plan script writes it and it is not a standard unit".to_string()
            };
            sink.at_script(
                "I3S052",
                view,
                setting.line,
                None,
                format!(
                    "plan script {script:?}: unit {}: {key}={dependency}, but {why}",
                    unit.name
                ),
            );
        }
    }
}

/// I3S053 and I3S054: `.wants/` and `.requires/` links named unlike their target, or pointing
/// to a unit nothing writes.
fn check_links(scope: &Scope, sink: &mut Sink) {
    let effects = scope.effects;
    for link in &effects.links {
        let view = link.view;
        let script = &view.script.name;
        let parent = link.link.rsplit_once('/').map_or("", |(dir, _)| dir);
        if !(parent.ends_with(".wants") || parent.ends_with(".requires")) {
            continue;
        }
        let link_name = basename(&link.link);
        let target_name = basename(&link.target);
        if link_name != target_name {
            sink.at_script(
                "I3S053",
                view,
                link.at.line,
                None,
                format!(
                    "plan script {script:?}: link {} is named {link_name} but points to {target_name}; systemd loads it as a unit called {link_name}",
                    link.link
                ),
            );
        }
        let exists = scope.written.contains(target_name) && effects.file(&link.target).is_some()
            || !link.target.starts_with("/etc/")
            || is_known_unit(target_name);
        if !exists {
            sink.at_script(
                "I3S054",
                view,
                link.at.line,
                None,
                format!(
                    "plan script {script:?}: link {} points to {}, which no step writes{}",
                    link.link,
                    link.target,
                    scope.in_plan(view)
                ),
            );
        }
    }
}

/// I3S055: units nothing starts.
fn check_never_enabled(scope: &Scope, units: &[Unit], sink: &mut Sink) {
    let mut referenced: HashSet<&str> = scope
        .effects
        .links
        .iter()
        .map(|l| basename(&l.target))
        .collect();
    let mut activated: Vec<String> = Vec::new();
    for unit in units {
        for setting in &unit.settings {
            if matches!(
                setting.key.as_str(),
                "Wants" | "Requires" | "BindsTo" | "Requisite" | "Also" | "OnFailure" | "Unit"
            ) {
                referenced.extend(setting.value.split_whitespace());
            }
        }
        // A .timer, .socket or .path starts the .service of the same name (unless Unit= says otherwise).
        if let Some(stem) = [".timer", ".socket", ".path"]
            .iter()
            .find_map(|s| unit.name.strip_suffix(s))
        {
            activated.push(format!("{stem}.service"));
        }
    }
    referenced.extend(activated.iter().map(String::as_str));
    for unit in units {
        let startable = unit.name.ends_with(".service")
            || unit.name.ends_with(".timer")
            || unit.name.ends_with(".socket");
        if startable && !referenced.contains(unit.name.as_str()) {
            let view = unit.write.view;
            sink.at_script(
                "I3S055",
                view,
                unit.write.at.line,
                None,
                format!(
                    "plan script {:?}: unit {} is never enabled: no .wants/ link and no other unit wants it{}",
                    view.script.name,
                    unit.name,
                    scope.in_plan(view)
                ),
            );
        }
    }
}

/// Paths a golden image does not provide by itself: the plan must write them.
fn is_local_path(path: &str) -> bool {
    [
        "/usr/local/",
        "/opt/",
        "/root/",
        "/home/",
        "/srv/",
        "/etc/",
        "/var/",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}
