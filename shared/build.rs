//! Embeds the build's commit, which both programs report in `*_build_info{commit}`:
//! `VAULTGATE_COMMIT` when set (the Dockerfile passes it as a build argument, since the image
//! build has no `.git`), else `git rev-parse --short=12 HEAD`, else "unknown".

fn main() {
    println!("cargo:rerun-if-env-changed=VAULTGATE_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    let given = std::env::var("VAULTGATE_COMMIT")
        .ok()
        .map(|c| c.trim().to_owned())
        .filter(|c| is_commit(c));
    let commit = given.or_else(git_commit).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=VAULTGATE_COMMIT={commit}");
}

/// A hex commit id of 7 to 40 characters (anything else is ignored, never embedded).
fn is_commit(c: &str) -> bool {
    (7..=40).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_hexdigit())
}

fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(std::env::var_os("CARGO_MANIFEST_DIR")?)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_owned())
}

fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).filter(|c| is_commit(c))?;
    // Re-run when HEAD moves: a new commit on the branch, or another branch checked out.
    for path in ["HEAD", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(&["rev-parse", "--git-path", &branch])
    {
        println!("cargo:rerun-if-changed={p}");
    }
    Some(commit)
}
