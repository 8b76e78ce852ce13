//! Installing the way a user does. `scripts/install.sh` fills a filesystem
//! mirror (in a temporary HOME, with the binary this test run built), and real
//! Terraform 1.15 `init`s from it with no `dev_overrides`: once through the
//! default directory `~/.terraform.d/plugins` with no CLI configuration, once
//! through an explicit `filesystem_mirror`, then `validate` and `plan`.
//! `scripts/release.sh` is checked the same way: its zip, SHA256SUMS and
//! manifest, and Terraform installing the zip as it is from a packed mirror;
//! and its GPG signature of SHA256SUMS, made with a throwaway key.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::terraform::{self, Output, Terraform};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const REGISTRIES: [&str; 2] = ["registry.terraform.io", "registry.opentofu.org"];

const CONFIG: &str = r#"
terraform {
  required_providers {
    mke = { source = "mke/mke" }
  }
}

provider "mke" {
  ssh {
    user = "ubuntu"
  }
}

resource "mke_cluster" "main" {
  name = "demo"
  controllers = {
    cp1 = { address = "192.0.2.11" }
  }
}
"#;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn provider_binary() -> PathBuf {
    terraform::provider_binary()
}

/// `<os>_<arch>` as Terraform names this machine.
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "x86" => "386",
        other => other,
    };
    format!("{}_{arch}", std::env::consts::OS)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The digest as `sha256sum` prints it (coreutils: fast, where a debug build of sha2 is not).
fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    assert!(
        out.status.success(),
        "sha256sum {}: {out:?}",
        path.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn assert_same_file(copy: &Path, original: &[u8]) {
    assert!(
        read(copy) == original,
        "{} is not the built binary",
        copy.display()
    );
}

fn script(name: &str, args: &[&str], home: &Path) -> std::process::Output {
    script_env(name, args, home, &[])
}

/// Runs `scripts/<name>` with only the settings of this test: none of the
/// caller's PLUGIN_DIR, SOURCE_DATE_EPOCH or signing key, plus `env`.
fn script_env(
    name: &str,
    args: &[&str],
    home: &Path,
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("scripts").join(name))
        .args(args)
        .env("HOME", home)
        .env_remove("PLUGIN_DIR")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("GPG_FINGERPRINT")
        .env_remove("GNUPGHOME");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("running scripts/{name}: {e}"))
}

fn script_ok(name: &str, args: &[&str], home: &Path) -> String {
    script_env_ok(name, args, home, &[])
}

fn script_env_ok(name: &str, args: &[&str], home: &Path, env: &[(&str, &str)]) -> String {
    let out = script_env(name, args, home, env);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "scripts/{name} failed:\n{text}");
    text
}

/// Runs Terraform in `dir` with only the given CLI configuration: none at all
/// when `cli_config` is `None`, so that Terraform falls back to the implied
/// mirror directories under `home`.
fn terraform_in(
    tf: &Terraform,
    dir: &Path,
    home: &Path,
    cli_config: Option<&Path>,
    args: &[&str],
) -> Output {
    let mut cmd = Command::new(&tf.program);
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1");
    for inherited in [
        "TF_CLI_CONFIG_FILE",
        "TF_PLUGIN_CACHE_DIR",
        "TF_DATA_DIR",
        "TF_CLI_ARGS",
        "TF_CLI_ARGS_init",
        "TF_CLI_ARGS_plan",
        "TF_LOG",
        "TF_LOG_PATH",
    ] {
        cmd.env_remove(inherited);
    }
    if let Some(config) = cli_config {
        cmd.env("TF_CLI_CONFIG_FILE", config);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("running {}: {e}", tf.program.display()))
        .into()
}

fn expect_success(tf: &Terraform, what: &str, out: &Output) {
    assert_eq!(
        out.code,
        0,
        "{} {what} failed:\n{}",
        tf.label,
        out.combined()
    );
}

/// A Terraform working directory with [`CONFIG`], inside `home`.
fn workdir(home: &Path, name: &str) -> PathBuf {
    let dir = home.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.tf"), CONFIG).unwrap();
    dir
}

/// `init` installed `mke/mke` at this version from a local mirror, and locked it.
fn assert_installed_from_mirror(tf: &Terraform, dir: &Path, init: &Output) {
    let output = init.combined();
    assert!(
        output.contains(&format!("Installing mke/mke v{VERSION}...")),
        "{}: {output}",
        tf.label
    );
    assert!(
        output.contains(&format!("Installed mke/mke v{VERSION} (unauthenticated)")),
        "{}: {output}",
        tf.label
    );
    let lock = std::fs::read_to_string(dir.join(".terraform.lock.hcl")).unwrap();
    assert!(
        lock.contains("provider \"registry.terraform.io/mke/mke\" {")
            && lock.contains(&format!("version = \"{VERSION}\"")),
        "{lock}"
    );
}

#[test]
fn install_script_fills_the_default_mirror_that_terraform_inits_from() {
    let home = tempfile::Builder::new()
        .prefix("mke-home-")
        .tempdir()
        .unwrap();
    let binary = provider_binary();
    let log = script_ok(
        "install.sh",
        &["--binary", binary.to_str().unwrap()],
        home.path(),
    );

    let plugins = home.path().join(".terraform.d/plugins");
    let original = read(&binary);
    for registry in REGISTRIES {
        let installed = plugins
            .join(registry)
            .join("mke/mke")
            .join(VERSION)
            .join(platform())
            .join(format!("terraform-provider-mke_v{VERSION}"));
        assert!(
            log.contains(&format!("installed {}", installed.display())),
            "{log}"
        );
        let mode = std::fs::metadata(&installed)
            .unwrap_or_else(|e| panic!("{}: {e}\n{log}", installed.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "{}", installed.display());
        assert_same_file(&installed, &original);
        let leftovers: Vec<_> = std::fs::read_dir(installed.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "only the binary: {leftovers:?}");
    }

    let Some(tf) = terraform::terraform_1_15() else {
        return;
    };

    // No CLI configuration at all: Terraform searches ~/.terraform.d/plugins itself.
    let implied = workdir(home.path(), "implied");
    let init = terraform_in(
        &tf,
        &implied,
        home.path(),
        None,
        &["init", "-input=false", "-no-color"],
    );
    expect_success(&tf, "init from ~/.terraform.d/plugins", &init);
    assert_installed_from_mirror(&tf, &implied, &init);

    // An explicit filesystem mirror, as a CLI configuration with other mirrors would have it.
    let config = home.path().join("mirror.tfrc");
    std::fs::write(
        &config,
        format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"mke/mke\"]\n  }}\n}}\n",
            plugins.display()
        ),
    )
    .unwrap();
    let explicit = workdir(home.path(), "explicit");
    let run = |args: &[&str]| terraform_in(&tf, &explicit, home.path(), Some(&config), args);
    let init = run(&["init", "-input=false", "-no-color"]);
    expect_success(&tf, "init from a filesystem_mirror", &init);
    assert_installed_from_mirror(&tf, &explicit, &init);
    let validate = run(&["validate", "-no-color"]);
    expect_success(&tf, "validate", &validate);
    assert!(
        validate.stdout.contains("The configuration is valid."),
        "{}",
        validate.combined()
    );
    let plan = run(&["plan", "-input=false", "-no-color"]);
    expect_success(&tf, "plan", &plan);
    assert!(
        plan.stdout.contains("# mke_cluster.main will be created")
            && plan
                .stdout
                .contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{}",
        plan.combined()
    );
}

#[test]
fn install_script_refuses_a_binary_of_another_version() {
    let home = tempfile::Builder::new()
        .prefix("mke-home-")
        .tempdir()
        .unwrap();
    let stale = home.path().join("terraform-provider-mke");
    std::fs::write(&stale, "#!/bin/sh\necho 'terraform-provider-mke 0.0.1'\n").unwrap();
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = script(
        "install.sh",
        &["--binary", stale.to_str().unwrap()],
        home.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "reports \"terraform-provider-mke 0.0.1\", but Cargo.toml says {VERSION}: rebuild it"
        )),
        "{stderr}"
    );
    assert!(
        !home.path().join(".terraform.d").exists(),
        "nothing is installed"
    );
}

#[test]
fn release_script_writes_the_zip_sums_and_manifest_that_terraform_installs() {
    let work = tempfile::Builder::new()
        .prefix("mke-release-")
        .tempdir()
        .unwrap();
    let dist = work.path().join("dist");
    let binary = provider_binary();
    script_ok(
        "release.sh",
        &[
            "--binary",
            binary.to_str().unwrap(),
            "--out",
            dist.to_str().unwrap(),
        ],
        work.path(),
    );

    let prefix = format!("terraform-provider-mke_{VERSION}");
    let zip = format!("{prefix}_{}.zip", platform());
    let manifest = format!("{prefix}_manifest.json");
    let sums = format!("{prefix}_SHA256SUMS");
    let mut files: Vec<String> = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected_files = vec![
        zip.clone(),
        manifest.clone(),
        sums.clone(),
        "terraform-registry-manifest.json".to_string(),
    ];
    expected_files.sort();
    assert_eq!(files, expected_files);

    // Both manifests are the committed one, as it is.
    let committed = read(&repo().join("terraform-registry-manifest.json"));
    let json: serde_json::Value = serde_json::from_slice(&committed).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"version": 1, "metadata": {"protocol_versions": ["6.0"]}})
    );
    for name in [&manifest, "terraform-registry-manifest.json"] {
        assert!(
            read(&dist.join(name)) == committed,
            "{name} is not a copy of terraform-registry-manifest.json"
        );
    }

    let listed = std::fs::read_to_string(dist.join(&sums)).unwrap();
    let expected_sums = format!(
        "{}  {zip}\n{}  {manifest}\n",
        sha256_of(&dist.join(&zip)),
        sha256_of(&dist.join(&manifest))
    );
    assert_eq!(listed, expected_sums, "{sums}");

    // The zip holds exactly the binary, executable, under its versioned name.
    let listing = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             for i in zipfile.ZipFile(sys.argv[1]).infolist():\n    \
                 print(i.filename, oct(i.external_attr >> 16), i.file_size)",
        )
        .arg(dist.join(&zip))
        .output()
        .expect("python3 lists the zip");
    assert!(listing.status.success(), "{listing:?}");
    let size = std::fs::metadata(&binary).unwrap().len();
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout),
        format!("terraform-provider-mke_v{VERSION} 0o100755 {size}\n")
    );

    // Terraform installs the zip as it is from a packed mirror, and runs what it unpacked.
    let Some(tf) = terraform::terraform_1_15() else {
        return;
    };
    let packed = work.path().join("packed/registry.terraform.io/mke/mke");
    std::fs::create_dir_all(&packed).unwrap();
    std::fs::copy(dist.join(&zip), packed.join(&zip)).unwrap();
    let config = work.path().join("packed.tfrc");
    std::fs::write(
        &config,
        format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/mke/mke\"]\n  }}\n}}\n",
            work.path().join("packed").display()
        ),
    )
    .unwrap();
    let dir = workdir(work.path(), "from-zip");
    let run = |args: &[&str]| terraform_in(&tf, &dir, work.path(), Some(&config), args);
    let init = run(&["init", "-input=false", "-no-color"]);
    expect_success(&tf, "init from the release zip", &init);
    assert_installed_from_mirror(&tf, &dir, &init);
    let unpacked = dir
        .join(".terraform/providers/registry.terraform.io/mke/mke")
        .join(VERSION)
        .join(platform())
        .join(format!("terraform-provider-mke_v{VERSION}"));
    assert_same_file(&unpacked, &read(&binary));
    expect_success(&tf, "validate", &run(&["validate", "-no-color"]));
}

/// A GnuPG home of its own: the throwaway key lives there, and the agent gpg
/// starts for it is stopped when the test ends.
struct GnupgHome {
    dir: tempfile::TempDir,
}

impl GnupgHome {
    fn new() -> GnupgHome {
        let dir = tempfile::Builder::new()
            .prefix("mke-gnupg-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        GnupgHome { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn gpg(&self, args: &[&str]) -> Output {
        let out = Command::new("gpg")
            .arg("--batch")
            .args(args)
            .env("GNUPGHOME", self.path())
            .output()
            .unwrap_or_else(|e| panic!("running gpg: {e}"));
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A new signing key without a passphrase; returns its fingerprint.
    fn generate_key(&self) -> String {
        let made = self.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            "mke release test <release-test@example.invalid>",
            "ed25519",
            "sign",
            "never",
        ]);
        assert_eq!(made.code, 0, "gpg --quick-gen-key:\n{}", made.combined());
        let listed = self.gpg(&["--with-colons", "--list-secret-keys"]);
        listed
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|rest| rest.split(':').find(|f| !f.is_empty()))
            .unwrap_or_else(|| panic!("no fingerprint in:\n{}", listed.stdout))
            .to_string()
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", self.path())
            .output();
    }
}

#[test]
fn release_script_signs_the_sums_with_a_detached_signature_that_gpg_verifies() {
    if Command::new("gpg").arg("--version").output().is_err() {
        terraform::unavailable("gpg is not installed (apt-get install gnupg)");
        return;
    }
    let work = tempfile::Builder::new()
        .prefix("mke-release-")
        .tempdir()
        .unwrap();
    let gnupg = GnupgHome::new();
    let fingerprint = gnupg.generate_key();
    let dist = work.path().join("dist");
    // What is signed is the sums, not the binary: a small stand-in that
    // reports this version keeps the three releases below quick.
    let binary = work.path().join("terraform-provider-mke");
    std::fs::write(
        &binary,
        format!("#!/bin/sh\necho 'terraform-provider-mke {VERSION}'\n"),
    )
    .unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let gnupg_home = gnupg.path().to_str().unwrap();
    let gnupg_env = [("GNUPGHOME", gnupg_home)];
    let release = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "--binary",
            binary.to_str().unwrap(),
            "--out",
            dist.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        script_env_ok("release.sh", &args, work.path(), env)
    };

    let log = release(&["--gpg-key", &fingerprint], &gnupg_env);
    let sums = dist.join(format!("terraform-provider-mke_{VERSION}_SHA256SUMS"));
    let signature = dist.join(format!("terraform-provider-mke_{VERSION}_SHA256SUMS.sig"));
    assert!(
        log.contains(&signature.display().to_string()),
        "the script names the signature it wrote:\n{log}"
    );
    let bytes = read(&signature);
    assert!(
        !bytes.starts_with(b"-----BEGIN"),
        "the signature is binary, not ASCII-armoured"
    );
    let verify = |signed: &Path| {
        gnupg.gpg(&[
            "--verify",
            signature.to_str().unwrap(),
            signed.to_str().unwrap(),
        ])
    };
    let good = verify(&sums);
    assert_eq!(good.code, 0, "{}", good.combined());
    assert!(
        good.stderr.contains("Good signature") && good.stderr.contains(&fingerprint),
        "{}",
        good.stderr
    );

    // A changed SHA256SUMS no longer matches the signature.
    let tampered = work.path().join("tampered_SHA256SUMS");
    let mut text = std::fs::read_to_string(&sums).unwrap();
    text.replace_range(0..1, if text.starts_with('0') { "1" } else { "0" });
    std::fs::write(&tampered, text).unwrap();
    let bad = verify(&tampered);
    assert_ne!(bad.code, 0, "a tampered file must not verify");
    assert!(bad.stderr.contains("BAD signature"), "{}", bad.stderr);

    // The key may come from GPG_FINGERPRINT instead of --gpg-key.
    std::fs::remove_file(&signature).unwrap();
    release(
        &[],
        &[
            ("GNUPGHOME", gnupg_home),
            ("GPG_FINGERPRINT", fingerprint.as_str()),
        ],
    );
    assert_eq!(
        verify(&sums).code,
        0,
        "signed with the key from the environment"
    );

    // Without a key there is no signature, and none left from an earlier run.
    release(&[], &gnupg_env);
    assert!(
        !signature.exists(),
        "an unsigned release must not keep the signature of an earlier SHA256SUMS"
    );
}
