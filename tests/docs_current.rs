//! The committed `docs/` is exactly what `mke-docs` generates from the
//! provider's schemas, `examples/` and `docs/fragments/`. When the first test
//! fails, run `cargo run --bin mke-docs` and commit the result.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::examples::{copy_example_sources, copy_tree};
use terraform_provider_mke::provider::MkeProvider;
use tfplugin::Provider;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn mke_docs(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mke-docs"))
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .expect("run mke-docs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Copies what `mke-docs` reads and writes, `docs/` and the example
/// sources, from the checkout at `from` to `to`.
fn copy_generator_inputs(from: &Path, to: &Path) {
    copy_tree(&from.join("docs"), &to.join("docs"), &|_| true);
    copy_example_sources(&from.join("examples"), &to.join("examples"));
}

fn temp_checkout() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("mke-docs-")
        .tempdir()
        .unwrap()
}

#[test]
fn committed_docs_are_what_the_generator_writes() {
    let out = mke_docs(&repo(), &["--check"]);
    assert!(
        out.status.success(),
        "docs/ differs from the generator's output; run `cargo run --bin mke-docs`:\n{}",
        text(&out)
    );
}

#[test]
fn check_names_each_drifted_file_and_a_write_repairs_them() {
    let copy = temp_checkout();
    let root = copy.path();
    copy_generator_inputs(&repo(), root);
    let cluster = root.join("docs/resources/cluster.md");
    let edited = std::fs::read_to_string(&cluster)
        .unwrap()
        .replace("## Import", "## Importing");
    std::fs::write(&cluster, edited).unwrap();
    std::fs::remove_file(root.join("docs/resources/node.md")).unwrap();
    std::fs::write(root.join("docs/resources/removed.md"), "# mke_removed\n").unwrap();
    std::fs::write(root.join("docs/performance.md"), "figures\n").unwrap();

    let check = mke_docs(root, &["--check"]);
    let report = text(&check);
    assert_eq!(check.status.code(), Some(1), "{report}");
    assert!(
        report.contains("docs/resources/cluster.md: differs from the generator's output (line")
            && report.contains("committed \"## Importing\", generated \"## Import\""),
        "{report}"
    );
    assert!(
        report.contains("docs/resources/node.md: missing"),
        "{report}"
    );
    assert!(
        report.contains("docs/resources/removed.md: stale"),
        "{report}"
    );
    assert!(!report.contains("docs/index.md"), "{report}");
    assert!(!report.contains("performance.md"), "{report}");

    let write = mke_docs(root, &[]);
    assert!(write.status.success(), "{}", text(&write));
    let check = mke_docs(root, &["--check"]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(!root.join("docs/resources/removed.md").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("docs/performance.md")).unwrap(),
        "figures\n",
        "hand-written docs outside the generator's pages are left alone"
    );
}

#[test]
fn an_example_where_terraform_init_ran_is_copied_and_checked_without_its_leftovers() {
    // A checkout in which someone ran `terraform init` and `apply` in an
    // example: a provider link into a plugin cache that is gone, a lock
    // file, state.
    let checkout = temp_checkout();
    copy_generator_inputs(&repo(), checkout.path());
    let example = checkout.path().join("examples/resources/mke_cluster");
    let provider_dir = example.join(".terraform/providers/registry.terraform.io/mke/mke/0.1.0");
    std::fs::create_dir_all(&provider_dir).unwrap();
    let dangling = provider_dir.join("linux_amd64");
    std::os::unix::fs::symlink("/nonexistent/plugin-cache/mke/linux_amd64", &dangling).unwrap();
    assert!(
        !dangling.exists() && dangling.symlink_metadata().is_ok(),
        "the link must dangle"
    );
    for leftover in [
        ".terraform.lock.hcl",
        "terraform.tfstate",
        "terraform.tfstate.backup",
    ] {
        std::fs::write(example.join(leftover), "{}\n").unwrap();
    }
    let check = mke_docs(checkout.path(), &["--check"]);
    assert!(check.status.success(), "{}", text(&check));

    let copy = temp_checkout();
    copy_generator_inputs(checkout.path(), copy.path());
    let copied = copy.path().join("examples/resources/mke_cluster");
    for source in ["resource.tf", "versions.tf", "import.sh"] {
        assert!(copied.join(source).is_file(), "{source} was not copied");
    }
    for leftover in [
        ".terraform",
        ".terraform.lock.hcl",
        "terraform.tfstate",
        "terraform.tfstate.backup",
    ] {
        assert!(
            copied.join(leftover).symlink_metadata().is_err(),
            "{leftover} was copied"
        );
    }
    let check = mke_docs(copy.path(), &["--check"]);
    assert!(check.status.success(), "{}", text(&check));
}

#[test]
fn every_type_the_provider_serves_has_its_page() {
    let provider = MkeProvider::default();
    let pages = provider
        .resources()
        .iter()
        .map(|r| ("resources", r.type_name()))
        .chain(
            provider
                .ephemeral_resources()
                .iter()
                .map(|r| ("ephemeral-resources", r.type_name())),
        )
        .chain(
            provider
                .actions()
                .iter()
                .map(|a| ("actions", a.type_name())),
        )
        .collect::<Vec<_>>();
    for (dir, type_name) in pages {
        let short = type_name.strip_prefix("mke_").unwrap();
        let page = read(&format!("docs/{dir}/{short}.md"));
        assert!(page.contains(&format!("# {type_name} (")), "{type_name}");
        assert!(page.contains("## Example Usage"), "{type_name}");
        assert!(page.contains("## Schema"), "{type_name}");
        if dir == "resources" {
            assert!(
                page.contains("## Import\n"),
                "{type_name} has no import section"
            );
            assert!(page.contains("**Import ID:**"), "{type_name}: no ID format");
        }
    }
}

#[test]
fn docs_cover_install_defaults_security_air_gap_and_opentofu() {
    let index = read("docs/index.md");
    for needle in [
        // Install, for both tools, and the minimum versions.
        "registry.terraform.io/mke/mke/<version>/<os>_<arch>/terraform-provider-mke_v<version>",
        "registry.opentofu.org/mke/mke/<version>/<os>_<arch>/terraform-provider-mke_v<version>",
        "filesystem_mirror",
        "**Terraform 1.5** or later, or **OpenTofu 1.6** or later",
        // The seed defaults, from the schema.
        "| `network.pod_cidr` | `\"10.244.0.0/16\"` | replaces the cluster |",
        "| `k0s_version` | `\"v1.29.3+k0s.0\"` | in place |",
        "k0s_config_overrides",
        // Security: state, secrets, host keys and the way out of a changed key.
        "## Security",
        "trust on first use",
        "terraform apply -refresh=false",
        // Air-gapped use and OpenTofu.
        "## Air-gapped hosts",
        "k0s_binary_path",
        "## OpenTofu",
    ] {
        assert!(index.contains(needle), "docs/index.md lacks {needle:?}");
    }
    let cluster = read("docs/resources/cluster.md");
    assert!(cluster.contains("- `kubeconfig` (String, Sensitive)"));
    assert!(cluster.contains("<a id=\"nestedatt--network--calico\"></a>"));
    assert!(cluster.contains("nodeLocalLoadBalancing"));
}
