//! Bindings generated at build time from the workspace's `proto/` directory.
//!
//! The generated code is not ours to lint: its shape is dictated by prost and
//! tonic, and the field names follow the protocol, not Rust conventions.

/// Terraform plugin protocol 6.10: messages, the `Provider` server trait and
/// `ProviderServer`, and a `ProviderClient` for tests.
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod tfplugin6 {
    tonic::include_proto!("tfplugin6");
}

/// go-plugin's internal services every gRPC plugin serves next to the
/// provider: `GRPCController`, `GRPCStdio` and `GRPCBroker`.
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod plugin {
    tonic::include_proto!("plugin");
}
