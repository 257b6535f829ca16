//! Embeds the commit the tool is built from (`I3S_BUNDLE_COMMIT`, shown by `--version`): `git
//! rev-parse` plus `-dirty` when the work tree has changes; "unknown commit" without git or a
//! repository (a crates tarball). It is for people; the build cache keys on the executable's own
//! hash instead (src/build/cache.rs), which changes with any code change, committed or not.
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(hash) if !hash.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            format!("commit {hash}{}", if dirty { "-dirty" } else { "" })
        }
        _ => "unknown commit".to_string(),
    };
    println!("cargo:rustc-env=I3S_BUNDLE_COMMIT={commit}");
    // Re-run when HEAD moves or the index changes (a commit, a checkout, a `git add`); the
    // sources too, for the dirty flag.
    for path in ["HEAD", "index"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(&["rev-parse", "--git-path", &head_ref])
    {
        println!("cargo:rerun-if-changed={p}");
    }
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");
}
