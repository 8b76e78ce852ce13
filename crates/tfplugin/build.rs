//! Generates the tfplugin6 and go-plugin gRPC bindings from `proto/` at the
//! workspace root. protox parses the files in-process, so building needs no
//! system `protoc`.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    let proto_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let mut proto_files = Vec::new();
    collect_proto_files(&proto_root, &proto_root, &mut proto_files)?;
    // Sorted so generated code does not depend on directory iteration order.
    proto_files.sort();

    let descriptors = protox::compile(&proto_files, [&proto_root])?;

    tonic_prost_build::configure()
        .build_server(true)
        // Tests drive the provider through the generated client, exactly as
        // Terraform would.
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}

/// Paths are collected relative to `root` because protox resolves imports
/// and names files by their path under the include directory.
fn collect_proto_files(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_proto_files(root, &path, found)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            let relative = path
                .strip_prefix(root)
                .expect("read_dir under root yields paths under root");
            found.push(relative.to_path_buf());
        }
    }
    Ok(())
}
