//! AutoMTLS as go-plugin does it: the client (Terraform) hands us its
//! certificate in `PLUGIN_CLIENT_CERT`; we make a fresh server certificate,
//! print it in the handshake line, and accept only that client certificate.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("PLUGIN_CLIENT_CERT does not hold a PEM certificate: {0}")]
    BadClientCert(String),
    #[error("could not generate the server certificate: {0}")]
    CertGeneration(#[from] rcgen::Error),
    #[error("could not build the TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

pub struct ServerCertificate {
    pub der: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

/// A self-signed certificate shaped like go-plugin's: the client trusts
/// exactly this certificate, for the name `localhost`, issued to
/// `organisation` (the plugin binary's name).
pub fn generate_server_certificate(organisation: &str) -> Result<ServerCertificate, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params
        .distinguished_name
        .push(DnType::OrganizationName, organisation);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = std::time::SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(30)).into();
    params.not_after = (now + std::time::Duration::from_secs(30 * 365 * 24 * 3600)).into();
    let cert = params.self_signed(&key)?;
    Ok(ServerCertificate {
        der: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()),
    })
}

pub fn parse_client_certificate(pem: &str) -> Result<CertificateDer<'static>, TlsError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| TlsError::BadClientCert(e.to_string()))
}

pub fn server_config(
    server: &ServerCertificate,
    client: CertificateDer<'static>,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedClientCertificate {
        expected: client,
        provider: provider.clone(),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![server.der.clone()],
            PrivateKeyDer::Pkcs8(server.key.clone_key()),
        )?;
    // gRPC clients insist on negotiating HTTP/2 through ALPN.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Accepts one client certificate, byte for byte. go-plugin's client
/// certificate is its own CA, which WebPKI path validation refuses as an end
/// entity; pinning is both simpler and stricter.
#[derive(Debug)]
struct PinnedClientCertificate {
    expected: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for PinnedClientCertificate {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::warn!(
                "refused a TLS client whose certificate is not the one Terraform announced"
            );
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if dss.scheme == SignatureScheme::ECDSA_NISTP521_SHA512 {
            return verify_p521(message, cert, dss);
        }
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if dss.scheme == SignatureScheme::ECDSA_NISTP521_SHA512 {
            return verify_p521(message, cert, dss);
        }
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let mut schemes = self
            .provider
            .signature_verification_algorithms
            .supported_schemes();
        schemes.push(SignatureScheme::ECDSA_NISTP521_SHA512);
        schemes
    }
}

/// go-plugin's client key is ECDSA P-521, which ring cannot verify; the
/// RustCrypto implementation checks those handshake signatures.
fn verify_p521(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    use p521::ecdsa::signature::Verifier as _;
    let bad = |what: &str| rustls::Error::General(format!("P-521 client signature: {what}"));
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| bad("unreadable certificate"))?;
    let point = &parsed.public_key().subject_public_key.data;
    let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(point)
        .map_err(|_| bad("the certificate key is not a P-521 key"))?;
    let signature = p521::ecdsa::DerSignature::try_from(dss.signature())
        .map_err(|_| bad("malformed signature"))?;
    key.verify(message, &signature)
        .map(|_| HandshakeSignatureValid::assertion())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadSignature))
}
