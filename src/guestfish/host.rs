//! What in a plan script reaches the machine running guestfish instead of the image.
//!
//! guestfish is a shell as much as an image editor (guestfish(1), summarised in
//! `docs/guestfish.md`): a line starting with `!` or `<!` and an unquoted `| cmd` after a
//! command run host shell commands; every command with a file parameter reads or writes a *host*
//! file unless the argument is `-` (stdin/stdout) or `-<<TAG` (a here-document); and some
//! built-ins start host programs (`edit`, `display`, `more`, `man`), change the host side (`lcd`,
//! `setenv`, `event`) or choose what qemu runs (`set-qemu`, `set-path`, `config`). On an appliance
//! these run inside the appliance; under `i3s-bundle run`, on the user's machine, often as root.
//! A bundle is untrusted input: [`host_escapes`] finds every such construct so that `run` can
//! refuse it before launching anything, and `build`, `verify` and `lint` report it as an error.
use super::commands;
use super::parse::{Command, Script};

/// One construct that reaches the host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostEscape {
    /// 1-based line of the command in the script.
    pub line: usize,
    /// How it is written: `!`, `<!`, `|`, or the command name.
    pub construct: String,
    /// What it does on the host, for messages.
    pub effect: String,
}

/// Commands with a file parameter, and the 0-based position of that parameter. guestfish reads
/// (FileIn) or writes (FileOut) a host file there unless the argument is `-` or `-<<TAG`.
/// Source: guestfish(1) of libguestfs 1.48.6, every command whose description says "Use `-`
/// instead of a filename to read/write from stdin/stdout" (and the aliases `tar-in`, `tar-out`).
const HOST_FILE_ARGS: &[(&str, usize)] = &[
    ("base64-in", 0),
    ("base64-out", 1),
    ("checksums-out", 2),
    ("compress-device-out", 2),
    ("compress-out", 2),
    ("cpio-out", 1),
    ("debug-upload", 0),
    ("download", 1),
    ("download-blocks", 3),
    ("download-inode", 2),
    ("download-offset", 1),
    ("find0", 1),
    ("ls0", 1),
    ("mksquashfs", 1),
    ("ntfscat-i", 2),
    ("ntfsclone-in", 0),
    ("ntfsclone-out", 1),
    ("tar-in", 0),
    ("tar-in-opts", 0),
    ("tar-out", 1),
    ("tar-out-opts", 1),
    ("tgz-in", 0),
    ("tgz-out", 1),
    ("txz-in", 0),
    ("txz-out", 1),
    ("upload", 0),
    ("upload-offset", 0),
    ("yara-load", 0),
];

/// guestfish built-ins and set-up calls that act on the host, with what they do there
/// (guestfish(1) "ADDITIONAL COMMANDS"; guestfs(3) for the `add-*`, `disk-*` and `set-*` calls).
const HOST_COMMANDS: &[(&str, &str)] = &[
    ("add", "opens a host file as a disk"),
    ("add-cdrom", "opens a host file as a disk"),
    ("add-domain", "opens a libvirt domain's disks on the host"),
    ("add-drive", "opens a host file as a disk"),
    ("add-drive-opts", "opens a host file as a disk"),
    ("add-drive-ro", "opens a host file as a disk"),
    ("add-drive-ro-with-if", "opens a host file as a disk"),
    ("add-drive-scratch", "creates a scratch disk on the host"),
    ("add-drive-with-if", "opens a host file as a disk"),
    ("add-ro", "opens a host file as a disk"),
    ("alloc", "creates a file on the host"),
    ("allocate", "creates a file on the host"),
    (
        "attach-method",
        "chooses how guestfish starts qemu on the host",
    ),
    ("backend", "chooses how guestfish starts qemu on the host"),
    ("cachedir", "sets a host directory guestfish writes"),
    ("config", "passes options to qemu on the host"),
    ("copy-in", "copies host files into the image"),
    ("copy-out", "copies image files to the host"),
    ("disk-create", "creates a file on the host"),
    ("disk-format", "inspects a host file"),
    ("disk-has-backing-file", "inspects a host file"),
    ("disk-virtual-size", "inspects a host file"),
    ("display", "runs an image viewer on the host"),
    ("edit", "runs $EDITOR on the host"),
    ("emacs", "runs an editor on the host"),
    ("event", "runs a host shell script on every event"),
    ("hexedit", "runs an editor on the host"),
    (
        "hv",
        "chooses the program guestfish runs as qemu on the host",
    ),
    ("lcd", "changes guestfish's host directory"),
    ("less", "runs $PAGER on the host"),
    ("man", "runs man on the host"),
    ("manual", "runs man on the host"),
    ("more", "runs $PAGER on the host"),
    ("mount-local", "mounts the image on a host directory"),
    ("mount-local-run", "serves the image on a host directory"),
    (
        "parse-environment",
        "reads guestfish settings from the host environment",
    ),
    (
        "parse-environment-list",
        "reads guestfish settings from a list",
    ),
    (
        "path",
        "sets the host directory guestfish loads its appliance from",
    ),
    (
        "qemu",
        "chooses the program guestfish runs as qemu on the host",
    ),
    ("reopen", "restarts guestfish's connection on the host"),
    (
        "set-attach-method",
        "chooses how guestfish starts qemu on the host",
    ),
    (
        "set-backend",
        "chooses how guestfish starts qemu on the host",
    ),
    ("set-backend-setting", "passes settings to qemu on the host"),
    (
        "set-backend-settings",
        "passes settings to qemu on the host",
    ),
    ("set-cachedir", "sets a host directory guestfish writes"),
    (
        "set-hv",
        "chooses the program guestfish runs as qemu on the host",
    ),
    ("set-network", "gives the appliance the host's network"),
    (
        "set-path",
        "sets the host directory guestfish loads its appliance from",
    ),
    (
        "set-qemu",
        "chooses the program guestfish runs as qemu on the host",
    ),
    ("set-tmpdir", "sets a host directory guestfish writes"),
    (
        "setenv",
        "changes the environment of the host programs guestfish starts",
    ),
    ("tmpdir", "sets a host directory guestfish writes"),
    ("umount-local", "unmounts a host directory"),
    (
        "unsetenv",
        "changes the environment of the host programs guestfish starts",
    ),
    ("vi", "runs an editor on the host"),
];

/// Every construct in `script` that reaches the host, in line order.
pub fn host_escapes(script: &Script) -> Vec<HostEscape> {
    script.commands.iter().flat_map(command_escapes).collect()
}

/// Whether a single command reaches the host.
pub fn command_escapes(command: &Command) -> Vec<HostEscape> {
    let mut found = Vec::new();
    let mut escape = |construct: &str, effect: String| {
        found.push(HostEscape {
            line: command.line,
            construct: construct.to_string(),
            effect,
        })
    };
    if let Some(shell) = &command.host_shell {
        let effect = match shell.form() {
            "<!" => "runs a host shell command and then its output as guestfish commands",
            "|" => "pipes the command's output into a host shell command",
            _ => "runs a host shell command",
        };
        escape(
            shell.form(),
            format!("{effect} (`{}`)", shorten(shell.command())),
        );
    }
    let (name, args) = commands::unprefix(&command.name, &command.args);
    if name.contains('@') {
        escape(
            name,
            "takes the command itself from an attribute value, which could name any guestfish command"
                .to_string(),
        );
    }
    if let Some((_, effect)) = HOST_COMMANDS.iter().find(|(n, _)| *n == name) {
        escape(name, (*effect).to_string());
    }
    if let Some(&(_, at)) = HOST_FILE_ARGS.iter().find(|(n, _)| *n == name)
        && let Some(arg) = args.get(at)
        && arg != "-"
        && !arg.starts_with("-<<")
    {
        escape(
            name,
            format!(
                "reads or writes the host file {:?} (only `-` or a `-<<TAG` here-document stay inside guestfish)",
                shorten(arg)
            ),
        );
    }
    found
}

fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guestfish::parse;

    fn constructs(text: &str) -> Vec<(usize, String)> {
        host_escapes(&parse(text))
            .into_iter()
            .map(|e| (e.line, e.construct))
            .collect()
    }

    #[test]
    fn shell_lines_pipes_and_host_files() {
        let found = constructs(
            "mount /dev/cl/root /\n!touch /x\n<!echo ls\ncat /etc/passwd | sh\nupload /etc/shadow /s\n\
             upload -<<END /ok\nx\nEND\ndownload /etc/shadow /tmp/s\ndownload /etc/hostname -\n\
             lcd /tmp\nglob copy-out /etc/* /tmp\ntime edit /etc/motd\n@CMD@ /x\n-setenv EDITOR sh",
        );
        assert_eq!(
            found,
            [
                (2, "!".to_string()),
                (3, "<!".into()),
                (4, "|".into()),
                (5, "upload".into()),
                (9, "download".into()),
                (11, "lcd".into()),
                (12, "copy-out".into()),
                (13, "edit".into()),
                (14, "@CMD@".into()),
                (15, "setenv".into()),
            ]
        );
    }

    #[test]
    fn image_only_scripts_have_none() {
        let script = "mount /dev/cl/root /\nupload -<<END /etc/x\n!not a command: body\n| neither\nEND\n\
                      echo \"|\" a|b\nwrite /etc/y \"@VALUE@\"\nglob rm-f /tmp/*\n-umount /";
        assert!(constructs(script).is_empty(), "{:?}", constructs(script));
    }

    #[test]
    fn every_listed_command_is_a_guestfish_command() {
        for (name, _) in HOST_COMMANDS {
            assert!(commands::lookup(name).is_some(), "{name}");
        }
        for (name, _) in HOST_FILE_ARGS {
            assert!(commands::lookup(name).is_some(), "{name}");
        }
        assert!(HOST_COMMANDS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(HOST_FILE_ARGS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
