//! `terraform-provider-mke`: the plugin binary Terraform and OpenTofu start.

use std::sync::Arc;

use terraform_provider_mke::provider::{MkeProvider, ADDRESS};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "-version") {
        println!("terraform-provider-mke {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    if let Some(unknown) = args.iter().find(|a| *a != "--debug" && *a != "-debug") {
        eprintln!(
            "terraform-provider-mke: unknown argument {unknown:?}; accepted: --debug, --version"
        );
        std::process::exit(2);
    }
    let debug = !args.is_empty();
    tfplugin::logging::init("provider.terraform-provider-mke");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(tfplugin::serve::serve(
        Arc::new(MkeProvider::default()),
        tfplugin::serve::ServeOptions {
            address: ADDRESS.to_string(),
            name: "mke".to_string(),
            debug,
        },
    ));
    if let Err(e) = result {
        eprintln!("terraform-provider-mke: {e}");
        std::process::exit(1);
    }
}
