//! The plugin process: go-plugin's handshake, the unix socket, AutoMTLS,
//! the go-plugin side services and the health service around the provider.

use std::io::Write as _;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status, Streaming};

use crate::proto::plugin::grpc_broker_server::{GrpcBroker, GrpcBrokerServer};
use crate::proto::plugin::grpc_controller_server::{GrpcController, GrpcControllerServer};
use crate::proto::plugin::grpc_stdio_server::{GrpcStdio, GrpcStdioServer};
use crate::proto::plugin::{ConnInfo, Empty, StdioData};
use crate::proto::tfplugin6::provider_server::ProviderServer as ProviderService;
use crate::provider::Provider;
use crate::server::ProviderServer;
use crate::tls;

/// The cookie Terraform and OpenTofu set for every provider they start.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
pub const CORE_PROTOCOL_VERSION: u32 = 1;
pub const PLUGIN_PROTOCOL_VERSION: u32 = 6;
const MAX_MESSAGE_BYTES: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "This binary is a Terraform plugin: Terraform or OpenTofu starts it and talks to it. \
         It is not meant to be run by hand. Install it as the provider \"{0}\" and run \
         `terraform init`; see the README."
    )]
    NotStartedByTerraform(String),
    #[error(
        "Terraform offered plugin protocol versions {offered}, but this provider speaks only \
         version 6. Use Terraform 1.5 or later, or OpenTofu 1.6 or later."
    )]
    NoCommonProtocol { offered: String },
    #[error("could not listen on a unix socket: {0}")]
    Listen(std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("the gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

pub struct ServeOptions {
    /// The provider's source address, e.g. `registry.terraform.io/mke/mke`.
    pub address: String,
    /// The provider's type name, `mke` in `provider "mke" {}`: messages name the provider by it,
    /// and the TLS certificate's organisation is `terraform-provider-<name>`.
    pub name: String,
    /// Serve without the handshake's cookie and TLS, and print
    /// `TF_REATTACH_PROVIDERS` for a debugger or test harness.
    pub debug: bool,
}

/// Serves until Terraform calls `Shutdown` (or, in debug mode, until Ctrl-C).
pub async fn serve(provider: Arc<dyn Provider>, options: ServeOptions) -> Result<(), ServeError> {
    if !options.debug {
        if std::env::var(MAGIC_COOKIE_KEY).as_deref() != Ok(MAGIC_COOKIE_VALUE) {
            return Err(ServeError::NotStartedByTerraform(options.address));
        }
        negotiate_protocol(std::env::var("PLUGIN_PROTOCOL_VERSIONS").ok().as_deref())?;
    }

    let socket_dir = socket_directory().map_err(ServeError::Listen)?;
    let socket_path = socket_dir.path().join("plugin.sock");
    let listener = UnixListener::bind(&socket_path).map_err(ServeError::Listen)?;

    let client_cert = match std::env::var("PLUGIN_CLIENT_CERT") {
        Ok(pem) if !options.debug && !pem.trim().is_empty() => {
            Some(tls::parse_client_certificate(&pem)?)
        }
        _ => None,
    };
    let (tls_acceptor, cert_field) = match client_cert {
        Some(client) => {
            let server =
                tls::generate_server_certificate(&format!("terraform-provider-{}", options.name))?;
            let config = tls::server_config(&server, client)?;
            let field =
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(server.der.as_ref());
            (
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
                field,
            )
        }
        None => (None, String::new()),
    };

    let shutdown = Arc::new(Notify::new());
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;

    let provider_service =
        ProviderService::new(ProviderServer::new(provider, options.name.clone()))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let router = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(provider_service)
        .add_service(GrpcControllerServer::new(Controller {
            shutdown: shutdown.clone(),
        }))
        .add_service(GrpcStdioServer::new(Stdio {
            shutdown: shutdown.clone(),
        }))
        .add_service(GrpcBrokerServer::new(Broker {
            shutdown: shutdown.clone(),
        }));

    let socket = socket_path.to_string_lossy().to_string();
    if options.debug {
        print_reattach(&options.address, &socket);
    } else {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "{CORE_PROTOCOL_VERSION}|{PLUGIN_PROTOCOL_VERSION}|unix|{socket}|grpc|{cert_field}"
        );
        let _ = stdout.flush();
    }
    tracing::debug!(socket = %socket, tls = tls_acceptor.is_some(), "plugin server listening");

    let incoming = accept_connections(listener, tls_acceptor);
    let stop = shutdown.clone();
    let debug = options.debug;
    let stopped = async move {
        if debug {
            tokio::select! {
                _ = stop.notified() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        } else {
            // Terraform handles Ctrl-C itself and calls StopProvider; like
            // go-plugin, the plugin keeps serving through SIGINT.
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .expect("SIGINT handler");
            loop {
                tokio::select! {
                    _ = stop.notified() => break,
                    _ = term.recv() => break,
                    _ = int.recv() => continue,
                }
            }
        }
        // In-flight calls get a moment to finish; Shutdown must not hang.
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            std::process::exit(0);
        });
    };
    router
        .serve_with_incoming_shutdown(incoming, stopped)
        .await?;
    drop(socket_dir);
    Ok(())
}

fn negotiate_protocol(offered: Option<&str>) -> Result<(), ServeError> {
    let Some(offered) = offered.filter(|s| !s.trim().is_empty()) else {
        return Ok(());
    };
    let speaks_ours = offered
        .split(',')
        .any(|v| v.trim().parse::<u32>() == Ok(PLUGIN_PROTOCOL_VERSION));
    if speaks_ours {
        Ok(())
    } else {
        Err(ServeError::NoCommonProtocol {
            offered: offered.to_string(),
        })
    }
}

fn socket_directory() -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("plugin");
    match std::env::var_os("PLUGIN_UNIX_SOCKET_DIR") {
        Some(dir) => builder.tempdir_in(PathBuf::from(dir)),
        None => builder.tempdir(),
    }
}

fn print_reattach(address: &str, socket: &str) {
    let reattach = serde_json::json!({
        address: {
            "Protocol": "grpc",
            "ProtocolVersion": PLUGIN_PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": { "Network": "unix", "String": socket },
        }
    });
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "Provider started in debug mode. To attach Terraform or OpenTofu, set this in their environment:\n\n\tTF_REATTACH_PROVIDERS='{reattach}'\n"
    );
    let _ = stdout.flush();
}

fn accept_connections(
    listener: UnixListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> ReceiverStream<std::io::Result<PluginConnection>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a plugin connection failed");
                    continue;
                }
            };
            let tx = tx.clone();
            let tls = tls.clone();
            // The TLS handshake runs apart so a stuck client cannot block others.
            tokio::spawn(async move {
                let connection = match tls {
                    None => PluginConnection::Plain(stream),
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(s) => PluginConnection::Tls(Box::new(s)),
                        Err(e) => {
                            tracing::warn!(error = %e, "a client failed the TLS handshake");
                            return;
                        }
                    },
                };
                let _ = tx.send(Ok(connection)).await;
            });
        }
    });
    ReceiverStream::new(rx)
}

pub enum PluginConnection {
    Plain(UnixStream),
    Tls(Box<tokio_rustls::server::TlsStream<UnixStream>>),
}

impl Connected for PluginConnection {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for PluginConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            PluginConnection::Plain(s) => Pin::new(s).poll_read(cx, buf),
            PluginConnection::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PluginConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            PluginConnection::Plain(s) => Pin::new(s).poll_write(cx, buf),
            PluginConnection::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            PluginConnection::Plain(s) => Pin::new(s).poll_flush(cx),
            PluginConnection::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            PluginConnection::Plain(s) => Pin::new(s).poll_shutdown(cx),
            PluginConnection::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

struct Controller {
    shutdown: Arc<Notify>,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        tracing::debug!("Terraform asked the plugin to shut down");
        self.shutdown.notify_one();
        Ok(Response::new(Empty {}))
    }
}

/// go-plugin streams a Go plugin's captured stdout and stderr here. Ours
/// writes logs straight to stderr, so the stream stays open and silent.
struct Stdio {
    shutdown: Arc<Notify>,
}

type Pending<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = Pending<StdioData>;
    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        let _ = &self.shutdown;
        Ok(Response::new(Box::pin(tokio_stream::pending())))
    }
}

/// The broker serves plugins that pass connections to each other; a
/// Terraform provider never does, so incoming messages are only drained.
struct Broker {
    shutdown: Arc<Notify>,
}

#[tonic::async_trait]
impl GrpcBroker for Broker {
    type StartStreamStream = Pending<ConnInfo>;
    async fn start_stream(
        &self,
        request: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let _ = &self.shutdown;
        let mut incoming = request.into_inner();
        tokio::spawn(async move { while let Ok(Some(_)) = incoming.message().await {} });
        Ok(Response::new(Box::pin(tokio_stream::pending())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_negotiation_needs_version_six() {
        assert!(negotiate_protocol(None).is_ok());
        assert!(negotiate_protocol(Some("5,6")).is_ok());
        assert!(negotiate_protocol(Some("6")).is_ok());
        let err = negotiate_protocol(Some("4,5")).unwrap_err().to_string();
        assert!(err.contains("4,5") && err.contains("version 6"), "{err}");
    }
}
