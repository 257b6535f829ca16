//! What a bundle's build plans need to find in an image before they run — derived from the plan
//! scripts, not listed by hand, so `golden-image check --bundle B.zip` passing means the plans'
//! file-system preconditions hold (an image without `/etc/sysctl.d` fails the check, not the
//! CentOS Docker CE plan at `upload /etc/sysctl.d/40-ipv6.conf`).
//!
//! Each plan is replayed in order over a model of the paths it has settled: created (`upload`,
//! `write`, `touch`, `mkdir`, `mkdir-p` with all its parents, `ln-s`, `cp`/`mv` destinations),
//! removed (`rm*`), or already required. A path the plan relies on and has not settled is a need:
//! - the **directory** of every path it creates (`upload`, `write`, `write-append`, `touch`,
//!   `mkdir`, `mkdir-mode`, `ln`, `ln-s`, `ln-sf`): guestfish does not create parents;
//! - every **path** it changes in place or removes without `-` (`chmod`, `chown`, `truncate`,
//!   `rm`, `rmdir`), reads (`cat`, `read-file`), copies or moves (`cp*`, `mv`, `rename`), or
//!   hard-links (`ln`, `ln-f`): guestfish fails on a missing one;
//! - every **link target** (`ln-s`, `ln-sf`; relative targets from the link's directory) outside
//!   the boot-time file systems (`/dev`, `/proc`, `/sys`, `/run`): a unit linked into a
//!   `.wants` directory must exist, though guestfish would happily make the dangling link.
//!
//! Not derived: commands prefixed `-` (their failure is ignored), `glob` commands (no match is
//! not a failure), paths holding an unresolved `@ATTRIBUTE@` (they are not known before deploy),
//! and what `sh`/`command` do inside the image. A removed path is never a need (the plan settled
//! it itself).
//!
//! `requirements.toml` covers a need ([`Need::covered_by`]) with an image-phase `exists`
//! requirement for the path, or for a path below it (that one existing, its parents do).
use super::requirements::{Phase, Requirement, Test};
use crate::bundle::{BuildPlan, Bundle};
use crate::guestfish::{self, commands};
use std::collections::{BTreeMap, BTreeSet};

/// What the image must hold at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NeedKind {
    /// A directory (or a symlink to one): the plan creates something in it.
    Directory,
    /// Anything (file, directory, or a symlink that resolves): the plan changes, reads or
    /// links to it.
    Path,
}

/// Where a plan relies on a path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NeededBy {
    pub plan: String,
    /// The step's serial number and plan script name.
    pub serial: String,
    pub step: String,
    /// 1-based line in the plan script.
    pub line: usize,
    /// The command, as written (`upload -<<END /etc/sysctl.d/40-ipv6.conf`).
    pub command: String,
}

/// One path the plans need, with every plan (first use each) that needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Need {
    pub path: String,
    pub kind: NeedKind,
    pub needed_by: Vec<NeededBy>,
}

impl Need {
    /// The names of the plans that need it, in order, once each.
    pub fn plans(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for n in &self.needed_by {
            if !out.contains(&n.plan.as_str()) {
                out.push(&n.plan);
            }
        }
        out
    }

    /// The check `golden-image check --bundle` adds: id `need:<path>`, an `exists` test.
    pub fn requirement(&self) -> Requirement {
        let uses: Vec<String> = self
            .needed_by
            .iter()
            .map(|n| {
                format!(
                    "{:?} step {} {} line {}: {}",
                    n.plan, n.serial, n.step, n.line, n.command
                )
            })
            .collect();
        let what = match self.kind {
            NeedKind::Directory => "directory",
            NeedKind::Path => "path",
        };
        Requirement {
            id: format!("need:{}", self.path),
            description: format!("{what} needed by {}", uses.join("; ")),
            phase: Phase::Image,
            test: Test::Exists {
                path: self.path.clone(),
                file_type: (self.kind == NeedKind::Directory).then(|| "directory".to_string()),
            },
        }
    }

    /// Whether `requirements` (an OS's `requirements.toml`) guarantee this path: an image-phase
    /// `exists` for the path itself (of a matching type) or for a path below it.
    pub fn covered_by(&self, requirements: &[Requirement]) -> bool {
        requirements.iter().any(|r| {
            let Test::Exists { path, file_type } = &r.test else {
                return false;
            };
            if r.phase != Phase::Image {
                return false;
            }
            let below = path
                .strip_prefix(self.path.as_str())
                .is_some_and(|rest| rest.starts_with('/'));
            let same_type = match self.kind {
                NeedKind::Directory => file_type.as_deref() == Some("directory"),
                NeedKind::Path => true,
            };
            below || (*path == self.path && same_type)
        })
    }
}

/// The needs of every build plan of the bundles, merged by path (sorted), each naming its plans.
pub fn bundle_needs(bundles: &[&Bundle]) -> Vec<Need> {
    let mut merged: BTreeMap<String, Need> = BTreeMap::new();
    for bundle in bundles {
        for plan in &bundle.build_plans {
            for (path, kind, by) in plan_needs(bundle, plan) {
                let need = merged.entry(path.clone()).or_insert_with(|| Need {
                    path,
                    kind,
                    needed_by: Vec::new(),
                });
                // A path one plan needs as a directory and another as anything: a directory.
                need.kind = need.kind.min(kind);
                need.needed_by.push(by);
            }
        }
    }
    merged.into_values().collect()
}

/// The paths one plan relies on before it has settled them itself, in order of first use.
pub fn plan_needs(bundle: &Bundle, plan: &BuildPlan) -> Vec<(String, NeedKind, NeededBy)> {
    let mut replay = Replay::default();
    for (step, script) in bundle.steps_of(plan) {
        let Some(script) = script else { continue };
        let parsed = guestfish::parse(&script.content);
        for command in &parsed.commands {
            if command.ignore_errors || command.name == "glob" {
                continue;
            }
            let (name, args) = commands::unprefix(&command.name, &command.args);
            let by = || NeededBy {
                plan: plan.name.clone(),
                serial: step.serial_number.to_string(),
                step: script.name.clone(),
                line: command.line,
                command: std::iter::once(name)
                    .chain(args.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            replay.command(name, args, by);
        }
    }
    replay.needs
}

/// The model a plan is replayed over.
#[derive(Default)]
struct Replay {
    /// Paths known to exist: created by the plan or already needed.
    known: BTreeSet<String>,
    /// Paths the plan removed (never a need afterwards).
    removed: BTreeSet<String>,
    needs: Vec<(String, NeedKind, NeededBy)>,
}

impl Replay {
    fn command(&mut self, name: &str, args: &[String], by: impl Fn() -> NeededBy) {
        match (name, args) {
            ("upload", [_, path])
            | ("write" | "write-append", [path, _])
            | ("touch" | "mkdir", [path])
            | ("mkdir-mode", [path, _]) => {
                self.need(&parent(path), NeedKind::Directory, &by);
                self.create(path);
            }
            ("mkdir-p", [path]) => {
                let mut at = path.as_str();
                while at.len() > 1 {
                    self.create(at);
                    at = parent_of(at);
                }
            }
            ("ln-s" | "ln-sf", [target, link]) => {
                let dir = parent(link);
                self.need(&dir, NeedKind::Directory, &by);
                let target = if target.starts_with('/') {
                    normalize(target)
                } else {
                    normalize(&format!("{dir}/{target}"))
                };
                if !["/dev", "/proc", "/sys", "/run"]
                    .iter()
                    .any(|v| target == *v || target.starts_with(&format!("{v}/")))
                {
                    self.need(&target, NeedKind::Path, &by);
                }
                self.create(link);
            }
            ("ln" | "ln-f", [target, link]) => {
                self.need(target, NeedKind::Path, &by);
                self.need(&parent(link), NeedKind::Directory, &by);
                self.create(link);
            }
            ("chmod", [_, path]) | ("chown", [_, _, path]) | ("truncate", [path]) => {
                self.need(path, NeedKind::Path, &by)
            }
            ("cat" | "read-file", [path]) => self.need(path, NeedKind::Path, &by),
            ("rm" | "rmdir", [path]) => {
                self.need(path, NeedKind::Path, &by);
                self.remove(path);
            }
            ("rm-f" | "rm-rf", [path]) => self.remove(path),
            ("cp" | "cp-a" | "cp-r", [from, to]) => {
                self.need(from, NeedKind::Path, &by);
                self.create(to);
            }
            ("mv" | "rename", [from, to]) => {
                self.need(from, NeedKind::Path, &by);
                self.remove(from);
                self.create(to);
            }
            _ => {}
        }
    }

    fn need(&mut self, path: &str, kind: NeedKind, by: &impl Fn() -> NeededBy) {
        if !path.starts_with('/') || path == "/" || path.contains('@') {
            return; // relative (no mount at /), the root, or not known before deploy
        }
        let path = normalize(path);
        let below = format!("{path}/");
        let settled = self.known.contains(&path)
            || self.removed.contains(&path)
            || self
                .known
                .range(below.clone()..)
                .next()
                .is_some_and(|k| k.starts_with(&below));
        if !settled {
            self.needs.push((path.clone(), kind, by()));
            self.known.insert(path);
        }
    }

    fn create(&mut self, path: &str) {
        let path = normalize(path);
        self.removed.remove(&path);
        self.known.insert(path);
    }

    /// Forgets the path and everything below it (`rm` of a directory fails unless empty, so
    /// treating every removal as recursive never invents a need).
    fn remove(&mut self, path: &str) {
        let path = normalize(path);
        let below = format!("{path}/");
        self.known.retain(|k| *k != path && !k.starts_with(&below));
        self.removed.retain(|k| !k.starts_with(&below));
        self.removed.insert(path);
    }
}

fn parent(path: &str) -> String {
    parent_of(&normalize(path)).to_string()
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// `/a/./b/../c//d/` → `/a/c/d` (lexically: the plans' paths are inside the image).
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{BuildStep, ChecksumFlavour, Manifest, PlanScript};

    fn bundle(scripts: &[&str]) -> Bundle {
        let plan_scripts: Vec<PlanScript> = scripts
            .iter()
            .enumerate()
            .map(|(i, content)| {
                PlanScript::new(
                    format!("00000000-0000-4000-8000-{i:012}"),
                    format!("s{i}"),
                    String::new(),
                    "deploy",
                    content.to_string(),
                )
            })
            .collect();
        let mut plan = BuildPlan::new(
            "00000000-0000-4000-9000-000000000000".into(),
            "P".into(),
            String::new(),
            "deploy",
        );
        for (n, s) in plan_scripts.iter().enumerate() {
            plan.steps.push(BuildStep::new(n + 1, s));
        }
        Bundle {
            manifest: Manifest::new("t", "t", false, "2026-11-26T00:00:00.000Z".into()),
            checksum: ChecksumFlavour::Sha256,
            plan_scripts,
            golden_images: Vec::new(),
            build_plans: vec![plan],
            deployment_plans: Vec::new(),
        }
    }

    fn needs(scripts: &[&str]) -> Vec<(String, NeedKind)> {
        let b = bundle(scripts);
        plan_needs(&b, &b.build_plans[0])
            .into_iter()
            .map(|(p, k, _)| (p, k))
            .collect()
    }

    fn dir(p: &str) -> (String, NeedKind) {
        (p.to_string(), NeedKind::Directory)
    }
    fn path(p: &str) -> (String, NeedKind) {
        (p.to_string(), NeedKind::Path)
    }

    #[test]
    fn parents_of_what_the_plan_creates_unless_it_made_them() {
        assert_eq!(
            needs(&[
                "mount /dev/cl/root /\nupload -<<END /etc/sysctl.d/40-ipv6.conf\nx\nEND",
                "mkdir-p /etc/consul.d/x\nupload -<<END /etc/consul.d/agent.json\n{}\nEND\nwrite /etc/consul.d/x/y z\ntouch /etc/hostname\nmkdir /var/lib/consul",
            ]),
            [dir("/etc/sysctl.d"), dir("/var/lib")]
        );
    }

    #[test]
    fn edits_removals_and_link_targets() {
        assert_eq!(
            needs(&[
                "chmod 0600 /etc/shadow\nrm /etc/motd\nrm-f /etc/gone\nchmod 0600 /etc/gone\n-rm /etc/optional\nglob rm /etc/x*",
                "upload -<<END /etc/systemd/system/a.service\nx\nEND\nln-sf /etc/systemd/system/a.service /etc/systemd/system/multi-user.target.wants/a.service",
                "ln-s /usr/lib/systemd/system/b.service /etc/systemd/system/multi-user.target.wants/b.service\nln-sf /dev/null /etc/systemd/system/c.service\nln-s ../init.d/network /etc/rc.d/rc3.d/S10network",
                "chmod 0755 /usr/local/bin/@NAME@.sh",
            ]),
            [
                path("/etc/shadow"),
                path("/etc/motd"),
                dir("/etc/systemd/system"),
                dir("/etc/systemd/system/multi-user.target.wants"),
                path("/usr/lib/systemd/system/b.service"),
                dir("/etc/rc.d/rc3.d"),
                path("/etc/rc.d/init.d/network"),
            ]
        );
    }

    #[test]
    fn merged_needs_name_every_plan_and_map_to_exists_checks() {
        let mut b = bundle(&["upload -<<END /etc/sysctl.d/x.conf\nx\nEND"]);
        let mut second = b.build_plans[0].clone();
        second.name = "Q".into();
        b.build_plans.push(second);
        let merged = bundle_needs(&[&b]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].plans(), ["P", "Q"]);
        let r = merged[0].requirement();
        assert_eq!(r.id, "need:/etc/sysctl.d");
        assert!(
            r.description
                .contains("\"P\" step 1 s0 line 1: upload -<<END /etc/sysctl.d/x.conf"),
            "{}",
            r.description
        );
        let exists = |p: &str, t: Option<&str>| Requirement {
            id: "x".into(),
            description: String::new(),
            phase: Phase::Image,
            test: Test::Exists {
                path: p.into(),
                file_type: t.map(str::to_string),
            },
        };
        assert!(merged[0].covered_by(&[exists("/etc/sysctl.d", Some("directory"))]));
        assert!(merged[0].covered_by(&[exists("/etc/sysctl.d/99.conf", None)]));
        assert!(!merged[0].covered_by(&[exists("/etc/sysctl.d", None)]));
        assert!(!merged[0].covered_by(&[exists("/etc/sysctl.dx/y", None)]));
        assert!(!merged[0].covered_by(&[exists("/etc", Some("directory"))]));
    }
}
