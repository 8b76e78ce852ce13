//! Starts the provider binary the way Terraform does and talks to it over
//! its unix socket, with a client certificate (AutoMTLS), without Terraform.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use tfplugin::proto::tfplugin6::provider_client::ProviderClient;
use tonic::transport::{Channel, Endpoint, Uri};

pub const COOKIE: (&str, &str) = (
    "TF_PLUGIN_MAGIC_COOKIE",
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
);

pub struct ClientCert {
    pub pem: String,
    pub der: CertificateDer<'static>,
    pub key: PrivatePkcs8KeyDer<'static>,
}

/// A client certificate shaped like the one go-plugin makes for Terraform.
pub fn client_cert() -> ClientCert {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let cert = params.self_signed(&key).unwrap();
    ClientCert {
        pem: cert.pem(),
        der: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()),
    }
}

pub struct Handshake {
    pub line: String,
    pub socket: String,
    pub server_cert: Option<CertificateDer<'static>>,
    pub elapsed: std::time::Duration,
}

pub struct Plugin {
    pub child: Child,
    pub handshake: Handshake,
    /// The plugin's `XDG_RUNTIME_DIR`: its persisted SSH masters end with the plugin.
    runtime: super::masters::RuntimeDir,
    _scratch: tempfile::TempDir,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The provider binary of this build.
pub fn binary() -> std::path::PathBuf {
    super::terraform::provider_binary()
}

/// Starts the plugin with the cookie and, when given, a client certificate.
pub fn start(client: Option<&ClientCert>) -> Plugin {
    let scratch = tempfile::Builder::new()
        .prefix("mke-plugin-")
        .tempdir()
        .expect("temp dir");
    let runtime = super::masters::RuntimeDir::inside(scratch.path());
    let mut cmd = Command::new(binary());
    cmd.env("XDG_RUNTIME_DIR", runtime.path())
        .env(COOKIE.0, COOKIE.1)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env_remove("TF_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    match client {
        Some(c) => cmd.env("PLUGIN_CLIENT_CERT", &c.pem),
        None => cmd.env_remove("PLUGIN_CLIENT_CERT"),
    };
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start the plugin");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read the handshake line");
    let elapsed = started.elapsed();
    let line = line.trim_end().to_string();
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields.len(), 6, "handshake line: {line:?}");
    let server_cert = (!fields[5].is_empty()).then(|| {
        CertificateDer::from(
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(fields[5])
                .expect("certificate in base64 without padding"),
        )
    });
    Plugin {
        handshake: Handshake {
            socket: fields[3].to_string(),
            line: line.clone(),
            server_cert,
            elapsed,
        },
        child,
        runtime,
        _scratch: scratch,
    }
}

/// Trusts exactly the certificate the handshake line announced.
#[derive(Debug)]
struct PinnedServer(CertificateDer<'static>);

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.0.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "unexpected server certificate".into(),
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A gRPC channel to the plugin; TLS with `client` when the handshake gave a certificate.
pub async fn connect(
    handshake: &Handshake,
    client: Option<&ClientCert>,
) -> Result<Channel, tonic::transport::Error> {
    let socket = handshake.socket.clone();
    let tls = match (&handshake.server_cert, client) {
        (Some(server), Some(client)) => {
            let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedServer(server.clone())))
            .with_client_auth_cert(
                vec![client.der.clone()],
                PrivateKeyDer::Pkcs8(client.key.clone_key()),
            )
            .unwrap();
            config.alpn_protocols = vec![b"h2".to_vec()];
            Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
        }
        _ => None,
    };
    Endpoint::try_from("http://localhost")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            let tls = tls.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(&socket).await?;
                let io: Box<dyn Io> = match tls {
                    Some(connector) => Box::new(
                        connector
                            .connect(ServerName::try_from("localhost").unwrap(), stream)
                            .await?,
                    ),
                    None => Box::new(stream),
                };
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(io))
            }
        }))
        .await
}

pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

pub fn provider_client(channel: Channel) -> ProviderClient<Channel> {
    ProviderClient::new(channel)
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20)
}

/// A value as Terraform sends it: msgpack of the schema type.
pub fn dynamic_value(
    value: &tfplugin::tfvalue::Value,
    ty: &tfplugin::tfvalue::Type,
) -> tfplugin::proto::tfplugin6::DynamicValue {
    tfplugin::proto::tfplugin6::DynamicValue {
        msgpack: value.to_msgpack(ty).expect("encodable value"),
        json: Vec::new(),
    }
}

/// Reads a value the plugin answered with.
pub fn decode_value(
    value: Option<&tfplugin::proto::tfplugin6::DynamicValue>,
    ty: &tfplugin::tfvalue::Type,
) -> tfplugin::tfvalue::Value {
    let value = value.expect("a value in the answer");
    tfplugin::tfvalue::Value::from_msgpack(&value.msgpack, ty).expect("a value of the schema type")
}

/// `ConfigureProvider` with an `ssh` block of `private_key` and `timeout`;
/// returns the diagnostics.
pub async fn configure_ssh(
    provider: &mut ProviderClient<Channel>,
    terraform_version: &str,
    private_key: &str,
    timeout: &str,
) -> Vec<tfplugin::proto::tfplugin6::Diagnostic> {
    use tfplugin::tfvalue::Value;
    let schema = terraform_provider_mke::provider::schema();
    let ssh = Value::Object(
        [
            ("private_key".to_string(), Value::String(private_key.into())),
            ("timeout".to_string(), Value::String(timeout.into())),
        ]
        .into_iter()
        .collect(),
    );
    let config = Value::Object([("ssh".to_string(), ssh)].into_iter().collect());
    provider
        .configure_provider(tfplugin::proto::tfplugin6::configure_provider::Request {
            terraform_version: terraform_version.into(),
            config: Some(dynamic_value(&config, &schema.value_type())),
            client_capabilities: None,
        })
        .await
        .expect("ConfigureProvider answers")
        .into_inner()
        .diagnostics
}
