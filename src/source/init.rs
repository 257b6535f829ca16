//! `init`: a new repository skeleton with one working example bundle.
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The skeleton's files: (relative path, content).
pub fn skeleton(project: &str) -> Vec<(&'static str, String)> {
    vec![
        (".gitignore", "/dist/\n".to_string()),
        (
            "project.toml",
            format!(
                "# Names the release archive: dist/<name>-<version>.tar.gz (build --archive).\nname = {}\nversion = \"2026.11.26\"\n",
                toml::Value::String(project.to_string())
            ),
        ),
        ("attributes.toml", ATTRIBUTES.to_string()),
        ("golden-images/centos7.4/profile.toml", PROFILE.to_string()),
        ("templates/_lib/systemd.j2", SYSTEMD_LIB.to_string()),
        ("templates/mount.j2", MOUNT.to_string()),
        ("templates/umount.j2", UMOUNT.to_string()),
        ("templates/hostname.j2", HOSTNAME.to_string()),
        ("plan-scripts/generalize.gf", GENERALIZE.to_string()),
        ("bundles-src/example.toml", BUNDLE.to_string()),
    ]
}

/// Writes the skeleton into `dir` (created if needed). Refuses to overwrite any existing file.
pub fn init_project(dir: &Path) -> Result<Vec<PathBuf>> {
    let name = dir
        .canonicalize()
        .ok()
        .or_else(|| Some(dir.to_path_buf()))
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "bundles".to_string());
    let files = skeleton(&name);
    for (relative, _) in &files {
        let path = dir.join(relative);
        if path.exists() {
            return Err(Error::Usage(format!(
                "{} already exists; init writes a new skeleton only into a directory without these files",
                path.display()
            )));
        }
    }
    let mut written = Vec::new();
    for (relative, text) in files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        written.push(PathBuf::from(relative));
    }
    Ok(written)
}

const ATTRIBUTES: &str = r#"# The attribute registry: every custom attribute a plan script may use as @NAME@.
# Build plans' customAttributes are derived from the placeholders their steps use.

[SERVER_FQDN]
type = "fqdn"
description = "Fully qualified host name of the node"
constraints = { helpText = "e.g. node1.example.org" }

[ROOT_PASSWORD]
type = "password"                # secret: never gets a default in the bundle
description = "Root password of the node"
constraints = { minlen = 8 }
"#;

const PROFILE: &str = r#"id = "centos7.4"
display_name = "CentOS 7.4"
root_lv = "/dev/cl/root"
vg = "cl"
package_manager = "yum"
network_stack = "network-scripts"
golden_image = "CentOS 7.4 Golden Image"
"#;

const SYSTEMD_LIB: &str = r#"{#- Shared piece: a first-boot systemd unit running a script, linked into runlast.target. -#}
{% macro first_boot_unit(name, description, script) -%}
upload -<<END /usr/local/bin/{{ name }}.sh
#!/bin/bash
set -euo pipefail
{{ script }}
systemctl disable {{ name }}.service
END
chmod 0755 /usr/local/bin/{{ name }}.sh
upload -<<END /etc/systemd/system/{{ name }}.service
[Unit]
Description={{ description }}
After=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/local/bin/{{ name }}.sh

[Install]
WantedBy=multi-user.target
END
mkdir-p /etc/systemd/system/multi-user.target.wants
ln-sf /etc/systemd/system/{{ name }}.service /etc/systemd/system/multi-user.target.wants/{{ name }}.service
{%- endmacro %}
"#;

const MOUNT: &str = r#"{#-
name = "{{ os.display_name }} - mount"
plan_type = "general"
description = "Mount the root file system {{ os.root_lv }}"
-#}
mount {{ os.root_lv }} /
-statvfs /"#;

const UMOUNT: &str = r#"{#-
name = "{{ os.display_name }} - umount"
plan_type = "general"
description = "Unmount the root file system"
-#}
umount /"#;

const HOSTNAME: &str = r#"{#-
name = "{{ os.display_name }} - hostname ({{ params.root }})"
plan_type = "deploy"
description = "Set the host name{% if params.root == 'password' %} and the root password{% endif %} on first boot"
[params]
root = { default = "keep", choices = ["keep", "password"] }
-#}
{% import "_lib/systemd.j2" as systemd -%}
upload -<<END /etc/hostname
@SERVER_FQDN@
END
{% if params.root == "password" -%}
{#- A secret goes into a 0600 file in a 0700 directory, never into a script: the first-boot script
reads it on stdin and deletes it, however it ends. -#}
mkdir-p /root/.firstboot
chmod 0700 /root/.firstboot
upload -<<END /root/.firstboot/root-password
root:@ROOT_PASSWORD@
END
chmod 0600 /root/.firstboot/root-password
{{ systemd.first_boot_unit("set-root-password", "Set the root password", "trap 'rm -f /root/.firstboot/root-password' EXIT\nchpasswd </root/.firstboot/root-password") }}
{% endif -%}
echo "hostname set"
"#;

const GENERALIZE: &str = r#"# name: generalize
# type: capture
# description: Remove host-specific files before capturing a golden image
rm-f /etc/hostname
glob rm-f /etc/ssh/ssh_host_*
"#;

const BUNDLE: &str = r#"# One bundle: `i3s-bundle build` writes dist/<name>_<version>.zip.
[bundle]
name = "Example-CentOS7.4"
version = "2026.11.26"
description = "Example plans for CentOS 7.4"
os = "centos7.4"
checksum = "sha256"
read_only = false
artifact_prefix = "Example"

[[build_plan]]
name = "Deploy CentOS 7.4"
type = "deploy"
description = "Set the host name and root password"
steps = [
  { template = "mount" },
  { template = "hostname", params = { root = "password" } },
  { template = "umount" },
]

[[build_plan]]
name = "Capture CentOS 7.4"
type = "capture"
description = "Generalize the OS volume for a golden image"
steps = [
  { template = "mount" },
  { plan_script = "generalize" },
  { template = "umount" },
]

[[deployment_plan]]
name = "CentOS 7.4 node"
build_plan = "Deploy CentOS 7.4"
description = "A CentOS 7.4 node with its host name set"
golden_image = true
[deployment_plan.attributes.SERVER_FQDN]
visible = true
editable = true
"#;
