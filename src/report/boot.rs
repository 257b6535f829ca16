//! The first-boot picture of a build plan: the systemd units its steps upload (here-documents at
//! a unit path), the units and targets those declare dependencies on, and one edge per declared
//! dependency (`After=`, `Before=`, `Requires=`, `Wants=`, `WantedBy=`, `RequiredBy=`, and a
//! `ln-s` into a `<target>.wants/` or `.requires/` directory not already declared).
use crate::lint::effects::{Effects, basename};
use crate::lint::systemd::is_unit_path;
use crate::lint::target::ScriptView;
use crate::source::contract::is_unit_name;
use serde::Serialize;

/// The unit that reports the node's first-boot result: templates/consul-agent.j2 installs
/// `node-status.service` after `runlast.target`, and deploy waits for its verdict in Consul
/// (templates/README.md, "Readiness").
pub const READINESS_UNIT: &str = "node-status.service";

/// The `[Unit]` and `[Install]` keys drawn as edges (systemd.unit(5)).
const DEPENDENCY_KEYS: [(&str, &str, DependencyKind); 6] = [
    ("Unit", "After", DependencyKind::After),
    ("Unit", "Before", DependencyKind::Before),
    ("Unit", "Requires", DependencyKind::Requires),
    ("Unit", "Wants", DependencyKind::Wants),
    ("Install", "WantedBy", DependencyKind::WantedBy),
    ("Install", "RequiredBy", DependencyKind::RequiredBy),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyKind {
    After,
    Before,
    Requires,
    Wants,
    WantedBy,
    RequiredBy,
}

impl DependencyKind {
    /// The directive as written in a unit file.
    pub fn directive(self) -> &'static str {
        match self {
            DependencyKind::After => "After",
            DependencyKind::Before => "Before",
            DependencyKind::Requires => "Requires",
            DependencyKind::Wants => "Wants",
            DependencyKind::WantedBy => "WantedBy",
            DependencyKind::RequiredBy => "RequiredBy",
        }
    }
}

/// One unit in the picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitNode {
    pub name: String,
    /// Where a step uploads it; `None` for a unit only named by a dependency (a target, a
    /// distribution's service).
    pub path: Option<String>,
    /// Serial number of the step that uploads it.
    pub step: Option<String>,
    pub readiness: bool,
}

/// `from` declares `kind` on `to` (`from` has `After=to`, or `from` is linked into `to.wants/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Dependency {
    pub from: String,
    pub to: String,
    pub kind: DependencyKind,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BootGraph {
    pub units: Vec<UnitNode>,
    pub edges: Vec<Dependency>,
}

impl BootGraph {
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }
    pub fn unit(&self, name: &str) -> Option<&UnitNode> {
        self.units.iter().find(|u| u.name == name)
    }
    fn add_unit(&mut self, name: &str) {
        if self.unit(name).is_none() {
            self.units.push(UnitNode {
                name: name.to_string(),
                path: None,
                step: None,
                readiness: name == READINESS_UNIT,
            });
        }
    }
    fn add_edge(&mut self, edge: Dependency) {
        if !self.edges.contains(&edge) {
            self.add_unit(&edge.from);
            self.add_unit(&edge.to);
            self.edges.push(edge);
        }
    }
}

/// The units uploaded by `steps` (a build plan's, in order, with their serial numbers) and their
/// declared dependencies. The last upload of a unit path wins, as on the image.
pub fn first_boot_graph(steps: &[(&str, &ScriptView)]) -> BootGraph {
    let views: Vec<&ScriptView> = steps.iter().map(|(_, v)| *v).collect();
    let effects = Effects::of(&views);
    let mut graph = BootGraph::default();
    let mut uploaded: Vec<(String, String, String, Option<String>)> = Vec::new();
    for file in effects.files.iter().filter(|f| is_unit_path(&f.path)) {
        let name = basename(&file.path).to_string();
        if !is_unit_name(&name) {
            continue;
        }
        uploaded.retain(|(n, ..)| *n != name);
        let serial = steps[file.at.step].0.to_string();
        uploaded.push((name, file.path.clone(), serial, file.content.clone()));
    }
    for (name, path, serial, _) in &uploaded {
        graph.units.push(UnitNode {
            name: name.clone(),
            path: Some(path.clone()),
            step: Some(serial.clone()),
            readiness: name == READINESS_UNIT,
        });
    }
    for (name, _, _, content) in &uploaded {
        for (kind, to) in declared(content.as_deref().unwrap_or("")) {
            graph.add_edge(Dependency {
                from: name.clone(),
                to,
                kind,
            });
        }
    }
    for link in &effects.links {
        let Some(edge) = wants_link(&link.target, &link.link) else {
            continue;
        };
        if graph.unit(&edge.from).is_some_and(|u| u.path.is_some()) {
            graph.add_edge(edge);
        }
    }
    graph
}

/// `ln-s /etc/systemd/system/a.service /etc/systemd/system/t.target.wants/a.service`: a wants
/// (or requires) dependency of the target on the unit, drawn as the unit's `WantedBy=`.
fn wants_link(target: &str, link: &str) -> Option<Dependency> {
    let rest = link.strip_prefix("/etc/systemd/system/")?;
    let (dir, _) = rest.split_once('/')?;
    let (unit, kind) = match (dir.strip_suffix(".wants"), dir.strip_suffix(".requires")) {
        (Some(unit), _) => (unit, DependencyKind::WantedBy),
        (_, Some(unit)) => (unit, DependencyKind::RequiredBy),
        _ => return None,
    };
    let from = basename(target);
    (is_unit_name(unit) && is_unit_name(from)).then(|| Dependency {
        from: from.to_string(),
        to: unit.to_string(),
        kind,
    })
}

/// The dependencies a unit file declares, in file order: one per named unit.
pub fn declared(content: &str) -> Vec<(DependencyKind, String)> {
    let mut section = "";
    let mut found = Vec::new();
    for line in content.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let Some((_, _, kind)) = DEPENDENCY_KEYS
            .iter()
            .find(|(s, k, _)| *s == section && *k == key)
        else {
            continue;
        };
        for name in value.split_whitespace().filter(|n| is_unit_name(n)) {
            if !found.iter().any(|(k, n)| k == kind && n == name) {
                found.push((*kind, name.to_string()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_unit_and_install_dependencies_once_each() {
        let unit = "[Unit]\nAfter=multi-user.target docker.service\nRequires=docker.service\n\
                    Wants=x.service x.service\nDescription=After=no.service\n[Service]\n\
                    After=ignored.service\n[Install]\nWantedBy=runlast.target\n";
        let got = declared(unit);
        assert_eq!(
            got,
            vec![
                (DependencyKind::After, "multi-user.target".to_string()),
                (DependencyKind::After, "docker.service".to_string()),
                (DependencyKind::Requires, "docker.service".to_string()),
                (DependencyKind::Wants, "x.service".to_string()),
                (DependencyKind::WantedBy, "runlast.target".to_string()),
            ]
        );
    }

    #[test]
    fn a_wants_link_is_a_wanted_by_edge() {
        let edge = wants_link(
            "/etc/systemd/system/a.service",
            "/etc/systemd/system/timers.target.wants/a.service",
        )
        .unwrap();
        assert_eq!(edge.to, "timers.target");
        assert_eq!(edge.kind, DependencyKind::WantedBy);
        assert!(wants_link("/x/a.service", "/etc/systemd/system/a.service").is_none());
    }
}
