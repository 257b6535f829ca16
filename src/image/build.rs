//! `golden-image build`: a real golden image from the distribution's archive, following the OS's
//! `recipe.toml` (see [`super::recipe`]).
//!
//! 1. mmdebstrap(1) installs the recipe's packages into a tarball in a staging directory next to
//!    `--out` (root mode; `SOURCE_DATE_EPOCH` from the recipe makes its output reproducible for
//!    the same mirror content, mmdebstrap(1) "SOURCE_DATE_EPOCH"). A `--cache` directory keeps
//!    the downloaded .debs (the man page's sync-in/sync-out example, done with plain hooks).
//! 2. The tarball's file list (type, mode, owner, size, content hash, path) and the package list
//!    (`dpkg-query` in the tree) become the manifest written next to the image, so two builds
//!    can be compared.
//! 3. One guestfish launch creates the disk in the profile's layout ([`DiskLayout`], shared with
//!    `fake`), copies the tree in (`tar-in`), writes fstab and the recipe's files, and installs
//!    grub-pc: guestfs `command` runs inside the guest root with /dev, /proc and /sys
//!    bind-mounted (libguestfs daemon/command.c), as virt-customize does.
//!
//! The image is written to a temporary name and renamed into place only when every step worked.
use super::OsDefinition;
use super::fake::DiskLayout;
use super::recipe::LoadedRecipe;
use crate::error::{Error, Result};
use crate::guestfish::driver::{self, DiskFormat, Script};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildOptions<'a> {
    pub os: &'a OsDefinition,
    pub out: PathBuf,
    /// Overrides the recipe's mirror (and snapshot).
    pub mirror: Option<String>,
    /// Keeps downloaded .debs between builds.
    pub cache: Option<PathBuf>,
    /// Stop after the tree: write IMG.manifest and IMG.files, make no disk (a rebuild compared
    /// for reproducibility costs no guestfish launch).
    pub manifest_only: bool,
}

/// The phases a build goes through, for progress output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Bootstrap,
    Manifest,
    Disk,
}

/// What a build did.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct BuildReport {
    pub image: PathBuf,
    pub manifest: PathBuf,
    pub files: PathBuf,
    pub format: DiskFormat,
    pub image_bytes: u64,
    pub mirror: String,
    pub packages: usize,
    pub root_tar_sha256: String,
    pub files_sha256: String,
    pub paths_sha256: String,
    pub bootstrap_seconds: f64,
    pub guestfish_seconds: f64,
    pub total_seconds: f64,
}

/// Builds the image. `progress` is told when each phase starts, with a line saying what it does.
pub fn build(options: &BuildOptions<'_>, progress: &dyn Fn(Phase, &str)) -> Result<BuildReport> {
    let started = Instant::now();
    let os = options.os;
    let recipe = LoadedRecipe::load(os)?;
    let size = crate::units::parse_size(&recipe.recipe.disk.size)?;
    let out = &options.out;
    let (name, parent) = name_and_parent(out)?;
    if let Some(cache) = &options.cache {
        std::fs::create_dir_all(cache).map_err(|e| Error::io(cache, e))?;
    }
    // Staging next to the output: the tarball is as large as the tree, and the final rename
    // stays on one file system.
    let stage = tempfile::Builder::new()
        .prefix(&format!(".{name}.build-"))
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    let mirror = recipe.mirror(options.mirror.as_deref());

    let (tar, bootstrap_seconds) = bootstrap_phase(
        &recipe,
        &mirror,
        options.cache.as_deref(),
        stage.path(),
        progress,
    )?;

    progress(Phase::Manifest, "manifest: hashing the tree");
    let packages_text = read_packages(stage.path())?;
    let mut packages: Vec<&str> = packages_text.lines().filter(|l| !l.is_empty()).collect();
    packages.sort_unstable();
    let listing = list_tar(&tar)?;
    let manifest = sibling(out, "manifest");
    let files = sibling(out, "files");
    let manifest_text = manifest_toml(os, &recipe, &mirror, &packages, &listing);
    let format = disk_format(out);
    // The disk, next to the output until it is complete (none with --manifest-only).
    let disk = match options.manifest_only {
        true => None,
        false => {
            progress(
                Phase::Disk,
                &format!(
                    "guestfish: {} disk, VG {}, tree in, grub-pc",
                    recipe.recipe.disk.size, os.profile.vg
                ),
            );
            let temp = parent.join(format!(".{name}.partial"));
            let _ = std::fs::remove_file(&temp);
            let script = disk_script(os, &recipe, &temp, format, size, &tar)?;
            let seconds = make_disk(&script, &temp, out, progress)?;
            Some((temp, seconds))
        }
    };

    write_atomically(&files, &listing.lines.join("\n"))?;
    write_atomically(&manifest, &manifest_text)?;
    let (image_bytes, guestfish_seconds) = match disk {
        Some((temp, seconds)) => (move_into_place(&temp, out)?, seconds),
        None => (0, 0.0),
    };
    Ok(BuildReport {
        image: out.clone(),
        manifest,
        files,
        format,
        image_bytes,
        mirror,
        packages: packages.len(),
        root_tar_sha256: listing.tar_sha256,
        files_sha256: listing.files_sha256,
        paths_sha256: listing.paths_sha256,
        bootstrap_seconds,
        guestfish_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

/// The bootstrap phase: mmdebstrap writes the root tarball into the stage; its path and the
/// seconds it took.
fn bootstrap_phase(
    recipe: &LoadedRecipe,
    mirror: &str,
    cache: Option<&Path>,
    stage: &Path,
    progress: &dyn Fn(Phase, &str),
) -> Result<(PathBuf, f64)> {
    progress(
        Phase::Bootstrap,
        &format!(
            "mmdebstrap: {} {} packages ({} variant) from {mirror}",
            recipe.recipe.suite,
            recipe.recipe.packages.len(),
            recipe.recipe.variant
        ),
    );
    let bootstrap_started = Instant::now();
    let tar = stage.join("root.tar");
    bootstrap(recipe, mirror, cache, stage, &tar)?;
    let bootstrap_seconds = bootstrap_started.elapsed().as_secs_f64();
    Ok((tar, bootstrap_seconds))
}

/// qcow2 when the output is named `*.qcow2`, else raw.
fn disk_format(out: &Path) -> DiskFormat {
    if out.extension().is_some_and(|e| e == "qcow2") {
        DiskFormat::Qcow2
    } else {
        DiskFormat::Raw
    }
}

/// The output's file name and its directory (`.` for a bare name).
fn name_and_parent(out: &Path) -> Result<(String, PathBuf)> {
    let name = out
        .file_name()
        .ok_or_else(|| Error::Usage(format!("{}: not a file name", out.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((name, parent))
}

/// The package list the bootstrap wrote into the stage.
fn read_packages(stage: &Path) -> Result<String> {
    let packages_path = stage.join("packages.txt");
    std::fs::read_to_string(&packages_path).map_err(|e| Error::io(&packages_path, e))
}

/// Renames the finished disk to the output; its size in bytes.
fn move_into_place(temp: &Path, out: &Path) -> Result<u64> {
    std::fs::rename(temp, out).map_err(|e| Error::io(out, e))?;
    Ok(std::fs::metadata(out).map_err(|e| Error::io(out, e))?.len())
}

/// What grub-install says when, now and then, it takes the disk it installs to for the ext4
/// file system of /boot ("File system `ext2' doesn't support embedding", then "embedding is not
/// possible, but this is required for cross-disk install"). Seen only in the TCG appliance of a
/// loaded machine; a second grub-install in the same launch failed the same way every time, while
/// the same build run again passed each time it was tried. So the disk gets one more launch.
const GRUB_EMBEDDING_FAILED: &str = "embedding is not possible";

/// Whether a failed disk launch failed the way a new launch mends (any other failure is final).
fn worth_a_new_launch(stderr: &str) -> bool {
    stderr.contains(GRUB_EMBEDDING_FAILED)
}

/// Runs the disk script (it writes `temp`; removed again on failure): the launches' seconds.
fn make_disk(
    script: &Script<()>,
    temp: &Path,
    out: &Path,
    progress: &dyn Fn(Phase, &str),
) -> Result<f64> {
    let mut seconds = 0.0;
    for launch in 1..=2 {
        let outcome = driver::run_script(&[], &script.text())?;
        seconds += outcome.elapsed.as_secs_f64();
        if outcome.success {
            return Ok(seconds);
        }
        let _ = std::fs::remove_file(temp);
        if launch == 1 && worth_a_new_launch(&outcome.stderr) {
            progress(
                Phase::Disk,
                "guestfish: grub-install could not embed its core image (a known failure of the \
                 emulated appliance under load); making the disk again in a new launch",
            );
            continue;
        }
        return Err(Error::other(format!(
            "guestfish could not make the disk of {}: {}",
            out.display(),
            driver::error_summary(&outcome.stderr)
        )));
    }
    unreachable!("the second launch returns")
}

/// `IMG` → `IMG.<suffix>`.
fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(format!(".{suffix}"));
    PathBuf::from(name)
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".partial");
    let temp = PathBuf::from(temp);
    let mut body = text.to_string();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    std::fs::write(&temp, body).map_err(|e| Error::io(&temp, e))?;
    std::fs::rename(&temp, path).map_err(|e| Error::io(path, e))
}

/// Runs mmdebstrap into `tar`; its output goes to `stage/mmdebstrap.log`, whose tail is shown
/// on failure. Paths reach the hooks as environment variables, never spliced into shell text.
fn bootstrap(
    recipe: &LoadedRecipe,
    mirror: &str,
    cache: Option<&Path>,
    stage: &Path,
    tar: &Path,
) -> Result<()> {
    let r = &recipe.recipe;
    let mut command = Command::new("mmdebstrap");
    command
        .arg("--mode=root")
        .arg(format!("--variant={}", r.variant))
        .arg(format!("--components={}", r.components.join(",")))
        .arg(format!("--include={}", r.packages.join(",")))
        .arg("--aptopt=Acquire::Languages \"none\"")
        // Keep the essential .debs in /var/cache/apt/archives so the cache gets them too.
        .arg("--skip=essential/unlink")
        // No fsync per file: the tree is packed into a tarball afterwards (dpkg(1)).
        .arg("--dpkgopt=force-unsafe-io");
    if !r.snapshot.is_empty() {
        // A snapshot's Release file is past its Valid-Until by design.
        command.arg("--aptopt=Acquire::Check-Valid-Until \"false\"");
    }
    if cache.is_some() {
        command.arg(
            "--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives && \
             find \"$I3S_CACHE\" -maxdepth 1 -name '*.deb' -exec cp -t \"$1\"/var/cache/apt/archives/ {} +",
        );
        command.arg(
            "--customize-hook=find \"$1\"/var/cache/apt/archives -maxdepth 1 -name '*.deb' \
             -exec cp -u -t \"$I3S_CACHE\"/ {} +",
        );
    }
    command.arg(
        "--customize-hook=chroot \"$1\" dpkg-query -W -f='${Package}=${Version}\\n' \
         > \"$I3S_STAGE\"/packages.txt",
    );
    for pattern in &r.remove {
        // Checked to be plain path words and `*` (recipe.rs): the glob expands in the root.
        command.arg(format!("--customize-hook=rm -rf -- \"$1\"{pattern}"));
    }
    command.arg(&r.suite).arg(tar).arg(mirror);
    command
        .env("SOURCE_DATE_EPOCH", r.source_date_epoch.to_string())
        .env("I3S_STAGE", stage)
        .env("DEBIAN_FRONTEND", "noninteractive");
    if let Some(cache) = cache {
        let cache = std::fs::canonicalize(cache).map_err(|e| Error::io(cache, e))?;
        command.env("I3S_CACHE", cache);
    }
    let log_path = stage.join("mmdebstrap.log");
    let log = std::fs::File::create(&log_path).map_err(|e| Error::io(&log_path, e))?;
    let log_err = log.try_clone().map_err(|e| Error::io(&log_path, e))?;
    let status = command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .status()
        .map_err(|e| {
            Error::other(format!(
                "cannot start mmdebstrap: {e} (install it: `apt-get install mmdebstrap`; .ci/install-test-deps does)"
            ))
        })?;
    if !status.success() {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(Error::other(format!(
            "mmdebstrap failed ({status}) for {} from {mirror} (recipe {}); its last lines:\n{}",
            r.suite,
            recipe.path.display(),
            tail.join("\n")
        )));
    }
    Ok(())
}

/// The file list of the tree: one line per entry, sorted by path.
#[derive(Debug, Clone)]
pub struct TreeListing {
    /// `<type> <mode> <uid>:<gid> <size> <sha256 | -> target | -> hardlink> <path>`.
    pub lines: Vec<String>,
    pub tar_sha256: String,
    /// sha256 of `lines` (content, modes, owners, paths).
    pub files_sha256: String,
    /// sha256 of the sorted paths alone.
    pub paths_sha256: String,
}

/// Reads the tarball once: its own hash and the file list.
pub fn list_tar(tar: &Path) -> Result<TreeListing> {
    let file = std::fs::File::open(tar).map_err(|e| Error::io(tar, e))?;
    let mut whole = Sha256::new();
    let reader = HashingReader {
        inner: std::io::BufReader::new(file),
        hasher: &mut whole,
    };
    let mut archive = tar::Archive::new(reader);
    let mut entries: Vec<(String, String)> = Vec::new();
    for entry in archive.entries().map_err(|e| Error::io(tar, e))? {
        let mut entry = entry.map_err(|e| Error::io(tar, e))?;
        let header = entry.header().clone();
        let path = entry
            .path()
            .map_err(|e| Error::io(tar, e))?
            .to_string_lossy()
            .trim_start_matches('.')
            .to_string();
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        let kind = header.entry_type();
        let (type_char, what) = if kind.is_file() {
            let mut hasher = Sha256::new();
            let mut buf = [0u8; 64 * 1024];
            loop {
                let n = entry.read(&mut buf).map_err(|e| Error::io(tar, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            ('f', hex::encode(hasher.finalize()))
        } else if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(|e| Error::io(tar, e))?
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                if kind.is_symlink() { 'l' } else { 'h' },
                format!("-> {target}"),
            )
        } else if kind.is_dir() {
            ('d', "-".to_string())
        } else {
            ('o', "-".to_string())
        };
        let line = format!(
            "{type_char} {:04o} {}:{} {} {what} {path}",
            header.mode().unwrap_or(0) & 0o7777,
            header.uid().unwrap_or(0),
            header.gid().unwrap_or(0),
            header.size().unwrap_or(0),
        );
        entries.push((path, line));
    }
    // Read to the end so the tarball's hash covers its padding too.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| Error::io(tar, e))?;
    drop(rest);
    entries.sort();
    let lines: Vec<String> = entries.iter().map(|(_, l)| l.clone()).collect();
    let digest = |items: &mut dyn Iterator<Item = &String>| {
        let mut h = Sha256::new();
        for item in items {
            h.update(item.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    };
    Ok(TreeListing {
        files_sha256: digest(&mut lines.iter()),
        paths_sha256: digest(&mut entries.iter().map(|(p, _)| p)),
        lines,
        tar_sha256: hex::encode(whole.finalize()),
    })
}

struct HashingReader<'h, R> {
    inner: R,
    hasher: &'h mut Sha256,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A UUID derived from the recipe, so two builds of one recipe name their file systems alike
/// (fstab names /boot by it). Every image of the recipe shares it, as clones of one image do.
fn derived_uuid(recipe: &LoadedRecipe, what: &str) -> String {
    let mut h = Sha256::new();
    h.update(recipe.text.as_bytes());
    h.update(what.as_bytes());
    let mut b: [u8; 16] = h.finalize()[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x40; // version 4 layout (RFC 9562), as mkfs writes
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// `/etc/fstab` for the layout: root by its device-mapper name, /boot by UUID.
pub fn fstab(os: &OsDefinition, boot_uuid: &str) -> String {
    let (vg, lv) = os.root_lv_parts();
    // device-mapper doubles dashes inside VG and LV names (lvm(8) "VALID NAMES").
    let mapper = format!("{}-{}", vg.replace('-', "--"), lv.replace('-', "--"));
    format!(
        "# /etc/fstab: written by i3s-bundle golden-image build ({} recipe)\n\
         /dev/mapper/{mapper} / ext4 errors=remount-ro 0 1\n\
         UUID={boot_uuid} /boot ext4 defaults 0 2\n",
        os.profile.id
    )
}

/// The one guestfish session that makes the disk.
fn disk_script(
    os: &OsDefinition,
    recipe: &LoadedRecipe,
    temp: &Path,
    format: DiskFormat,
    size: u64,
    tar: &Path,
) -> Result<Script<()>> {
    let layout: DiskLayout = recipe.layout();
    let disk = driver::device_name(0);
    let (root_uuid, boot_uuid) = (derived_uuid(recipe, "root"), derived_uuid(recipe, "boot"));
    let temp_q = driver::quote(&temp.display().to_string());
    let mut script: Script<()> = Script::new();
    script.line(
        format!("disk-create {temp_q} {} {size}", format.as_str()),
        (),
    );
    script.line(format!("add {temp_q} format:{}", format.as_str()), ());
    script.line("run", ());
    for line in layout.lines(os, &disk, Some((&root_uuid, &boot_uuid))) {
        script.line(line, ());
    }
    script.line(
        format!(
            "tar-in {} / xattrs:true",
            driver::quote(&tar.display().to_string())
        ),
        (),
    );
    let mut skeleton = recipe.skeleton();
    skeleton.files.push(super::os::FakeFile {
        path: "/etc/fstab".into(),
        mode: "0644".into(),
        content: fstab(os, &boot_uuid),
    });
    super::fake::write_skeleton(&mut script, &recipe.path, &skeleton)?;
    // grub-install reads the file systems through the block devices: flush what tar-in wrote
    // first (without it grub-probe saw a stale /boot and refused: "embedding is not possible").
    script.line("sync", ());
    script.line("drop-caches 3", ());
    // Let the appliance's udev settle before grub-install probes the disk (see
    // GRUB_EMBEDDING_FAILED for what a new launch is for).
    script.line("-debug sh \"udevadm settle --timeout=30\"", ());
    script.line(
        format!("command \"grub-install --target=i386-pc {disk}\""),
        (),
    );
    script.line("command update-grub", ());
    // The build fails unless update-grub found the kernel (grep exits 1 on no match).
    script.line("command \"grep -q ^menuentry /boot/grub/grub.cfg\"", ());
    script.line("umount-all", ());
    Ok(script)
}

/// The manifest next to the image (TOML): where the tree came from, its hashes, the packages.
fn manifest_toml(
    os: &OsDefinition,
    recipe: &LoadedRecipe,
    mirror: &str,
    packages: &[&str],
    listing: &TreeListing,
) -> String {
    let r = &recipe.recipe;
    let mut h = Sha256::new();
    h.update(recipe.text.as_bytes());
    let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut text = format!(
        "# i3s-bundle golden-image build: what went into the image. Compare two builds' manifests\n\
         # (and their .files lists) to see what differs.\n\
         os = {}\nsuite = {}\nmirror = {}\nsnapshot = {}\nsource_date_epoch = {}\n\
         recipe_sha256 = {}\nroot_tar_sha256 = {}\nfiles_sha256 = {}\npaths_sha256 = {}\n\
         entries = {}\npackages = [\n",
        quoted(&os.profile.id),
        quoted(&r.suite),
        quoted(mirror),
        quoted(&r.snapshot),
        r.source_date_epoch,
        quoted(&hex::encode(h.finalize())),
        quoted(&listing.tar_sha256),
        quoted(&listing.files_sha256),
        quoted(&listing.paths_sha256),
        listing.lines.len(),
    );
    for p in packages {
        text.push_str(&format!("  {},\n", quoted(p)));
    }
    text.push_str("]\n");
    text
}

/// How long a phase took, for progress lines.
pub fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::os::debian12;

    #[test]
    fn the_disk_script_lays_out_the_profile_and_installs_grub_to_the_disk() {
        let os = debian12();
        let recipe = LoadedRecipe::load(&os).unwrap();
        let text = disk_script(
            &os,
            &recipe,
            Path::new("/tmp/x.partial"),
            DiskFormat::Qcow2,
            2 << 30,
            Path::new("/tmp/root.tar"),
        )
        .unwrap()
        .text();
        for needle in [
            "disk-create \"/tmp/x.partial\" qcow2 2147483648",
            "part-set-gpt-type /dev/sda 1 21686148-6449-6E6F-744E-656564454649",
            "vgcreate debian /dev/sda3",
            "mkfs ext4 /dev/debian/root",
            "tar-in \"/tmp/root.tar\" / xattrs:true",
            "upload -<<I3S_FAKE_EOF /etc/fstab",
            "/dev/mapper/debian-root / ext4 errors=remount-ro 0 1",
            "command \"grub-install --target=i386-pc /dev/sda\"",
        ] {
            assert!(text.contains(needle), "{needle} in:\n{text}");
        }
        // /boot is mounted before the tree goes in (the kernel lands on the /boot partition).
        assert!(text.find("mount /dev/sda2 /boot").unwrap() < text.find("tar-in").unwrap());
        // Two builds of one recipe name /boot alike.
        assert_eq!(derived_uuid(&recipe, "boot"), derived_uuid(&recipe, "boot"));
        assert_ne!(derived_uuid(&recipe, "boot"), derived_uuid(&recipe, "root"));
    }

    #[test]
    fn only_grubs_embedding_failure_gets_a_new_launch() {
        // grub-install's words in the failed CI runs.
        let flake = "command: Installing for i386-pc platform.\ngrub-install: warning: File system \
                     `ext2' doesn't support embedding.\ngrub-install: error: embedding is not \
                     possible, but this is required for cross-disk install.";
        assert!(worth_a_new_launch(flake));
        for final_failure in [
            "mkfs: ext4: No space left on device",
            "grub-install: error: cannot find EFI directory.",
            "tar-in: /tmp/root.tar: No such file or directory",
        ] {
            assert!(!worth_a_new_launch(final_failure), "{final_failure}");
        }
    }

    #[test]
    fn fstab_uses_device_mapper_names() {
        let mut os = debian12();
        os.profile.root_lv = "/dev/my-vg/root".into();
        os.profile.vg = "my-vg".into();
        assert!(fstab(&os, "u").contains("/dev/mapper/my--vg-root / ext4"));
    }
}
