//! `golden-image fake`: a small disk image with the structure of an OS's golden image — GPT with
//! an ESP, /boot and an LVM partition, the OS's VG with swap and root LVs, ext4 root — and the
//! directory skeleton and files from `fake.toml`. No real OS: for tests and for authors without
//! an image at hand. Several fakes share one launch.
use super::os::{FakeSkeleton, OsDefinition};
use crate::error::{Error, Result};
use crate::guestfish::driver::{self, DiskFormat, Drive, Script};
use std::path::{Path, PathBuf};

/// Smallest size that holds the partitions (16 MiB ESP, 32 MiB /boot, LVM with 8 MiB swap).
pub const MIN_SIZE: u64 = 128 << 20;
pub const DEFAULT_SIZE: u64 = 256 << 20;

/// One fake image to make.
#[derive(Debug, Clone)]
pub struct FakeJob<'a> {
    pub os: &'a OsDefinition,
    pub out: PathBuf,
    pub size: u64,
}

/// What a fake run did.
#[derive(Debug, Clone)]
pub struct FakeReport {
    pub images: Vec<PathBuf>,
    pub elapsed: std::time::Duration,
}

/// Tag for here-documents in the fake script; content lines equal to it are refused.
const TAG: &str = "I3S_FAKE_EOF";

pub fn fake(os: &OsDefinition, out: &Path, size: u64) -> Result<FakeReport> {
    fake_many(&[FakeJob {
        os,
        out: out.to_path_buf(),
        size,
    }])
}

/// Makes every fake in one guestfish launch. The output format follows the file name
/// (`.qcow2` → qcow2, otherwise raw). Outputs are written next to their final name and renamed
/// into place only when guestfish succeeded.
pub fn fake_many(jobs: &[FakeJob<'_>]) -> Result<FakeReport> {
    let mut script: Script<()> = Script::new();
    let mut drives = Vec::new();
    let mut temps = Vec::new();
    for job in jobs {
        if job.size < MIN_SIZE {
            return Err(Error::Usage(format!(
                "--size {} is too small: a fake image needs at least 128M",
                job.size
            )));
        }
        let format = if job.out.extension().is_some_and(|e| e == "qcow2") {
            DiskFormat::Qcow2
        } else {
            DiskFormat::Raw
        };
        let name = job
            .out
            .file_name()
            .ok_or_else(|| Error::Usage(format!("{}: not a file name", job.out.display())))?;
        let temp = job
            .out
            .with_file_name(format!(".{}.partial", name.to_string_lossy()));
        let _ = std::fs::remove_file(&temp);
        script.line(
            format!(
                "disk-create {} {} {}",
                driver::quote(&temp.display().to_string()),
                format.as_str(),
                job.size
            ),
            (),
        );
        drives.push(Drive {
            path: temp.clone(),
            format,
            read_only: false,
        });
        temps.push(temp);
    }
    // The drives are added by the script (they do not exist before `disk-create`).
    for drive in &drives {
        script.line(
            format!(
                "add {} format:{}",
                driver::quote(&drive.path.display().to_string()),
                drive.format.as_str()
            ),
            (),
        );
    }
    script.line("run", ());
    for (i, job) in jobs.iter().enumerate() {
        if jobs.len() > 1 {
            script.line(format!("lvm-set-filter {}", driver::device_name(i)), ());
        }
        write_layout(&mut script, job.os, &driver::device_name(i))?;
    }
    let outcome = driver::run_script(&[], &script.text())?;
    if !outcome.success {
        for temp in &temps {
            let _ = std::fs::remove_file(temp);
        }
        return Err(Error::other(format!(
            "guestfish could not make the fake image: {}",
            driver::error_summary(&outcome.stderr)
        )));
    }
    for (temp, job) in temps.iter().zip(jobs) {
        std::fs::rename(temp, &job.out).map_err(|e| Error::io(&job.out, e))?;
    }
    Ok(FakeReport {
        images: jobs.iter().map(|j| j.out.clone()).collect(),
        elapsed: outcome.elapsed,
    })
}

/// The partition layout of a golden image disk: GPT, partition 1 for the firmware (an EFI system
/// partition, vfat, or a BIOS boot partition holding grub-pc's core image), partition 2 /boot
/// (ext4), partition 3 an LVM PV holding the profile's VG with an optional swap LV and the root
/// LV (ext4) on the rest. `fake` and `build` share it, so a fake has the layout of a built image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskLayout {
    pub firmware: Firmware,
    pub firmware_mib: u64,
    pub boot_mib: u64,
    /// 0: no swap LV.
    pub swap_mib: u64,
}

/// What partition 1 is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// EFI system partition (vfat, mounted on /boot/efi).
    Efi,
    /// BIOS boot partition (no file system): where grub-pc embeds its core image on GPT.
    Bios,
}

/// GPT partition type GUIDs (UEFI spec; the BIOS boot GUID is GRUB's "Hah!IdontNeedEFI").
const GPT_ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const GPT_BIOS_BOOT: &str = "21686148-6449-6E6F-744E-656564454649";
const GPT_LINUX_LVM: &str = "E6D6D379-F507-44C2-A23C-238F2A3DF928";

impl DiskLayout {
    /// The fake's layout: 16 MiB ESP, 32 MiB /boot, 8 MiB swap.
    pub const FAKE: DiskLayout = DiskLayout {
        firmware: Firmware::Efi,
        firmware_mib: 16,
        boot_mib: 32,
        swap_mib: 8,
    };

    /// The guestfish lines that partition `disk`, make the VG, LVs and file systems of `os` and
    /// mount root on / and /boot (and the ESP on /boot/efi). `uuids` sets the ext4 UUIDs of
    /// (root, /boot) instead of random ones (reproducible builds; fstab names /boot by it).
    pub fn lines(&self, os: &OsDefinition, disk: &str, uuids: Option<(&str, &str)>) -> Vec<String> {
        let (vg, lv) = os.root_lv_parts();
        let root = &os.profile.root_lv;
        const MIB: u64 = 2048; // 512-byte sectors
        let fw_end = 2048 + self.firmware_mib * MIB - 1;
        let boot_end = fw_end + self.boot_mib * MIB;
        let mut lines = vec![
            format!("part-init {disk} gpt"),
            format!("part-add {disk} p 2048 {fw_end}"),
            format!("part-add {disk} p {} {boot_end}", fw_end + 1),
            format!("part-add {disk} p {} -34", boot_end + 1),
        ];
        match self.firmware {
            Firmware::Efi => {
                lines.push(format!("part-set-gpt-type {disk} 1 {GPT_ESP}"));
                lines.push(format!("mkfs vfat {disk}1"));
            }
            Firmware::Bios => lines.push(format!("part-set-gpt-type {disk} 1 {GPT_BIOS_BOOT}")),
        }
        lines.extend([
            format!("part-set-gpt-type {disk} 3 {GPT_LINUX_LVM}"),
            format!("mkfs ext4 {disk}2"),
            format!("pvcreate {disk}3"),
            format!("vgcreate {vg} {disk}3"),
        ]);
        if self.swap_mib > 0 {
            lines.push(format!("lvcreate swap {vg} {}", self.swap_mib));
            lines.push(format!("mkswap /dev/{vg}/swap"));
        }
        lines.push(format!("lvcreate-free {lv} {vg} 100"));
        lines.push(format!("mkfs ext4 {root}"));
        if let Some((root_uuid, boot_uuid)) = uuids {
            lines.push(format!("set-uuid {root} {root_uuid}"));
            lines.push(format!("set-uuid {disk}2 {boot_uuid}"));
        }
        lines.extend([
            format!("mount {root} /"),
            "mkdir-p /boot".to_string(),
            format!("mount {disk}2 /boot"),
        ]);
        if self.firmware == Firmware::Efi {
            lines.push("mkdir-p /boot/efi".to_string());
            lines.push(format!("mount {disk}1 /boot/efi"));
        }
        lines
    }
}

/// Partitions, LVM, file systems and the skeleton for one disk.
fn write_layout(script: &mut Script<()>, os: &OsDefinition, disk: &str) -> Result<()> {
    for line in DiskLayout::FAKE.lines(os, disk, None) {
        script.line(line, ());
    }
    write_skeleton(script, &os.dir.join("fake.toml"), &os.fake)?;
    script.line("umount-all", ());
    Ok(())
}

/// The guestfish lines that write `skeleton` (directories, files with modes, symlinks) into the
/// mounted root. `location` names the file it came from in errors.
pub fn write_skeleton<O: Clone + Default>(
    script: &mut Script<O>,
    location: &Path,
    skeleton: &FakeSkeleton,
) -> Result<()> {
    for dir in &skeleton.directories {
        script.line(format!("mkdir-p {}", driver::quote(dir)), O::default());
    }
    for file in &skeleton.files {
        if let Some(parent) = Path::new(&file.path).parent() {
            script.line(
                format!("mkdir-p {}", driver::quote(&parent.display().to_string())),
                O::default(),
            );
        }
        if file.content.is_empty() {
            script.line(format!("touch {}", driver::quote(&file.path)), O::default());
        } else {
            // guestfish adds the final newline of a here-document itself.
            let body = file.content.strip_suffix('\n').ok_or_else(|| {
                Error::Usage(format!(
                    "{}: [[file]] {}: content must end with a newline",
                    location.display(),
                    file.path
                ))
            })?;
            if body.lines().any(|l| l == TAG) {
                return Err(Error::Usage(format!(
                    "{}: [[file]] {}: a line equals {TAG}",
                    location.display(),
                    file.path
                )));
            }
            // The path follows the tag unquoted: here-document lines take it as one word.
            script.line(format!("upload -<<{TAG} {}", file.path), O::default());
            for line in body.split('\n') {
                script.heredoc_line(line.to_string(), O::default());
            }
            script.heredoc_line(TAG, O::default());
        }
        let mode = u32::from_str_radix(&file.mode, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{}: [[file]] {}: mode {:?} is not octal",
                    location.display(),
                    file.path,
                    file.mode
                ))
            })?;
        script.line(
            format!("chmod {mode:04o} {}", driver::quote(&file.path)),
            O::default(),
        );
    }
    for link in &skeleton.symlinks {
        if let Some(parent) = Path::new(&link.path).parent() {
            script.line(
                format!("mkdir-p {}", driver::quote(&parent.display().to_string())),
                O::default(),
            );
        }
        script.line(
            format!(
                "ln-sf {} {}",
                driver::quote(&link.target),
                driver::quote(&link.path)
            ),
            O::default(),
        );
    }
    Ok(())
}
