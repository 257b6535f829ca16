//! Golden image requirements as data (`golden-images/<os>/requirements.toml`) and their
//! evaluation against what was read from an image. Evaluation is pure: no guestfish here.
use super::listing::{FileType, Listing, glob_match};
use crate::source::profile::{Firewall, Posture, SelinuxMode};
use serde::Deserialize;
use std::collections::BTreeMap;

/// When a requirement applies.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Every image the plans run against (before and after capture).
    #[default]
    Image,
    /// Only captured (generalized) golden images: `golden-image check --captured`.
    Captured,
}

/// One requirement: an id, a sentence for humans, and the test.
#[derive(Debug, Clone, Deserialize)]
pub struct Requirement {
    pub id: String,
    pub description: String,
    #[serde(default)]
    pub phase: Phase,
    #[serde(flatten)]
    pub test: Test,
}

/// The kinds of checks. Paths are absolute paths inside the root file system.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Test {
    /// The profile's root LV exists in the profile's VG.
    RootLv,
    /// The root LV holds this file system type.
    RootFilesystem { fs_type: String },
    /// A path exists (optionally of a type: file, directory, symlink).
    Exists {
        path: String,
        #[serde(default)]
        file_type: Option<String>,
    },
    /// Nothing matches the pattern, apart from the exceptions.
    Absent {
        pattern: String,
        #[serde(default)]
        except: Vec<String>,
    },
    /// The file's content matches the regular expression.
    Contains { path: String, regex: String },
    /// The service starts at boot: a systemd `*.wants/<unit>.service` link or a SysV
    /// `/etc/rc.d/rc3.d/S??<unit>` link.
    Enabled { unit: String },
    /// The service does not start at boot (no such link; masked counts as disabled).
    Disabled { unit: String },
    /// Every regular file matching the pattern is empty (absent is fine too).
    Empty { pattern: String },
    /// The user has a password hash in /etc/shadow (the hash is never shown).
    PasswordSet { user: String },
    /// `SELINUX=` of /etc/selinux/config is this mode (no file counts as disabled).
    Selinux { mode: SelinuxMode },
}

impl Test {
    /// Files whose content the test reads.
    pub fn files_needed(&self) -> Vec<String> {
        match self {
            Test::Contains { path, .. } => vec![path.clone()],
            Test::PasswordSet { .. } => vec!["/etc/shadow".to_string()],
            Test::Selinux { .. } => vec![SELINUX_CONFIG.to_string()],
            _ => Vec::new(),
        }
    }
}

/// Where SELinux's boot-time mode lives (selinux_config(5): `SELINUX=enforcing|permissive|disabled`).
pub const SELINUX_CONFIG: &str = "/etc/selinux/config";

/// The checks an OS profile's `[posture]` stands for (ids `posture-*`, phase image): the SELinux
/// mode, and the firewall service enabled at boot — or, for `none`, neither firewalld nor
/// iptables enabled. The open ports are lint's business (the plans open what they listen on).
pub fn posture_requirements(posture: &Posture) -> Vec<Requirement> {
    let mode = match posture.selinux {
        SelinuxMode::Enforcing => "enforcing",
        SelinuxMode::Permissive => "permissive",
        SelinuxMode::Disabled => "disabled",
    };
    let requirement = |id: &str, description: String, test: Test| Requirement {
        id: id.to_string(),
        description,
        phase: Phase::Image,
        test,
    };
    let mut out = vec![requirement(
        "posture-selinux",
        format!("SELinux is {mode} at boot ([posture] selinux of profile.toml)"),
        Test::Selinux {
            mode: posture.selinux,
        },
    )];
    match posture.firewall {
        Firewall::Firewalld | Firewall::Iptables => {
            let unit = if posture.firewall == Firewall::Firewalld {
                "firewalld"
            } else {
                "iptables"
            };
            out.push(requirement(
                "posture-firewall",
                format!("the {unit} service is enabled ([posture] firewall of profile.toml)"),
                Test::Enabled { unit: unit.into() },
            ));
        }
        Firewall::None => {
            for unit in ["firewalld", "iptables"] {
                out.push(requirement(
                    &format!("posture-firewall-{unit}"),
                    format!("{unit} is not enabled ([posture] firewall = \"none\")"),
                    Test::Disabled { unit: unit.into() },
                ));
            }
        }
    }
    out
}

/// What was read from one image.
#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    /// `lvs` output: LV device paths.
    pub lvs: Vec<String>,
    pub vgs: Vec<String>,
    /// `vfs-type` of the root LV.
    pub root_fs: Option<String>,
    /// Why the root LV could not be mounted, when it could not.
    pub mount_error: Option<String>,
    pub listing: Listing,
    /// Contents of the files the tests asked for (missing files are absent).
    pub files: BTreeMap<String, Vec<u8>>,
}

/// The outcome of one requirement.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct CheckResult {
    pub id: String,
    pub description: String,
    pub phase: Phase,
    pub passed: bool,
    /// What was found, in a few words.
    pub found: String,
}

/// Evaluates one requirement.
pub fn evaluate(req: &Requirement, facts: &ImageFacts, root_lv: &str, vg: &str) -> CheckResult {
    let (passed, found) = run_test(&req.test, facts, root_lv, vg);
    CheckResult {
        id: req.id.clone(),
        description: req.description.clone(),
        phase: req.phase,
        passed,
        found,
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

fn run_test(test: &Test, facts: &ImageFacts, root_lv: &str, vg: &str) -> (bool, String) {
    match test {
        Test::RootLv => {
            let ok = facts.lvs.iter().any(|l| l == root_lv) && facts.vgs.iter().any(|v| v == vg);
            (
                ok,
                format!(
                    "volume groups: {}; logical volumes: {}",
                    list(&facts.vgs),
                    list(&facts.lvs)
                ),
            )
        }
        Test::RootFilesystem { fs_type } => match &facts.root_fs {
            Some(found) => (found == fs_type, format!("{root_lv} is {found}")),
            None => (false, format!("{root_lv}: no file system found")),
        },
        Test::Exists { path, file_type } => exists(facts, path, file_type.as_deref()),
        Test::Absent { pattern, except } => absent(facts, pattern, except),
        Test::Contains { path, regex } => contains(facts, path, regex),
        Test::Enabled { unit } => enabled(facts, unit, true),
        Test::Disabled { unit } => enabled(facts, unit, false),
        Test::Empty { pattern } => empty(facts, pattern),
        Test::PasswordSet { user } => password_set(facts, user),
        Test::Selinux { mode } => selinux(facts, mode),
    }
}

/// Why the root LV's files are unknown, when it could not be mounted.
fn unmounted(facts: &ImageFacts) -> Option<String> {
    facts
        .mount_error
        .clone()
        .map(|e| format!("root LV not mounted: {e}"))
}

fn exists(facts: &ImageFacts, path: &str, file_type: Option<&str>) -> (bool, String) {
    if let Some(e) = unmounted(facts) {
        return (false, e);
    }
    // The link itself when a symlink is asked for, else what a process would open
    // (symlinks followed: `/etc/init.d/x` is `/etc/rc.d/init.d/x` on CentOS).
    let entry = match facts.listing.get(path) {
        Some(e) if e.file_type == FileType::Symlink && file_type != Some("symlink") => {
            facts.listing.resolve(path)
        }
        Some(e) => Some(e),
        None => facts.listing.resolve(path),
    };
    match entry {
        None => (false, format!("{path} does not exist")),
        Some(entry) => {
            let ok = file_type.is_none_or(|t| t == entry.file_type.as_str());
            (ok, format!("{path} is a {}", entry.file_type.as_str()))
        }
    }
}

fn absent(facts: &ImageFacts, pattern: &str, except: &[String]) -> (bool, String) {
    if let Some(e) = unmounted(facts) {
        return (false, e);
    }
    let found: Vec<String> = facts
        .listing
        .matching(pattern)
        .filter(|e| !except.iter().any(|x| glob_match(x, &e.path)))
        .map(|e| e.path.clone())
        .collect();
    (
        found.is_empty(),
        if found.is_empty() {
            format!("nothing matches {pattern}")
        } else {
            format!("found {}", found.join(", "))
        },
    )
}

fn contains(facts: &ImageFacts, path: &str, regex: &str) -> (bool, String) {
    let Some(bytes) = facts.files.get(path) else {
        return (
            false,
            unmounted(facts).unwrap_or_else(|| format!("{path} does not exist")),
        );
    };
    let text = String::from_utf8_lossy(bytes);
    match regex::RegexBuilder::new(regex).multi_line(true).build() {
        Err(e) => (false, format!("bad regex {regex:?}: {e}")),
        Ok(re) => match re.find(&text) {
            Some(m) => (true, format!("{path}: {}", first_line(m.as_str()))),
            None => (false, format!("{path} has no line matching {regex}")),
        },
    }
}

/// `Enabled` (`want` true) or `Disabled`: whether `.wants/` links start the unit.
fn enabled(facts: &ImageFacts, unit: &str, want: bool) -> (bool, String) {
    if let Some(e) = unmounted(facts) {
        return (false, e);
    }
    let links = enable_links(&facts.listing, unit);
    let enabled = !links.is_empty();
    let found = if enabled {
        format!("enabled by {}", links.join(", "))
    } else {
        format!("{unit} not enabled")
    };
    (enabled == want, found)
}

fn empty(facts: &ImageFacts, pattern: &str) -> (bool, String) {
    if let Some(e) = unmounted(facts) {
        return (false, e);
    }
    let non_empty: Vec<String> = facts
        .listing
        .matching(pattern)
        .filter(|e| e.file_type == FileType::File && e.size > 0)
        .map(|e| format!("{} ({} bytes)", e.path, e.size))
        .collect();
    (
        non_empty.is_empty(),
        if non_empty.is_empty() {
            format!("{pattern}: empty or absent")
        } else {
            non_empty.join(", ")
        },
    )
}

fn password_set(facts: &ImageFacts, user: &str) -> (bool, String) {
    let Some(bytes) = facts.files.get("/etc/shadow") else {
        return (
            false,
            unmounted(facts).unwrap_or_else(|| "/etc/shadow does not exist".to_string()),
        );
    };
    let text = String::from_utf8_lossy(bytes);
    let field = text.lines().find_map(|l| {
        l.strip_prefix(&format!("{user}:"))
            .map(|rest| rest.split(':').next().unwrap_or(""))
    });
    match field {
        None => (false, format!("no {user} entry in /etc/shadow")),
        Some(hash) if hash.starts_with('$') => (true, format!("{user} has a password hash")),
        Some(hash) if hash.starts_with('!') => (false, format!("{user} is locked")),
        Some("") => (false, format!("{user} has an empty password")),
        Some(_) => (false, format!("{user} has no password")),
    }
}

fn selinux(facts: &ImageFacts, mode: &SelinuxMode) -> (bool, String) {
    let wanted = match mode {
        SelinuxMode::Enforcing => "enforcing",
        SelinuxMode::Permissive => "permissive",
        SelinuxMode::Disabled => "disabled",
    };
    let Some(bytes) = facts.files.get(SELINUX_CONFIG) else {
        if let Some(e) = unmounted(facts) {
            return (false, e);
        }
        // Without the config no policy is loaded at boot: SELinux is off.
        return (
            *mode == SelinuxMode::Disabled,
            format!("{SELINUX_CONFIG} does not exist (SELinux disabled)"),
        );
    };
    let text = String::from_utf8_lossy(bytes);
    match selinux_setting(&text) {
        Some(found) => (
            found == wanted,
            format!("SELINUX={found} in {SELINUX_CONFIG}"),
        ),
        None => (false, format!("{SELINUX_CONFIG} sets no SELINUX=")),
    }
}

/// The mode `SELINUX=` sets (the last assignment wins, as in a sourced shell file).
fn selinux_setting(text: &str) -> Option<&str> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("SELINUX="))
        .map(|v| v.trim().trim_matches('"'))
        .next_back()
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim()
}

/// The links that start `unit` at boot: systemd wants links (`/dev/null` masks are ignored) and
/// SysV start links in runlevel 3.
fn enable_links(listing: &Listing, unit: &str) -> Vec<String> {
    let service = if unit.contains('.') {
        unit.to_string()
    } else {
        format!("{unit}.service")
    };
    let wants = format!("/etc/systemd/system/*.wants/{service}");
    let sysv = format!("/etc/rc.d/rc3.d/S??{unit}");
    listing
        .matching(&wants)
        .chain(listing.matching(&sysv))
        .filter(|e| e.file_type == FileType::Symlink && e.target.as_deref() != Some("/dev/null"))
        .map(|e| e.path.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> ImageFacts {
        let listing = Listing::parse(
            "l\t777\t0\t0\t1\t1\t1\tetc/systemd/system/multi-user.target.wants/NetworkManager.service\t/usr/lib/systemd/system/NetworkManager.service\n\
             l\t777\t0\t0\t1\t1\t1\tetc/rc.d/rc3.d/S10network\t../init.d/network\n\
             f\t600\t0\t0\t10\t1\t1\tvar/log/messages\t\n\
             f\t600\t0\t0\t0\t1\t1\tvar/log/secure\t\n",
        );
        let mut files = BTreeMap::new();
        files.insert(
            "/etc/shadow".to_string(),
            b"root:$6$abc:17000::::::\nbin:*:1::::::\n".to_vec(),
        );
        files.insert(
            "/etc/multipath.conf".to_string(),
            b"defaults {\n    user_friendly_names yes\n}\n".to_vec(),
        );
        ImageFacts {
            lvs: vec!["/dev/cl/root".into()],
            vgs: vec!["cl".into()],
            root_fs: Some("ext4".into()),
            mount_error: None,
            listing,
            files,
        }
    }

    #[test]
    fn selinux_mode_and_posture_checks() {
        let mut f = facts();
        let selinux = |mode| Test::Selinux { mode };
        let (ok, found) = run_test(&selinux(SelinuxMode::Disabled), &f, "/dev/cl/root", "cl");
        assert!(ok && found.contains("does not exist"), "{found}");
        f.files.insert(
            SELINUX_CONFIG.into(),
            b"# SELINUX=disabled\nSELINUX=permissive\nSELINUXTYPE=targeted\n".to_vec(),
        );
        let (ok, found) = run_test(&selinux(SelinuxMode::Enforcing), &f, "/dev/cl/root", "cl");
        assert!(!ok);
        assert_eq!(found, "SELINUX=permissive in /etc/selinux/config");
        assert!(run_test(&selinux(SelinuxMode::Permissive), &f, "/dev/cl/root", "cl").0);

        let posture = |firewall| Posture {
            selinux: SelinuxMode::Enforcing,
            firewall,
            open: vec![],
        };
        let ids = |p: &Posture| -> Vec<String> {
            posture_requirements(p).into_iter().map(|r| r.id).collect()
        };
        assert_eq!(
            ids(&posture(Firewall::Firewalld)),
            ["posture-selinux", "posture-firewall"]
        );
        // firewall = "none": an enabled firewalld fails it (the listing enables NetworkManager
        // only, so both pass here; a firewalld link makes the firewalld one fail).
        let none = posture_requirements(&posture(Firewall::None));
        assert_eq!(none.len(), 3);
        assert!(
            none[1..]
                .iter()
                .all(|r| run_test(&r.test, &f, "/dev/cl/root", "cl").0)
        );
        f.listing = Listing::parse(
            "l\t777\t0\t0\t1\t1\t1\tetc/systemd/system/multi-user.target.wants/firewalld.service\t/usr/lib/systemd/system/firewalld.service\n",
        );
        assert!(!run_test(&none[1].test, &f, "/dev/cl/root", "cl").0);
        let enabled = &posture_requirements(&posture(Firewall::Firewalld))[1];
        assert!(run_test(&enabled.test, &f, "/dev/cl/root", "cl").0);
    }

    fn check(test: Test) -> (bool, String) {
        run_test(&test, &facts(), "/dev/cl/root", "cl")
    }

    #[test]
    fn each_kind_passes_and_fails() {
        assert!(check(Test::RootLv).0);
        assert!(!run_test(&Test::RootLv, &facts(), "/dev/fedora/root", "fedora").0);
        assert!(
            check(Test::RootFilesystem {
                fs_type: "ext4".into()
            })
            .0
        );
        assert!(
            !check(Test::RootFilesystem {
                fs_type: "xfs".into()
            })
            .0
        );
        assert!(
            check(Test::Enabled {
                unit: "network".into()
            })
            .0
        );
        let (ok, found) = check(Test::Disabled {
            unit: "NetworkManager".into(),
        });
        assert!(!ok);
        assert!(found.contains("multi-user.target.wants"), "{found}");
        assert!(
            check(Test::Disabled {
                unit: "cloud-init".into()
            })
            .0
        );
        assert!(
            check(Test::Contains {
                path: "/etc/multipath.conf".into(),
                regex: r"^\s*user_friendly_names\s+yes".into()
            })
            .0
        );
        assert!(
            !check(Test::Contains {
                path: "/etc/multipath.conf".into(),
                regex: "find_multipaths".into()
            })
            .0
        );
        assert!(
            !check(Test::Empty {
                pattern: "/var/log/*".into()
            })
            .0
        );
        assert!(
            check(Test::Empty {
                pattern: "/var/log/secure".into()
            })
            .0
        );
        let (ok, found) = check(Test::PasswordSet {
            user: "root".into(),
        });
        assert!(ok);
        assert!(!found.contains("$6$"), "never shows the hash: {found}");
        assert!(!check(Test::PasswordSet { user: "bin".into() }).0);
        assert!(
            check(Test::Absent {
                pattern: "/etc/ssh/*key*".into(),
                except: vec![]
            })
            .0
        );
        assert!(
            !check(Test::Absent {
                pattern: "/var/log/*".into(),
                except: vec!["/var/log/secure".into()]
            })
            .0
        );
    }
}
