//! Copies of `examples/` for tests that run a tool over them.

#![allow(dead_code)]

use std::path::Path;

/// What tools read from an example: its configuration (with `.tfquery.hcl`
/// query files), its README and its import script.
const SOURCE_EXTENSIONS: [&str; 4] = ["tf", "hcl", "md", "sh"];

/// Copies the example sources under `from` to `to`, leaving out what running
/// Terraform in an example leaves behind: `.terraform/` (whose provider
/// links may point nowhere), `.terraform.lock.hcl` and state files.
pub fn copy_example_sources(from: &Path, to: &Path) {
    copy_tree(from, to, &|file| {
        file.extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| SOURCE_EXTENSIONS.contains(&ext))
    });
}

/// Copies the regular files under `from` that `keep` accepts to `to`, with
/// their directories. Hidden entries and symbolic links are not copied.
pub fn copy_tree(from: &Path, to: &Path, keep: &dyn Fn(&Path) -> bool) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    for entry in entries {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&path, &target, keep);
        } else if kind.is_file() && keep(&path) {
            std::fs::copy(&path, &target)
                .unwrap_or_else(|e| panic!("copying {}: {e}", path.display()));
        }
    }
}
