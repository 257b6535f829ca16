//! THE guestfish command table: every command a plan script may use, with its argument counts
//! and its effect on the image. Keep it the one place that knows guestfish commands.
//!
//! Two layers: [`COMMANDS`], written by hand for the commands plan scripts use, says what each
//! does to the image; [`CATALOG`](catalog::CATALOG), generated from guestfish's own help by
//! `scripts/gen-guestfish-catalog.py`, knows every other guestfish command and alias (effect
//! [`Effect::Device`]). Argument counts follow guestfish's synopses; optional arguments
//! (`name:value`) count towards `max_args`; `None` means "any number". A string-list argument
//! (`command "ls -l /"`) is one word.
#[path = "catalog.rs"]
mod catalog;

/// What a command does to the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Runs in guestfish only (`echo`, `sleep`, `help`): never touches the image.
    Local,
    /// Mounts a file system (`mount`, `mount-ro`, …).
    Mount,
    /// Unmounts (`umount`, `umount-all`).
    Unmount,
    /// Reads the image (`cat`, `statvfs`, `download`, …).
    Reads,
    /// Changes the image (`upload`, `rm`, `ln-s`, `sh`, …).
    Writes,
    /// Appliance setup before `run` (`add`, `sparse`, `set-*`): not used in plan scripts.
    Setup,
    /// Runs another command given as its arguments (`glob`, `time`).
    Prefix,
    /// Needs the appliance but not a mounted file system (devices, LVM, partitions), or a
    /// command from the generated catalog whose effect the hand-written table does not record.
    Device,
}

/// One guestfish command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CommandSpec {
    pub name: &'static str,
    pub min_args: usize,
    pub max_args: Option<usize>,
    pub effect: Effect,
}

impl CommandSpec {
    /// Whether `count` arguments are plausible for this command.
    pub fn accepts(&self, count: usize) -> bool {
        count >= self.min_args && self.max_args.is_none_or(|max| count <= max)
    }
    /// Whether the command changes the image.
    pub fn writes_image(&self) -> bool {
        matches!(
            self.effect,
            Effect::Writes | Effect::Mount | Effect::Unmount
        )
    }
    /// Whether the command works on the image (its devices or file systems).
    pub fn touches_image(&self) -> bool {
        !matches!(self.effect, Effect::Local | Effect::Setup | Effect::Prefix)
    }
    /// "2 arguments", "1 to 3 arguments", "at least 1 argument".
    pub fn arity(&self) -> String {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        match self.max_args {
            Some(max) if max == self.min_args => format!("{max} argument{}", plural(max)),
            Some(max) => format!("{} to {max} arguments", self.min_args),
            None => format!(
                "at least {} argument{}",
                self.min_args,
                plural(self.min_args)
            ),
        }
    }
}

const fn cmd(
    name: &'static str,
    min_args: usize,
    max_args: Option<usize>,
    effect: Effect,
) -> CommandSpec {
    CommandSpec {
        name,
        min_args,
        max_args,
        effect,
    }
}

use Effect::{Local, Mount, Prefix, Reads, Setup, Unmount, Writes};

/// Every known command, alphabetically.
pub const COMMANDS: &[CommandSpec] = &[
    cmd("add", 1, Some(14), Setup),
    cmd("add-drive", 1, Some(14), Setup),
    cmd("add-ro", 1, Some(1), Setup),
    cmd("aug-close", 0, Some(0), Writes),
    cmd("aug-get", 1, Some(1), Reads),
    cmd("aug-init", 2, Some(2), Reads),
    cmd("aug-rm", 1, Some(1), Writes),
    cmd("aug-save", 0, Some(0), Writes),
    cmd("aug-set", 2, Some(2), Writes),
    cmd("base64-in", 2, Some(2), Writes),
    cmd("base64-out", 2, Some(2), Reads),
    cmd("blkid", 1, Some(1), Reads),
    cmd("cat", 1, Some(1), Reads),
    cmd("checksum", 2, Some(2), Reads),
    cmd("chmod", 2, Some(2), Writes),
    cmd("chown", 3, Some(3), Writes),
    cmd("command", 1, Some(1), Writes),
    cmd("command-lines", 1, Some(1), Writes),
    cmd("copy-in", 2, None, Writes),
    cmd("copy-out", 2, None, Reads),
    cmd("cp", 2, Some(2), Writes),
    cmd("cp-a", 2, Some(2), Writes),
    cmd("cp-r", 2, Some(2), Writes),
    cmd("df", 0, Some(0), Reads),
    cmd("df-h", 0, Some(0), Reads),
    cmd("download", 2, Some(2), Reads),
    cmd("du", 1, Some(1), Reads),
    cmd("e2fsck-f", 1, Some(1), Writes),
    cmd("echo", 0, None, Local),
    cmd("exists", 1, Some(1), Reads),
    cmd("exit", 0, Some(0), Local),
    cmd("file", 1, Some(1), Reads),
    cmd("find", 1, Some(1), Reads),
    cmd("fsck", 2, Some(2), Writes),
    cmd("glob", 1, None, Prefix),
    cmd("grep", 2, Some(6), Reads),
    cmd("head", 1, Some(1), Reads),
    cmd("help", 0, Some(1), Local),
    cmd("hexdump", 1, Some(1), Reads),
    cmd("inspect-os", 0, Some(0), Reads),
    cmd("is-dir", 1, Some(2), Reads),
    cmd("is-file", 1, Some(2), Reads),
    cmd("is-symlink", 1, Some(1), Reads),
    cmd("launch", 0, Some(0), Setup),
    cmd("list-devices", 0, Some(0), Reads),
    cmd("list-filesystems", 0, Some(0), Reads),
    cmd("list-partitions", 0, Some(0), Reads),
    cmd("ll", 1, Some(1), Reads),
    cmd("ln", 2, Some(2), Writes),
    cmd("ln-f", 2, Some(2), Writes),
    cmd("ln-s", 2, Some(2), Writes),
    cmd("ln-sf", 2, Some(2), Writes),
    cmd("ls", 1, Some(1), Reads),
    cmd("lstat", 1, Some(1), Reads),
    cmd("lstatns", 1, Some(1), Reads),
    cmd("lvcreate", 3, Some(3), Setup),
    cmd("lvcreate-free", 3, Some(3), Setup),
    cmd("lvs", 0, Some(0), Reads),
    cmd("mkdir", 1, Some(1), Writes),
    cmd("mkdir-mode", 2, Some(2), Writes),
    cmd("mkdir-p", 1, Some(1), Writes),
    cmd("mkdtemp", 1, Some(1), Writes),
    cmd("mkfs", 2, Some(7), Setup),
    cmd("mkmountpoint", 1, Some(1), Writes),
    cmd("mount", 2, Some(2), Mount),
    cmd("mount-options", 3, Some(3), Mount),
    cmd("mount-ro", 2, Some(2), Mount),
    cmd("mount-vfs", 4, Some(4), Mount),
    cmd("mv", 2, Some(2), Writes),
    cmd("part-disk", 2, Some(2), Setup),
    cmd("ping-daemon", 0, Some(0), Local),
    cmd("pvcreate", 1, Some(1), Setup),
    cmd("pvs", 0, Some(0), Reads),
    cmd("quit", 0, Some(0), Local),
    cmd("read-file", 1, Some(1), Reads),
    cmd("readlink", 1, Some(1), Reads),
    cmd("realpath", 1, Some(1), Reads),
    cmd("rename", 2, Some(2), Writes),
    cmd("rm", 1, Some(1), Writes),
    cmd("rm-f", 1, Some(1), Writes),
    cmd("rm-rf", 1, Some(1), Writes),
    cmd("rmdir", 1, Some(1), Writes),
    cmd("run", 0, Some(0), Setup),
    cmd("selinux-relabel", 2, Some(3), Writes),
    cmd("set-memsize", 1, Some(1), Setup),
    cmd("set-smp", 1, Some(1), Setup),
    cmd("setenv", 2, Some(2), Local),
    cmd("sh", 1, Some(1), Writes),
    cmd("sh-lines", 1, Some(1), Writes),
    cmd("sleep", 1, Some(1), Local),
    cmd("sparse", 2, Some(2), Setup),
    cmd("stat", 1, Some(1), Reads),
    cmd("statns", 1, Some(1), Reads),
    cmd("statvfs", 1, Some(1), Reads),
    cmd("sync", 0, Some(0), Writes),
    cmd("tail", 1, Some(1), Reads),
    cmd("tar-in", 2, Some(6), Writes),
    cmd("tar-out", 2, Some(8), Reads),
    cmd("tgz-in", 2, Some(2), Writes),
    cmd("tgz-out", 2, Some(2), Reads),
    cmd("time", 1, None, Prefix),
    cmd("touch", 1, Some(1), Writes),
    cmd("truncate", 1, Some(1), Writes),
    cmd("umount", 1, Some(3), Unmount),
    cmd("umount-all", 0, Some(0), Unmount),
    cmd("unsetenv", 1, Some(1), Local),
    cmd("upload", 2, Some(2), Writes),
    cmd("vfs-type", 1, Some(1), Reads),
    cmd("vgcreate", 2, Some(2), Setup),
    cmd("vgs", 0, Some(0), Reads),
    cmd("wc-l", 1, Some(1), Reads),
    cmd("write", 2, Some(2), Writes),
    cmd("write-append", 2, Some(2), Writes),
    cmd("zero", 1, Some(1), Writes),
];

/// The command named `name` (exact, case-sensitive as guestfish is): the hand-written entry,
/// else the generated catalog's.
pub fn lookup(name: &str) -> Option<&'static CommandSpec> {
    let find = |table: &'static [CommandSpec]| {
        table
            .binary_search_by(|c| c.name.cmp(name))
            .ok()
            .map(|i| &table[i])
    };
    find(COMMANDS).or_else(|| find(catalog::CATALOG))
}

/// For a prefix command (`glob rm-f /x*`), the command it runs and that command's arguments.
pub fn unprefix<'a>(name: &'a str, args: &'a [String]) -> (&'a str, &'a [String]) {
    let mut name = name;
    let mut args = args;
    while lookup(name).is_some_and(|c| c.effect == Effect::Prefix) {
        match args.split_first() {
            Some((inner, rest)) => {
                name = inner;
                args = rest;
            }
            None => break,
        }
    }
    (name, args)
}

/// The known command closest to `name` (for "did you mean"), if any is close.
pub fn suggest(name: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .map(|c| (edit_distance(c.name, name), c.name))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(
            COMMANDS.windows(2).all(|w| w[0].name < w[1].name),
            "COMMANDS must stay sorted"
        );
    }

    #[test]
    fn hand_table_agrees_with_guestfish_catalog() {
        assert!(
            catalog::CATALOG.windows(2).all(|w| w[0].name < w[1].name),
            "CATALOG must stay sorted"
        );
        assert!(catalog::CATALOG.len() > 500);
        for spec in COMMANDS {
            if let Some(generated) = catalog::CATALOG.iter().find(|c| c.name == spec.name) {
                assert_eq!(
                    (spec.min_args, spec.max_args),
                    (generated.min_args, generated.max_args),
                    "{}",
                    spec.name
                );
            }
        }
        // Only in the catalog: known, plausible counts, no effect on mounted files recorded.
        let vgscan = lookup("vgscan").unwrap();
        assert_eq!(vgscan.effect, Effect::Device);
        assert!(!lookup("inspect-get-roots").unwrap().accepts(1));
    }

    #[test]
    fn spec_commands_are_known() {
        for name in [
            "mount", "umount", "upload", "mkdir", "mkdir-p", "ln-s", "ln-sf", "touch", "rm",
            "rm-f", "rm-rf", "glob", "chmod", "echo", "statvfs", "write", "download", "copy-in",
            "sh", "command", "mount-ro", "cat", "readlink", "lstatns", "is-file", "ls", "copy-out",
        ] {
            assert!(lookup(name).is_some(), "{name}");
        }
        assert!(lookup("frobnicate").is_none());
    }

    #[test]
    fn arity_and_effects() {
        let mount = lookup("mount").unwrap();
        assert!(mount.accepts(2) && !mount.accepts(1) && !mount.accepts(3));
        assert!(lookup("echo").unwrap().accepts(0) && lookup("echo").unwrap().accepts(9));
        assert!(!lookup("echo").unwrap().touches_image());
        assert!(lookup("upload").unwrap().writes_image());
        assert_eq!(lookup("umount").unwrap().arity(), "1 to 3 arguments");
        let args = vec!["rm-f".to_string(), "/x*".to_string()];
        assert_eq!(unprefix("glob", &args), ("rm-f", &args[1..]));
        assert_eq!(suggest("umonut"), Some("umount"));
    }
}
