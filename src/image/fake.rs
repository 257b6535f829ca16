//! `golden-image fake`: a small disk image with the structure of an OS's golden image — GPT with
//! an ESP, /boot and an LVM partition, the OS's VG with swap and root LVs, ext4 root — and the
//! directory skeleton and files from `fake.toml`. No real OS: for tests and for authors without
//! an image at hand. Several fakes share one launch.
use super::os::OsDefinition;
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

/// Parses `256M`, `1G`, `512K` or plain bytes.
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| Error::Usage(format!("size {text:?}: expected e.g. 256M or 1G")))?;
    let factor = match unit
        .trim_end_matches(['i', 'B'])
        .to_ascii_uppercase()
        .as_str()
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => {
            return Err(Error::Usage(format!(
                "size {text:?}: unknown unit {unit:?} (use K, M or G)"
            )));
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| Error::Usage(format!("size {text:?} is too large")))
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
        let errors = driver::error_lines(&outcome.stderr);
        let message = errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::other(format!(
            "guestfish could not make the fake image: {message}"
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

/// Partitions, LVM, file systems and the skeleton for one disk.
fn write_layout(script: &mut Script<()>, os: &OsDefinition, disk: &str) -> Result<()> {
    let (vg, lv) = os.root_lv_parts();
    let root = &os.profile.root_lv;
    for line in [
        format!("part-init {disk} gpt"),
        format!("part-add {disk} p 2048 34815"), // ESP, 16 MiB
        format!("part-add {disk} p 34816 100351"), // /boot, 32 MiB
        format!("part-add {disk} p 100352 -34"), // LVM, the rest
        format!("part-set-gpt-type {disk} 1 C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
        format!("part-set-gpt-type {disk} 3 E6D6D379-F507-44C2-A23C-238F2A3DF928"),
        format!("mkfs vfat {disk}1"),
        format!("mkfs ext4 {disk}2"),
        format!("pvcreate {disk}3"),
        format!("vgcreate {vg} {disk}3"),
        format!("lvcreate swap {vg} 8"),
        format!("lvcreate-free {lv} {vg} 100"),
        format!("mkswap /dev/{vg}/swap"),
        format!("mkfs ext4 {root}"),
        format!("mount {root} /"),
        "mkdir-p /boot".to_string(),
        format!("mount {disk}2 /boot"),
        "mkdir-p /boot/efi".to_string(),
        format!("mount {disk}1 /boot/efi"),
    ] {
        script.line(line, ());
    }
    let skeleton = &os.fake;
    for dir in &skeleton.directories {
        script.line(format!("mkdir-p {}", driver::quote(dir)), ());
    }
    for file in &skeleton.files {
        let location = os.dir.join("fake.toml");
        if let Some(parent) = Path::new(&file.path).parent() {
            script.line(
                format!("mkdir-p {}", driver::quote(&parent.display().to_string())),
                (),
            );
        }
        if file.content.is_empty() {
            script.line(format!("touch {}", driver::quote(&file.path)), ());
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
            script.line(format!("upload -<<{TAG} {}", file.path), ());
            for line in body.split('\n') {
                script.heredoc_line(line.to_string(), ());
            }
            script.heredoc_line(TAG, ());
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
            (),
        );
    }
    for link in &skeleton.symlinks {
        if let Some(parent) = Path::new(&link.path).parent() {
            script.line(
                format!("mkdir-p {}", driver::quote(&parent.display().to_string())),
                (),
            );
        }
        script.line(
            format!(
                "ln-sf {} {}",
                driver::quote(&link.target),
                driver::quote(&link.path)
            ),
            (),
        );
    }
    script.line("umount-all", ());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("256M").unwrap(), 256 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("12X").is_err());
        assert!(parse_size("M").is_err());
    }
}
