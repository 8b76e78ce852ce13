//! The control plane's certificates under `/var/lib/k0s/pki`: which files k0s v1.29 writes there,
//! the command that prints them all in one round trip, the parsing of its output, and what renews
//! each certificate.
//!
//! Facts from k0s v1.29.3 (`cmd/controller/certificates.go`, `pkg/component/controller/etcd.go`,
//! `pkg/certificate/manager.go`):
//! - CAs (`ca`, `front-proxy-ca`, `etcd/ca`) are valid for 87600h (10 years) and are created only
//!   when their `.crt` or `.key` is missing: k0s never renews a CA.
//! - Every other certificate is signed with the default signing profile, valid for one year
//!   (8760h), and is issued anew each time the controller starts, whatever its expiry, as long
//!   as its issuer is one of k0s's own CAs (`kubernetes-ca`, `kubernetes-front-proxy-ca`,
//!   `etcd-ca`). A certificate from another issuer (one brought by the user) is left alone.
//!
//! Only `*.crt` files are read, never keys.

use std::collections::BTreeSet;

use crate::cli::K0S_DATA_DIR;

/// Where k0s keeps its certificates (`CertRootDir`).
pub fn pki_dir() -> String {
    format!("{K0S_DATA_DIR}/pki")
}

/// The issuers whose certificates k0s re-issues at every controller start.
pub const K0S_CA_NAMES: [&str; 3] = ["kubernetes-ca", "kubernetes-front-proxy-ca", "etcd-ca"];

/// A certificate k0s v1.29 writes under `pki/` on a controller (with etcd storage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownCertificate {
    /// Relative to the pki directory.
    pub file: &'static str,
    /// The subject CN k0s gives it (`etcd/peer.crt` carries the peer address instead).
    pub common_name: &'static str,
    pub is_ca: bool,
}

const fn known(file: &'static str, common_name: &'static str, is_ca: bool) -> KnownCertificate {
    KnownCertificate {
        file,
        common_name,
        is_ca,
    }
}

/// The control plane's certificates, as k0s v1.29.3 names them.
pub const CONTROL_PLANE_CERTIFICATES: [KnownCertificate; 14] = [
    known("ca.crt", "kubernetes-ca", true),
    known("front-proxy-ca.crt", "kubernetes-front-proxy-ca", true),
    known("etcd/ca.crt", "etcd-ca", true),
    known("front-proxy-client.crt", "front-proxy-client", false),
    known("admin.crt", "kubernetes-admin", false),
    known("konnectivity.crt", "kubernetes-konnectivity", false),
    known("ccm.crt", "system:kube-controller-manager", false),
    known("scheduler.crt", "system:kube-scheduler", false),
    known(
        "apiserver-kubelet-client.crt",
        "apiserver-kubelet-client",
        false,
    ),
    known("server.crt", "kubernetes", false),
    known("k0s-api.crt", "k0s-api", false),
    known("apiserver-etcd-client.crt", "apiserver-etcd-client", false),
    known("etcd/server.crt", "etcd-server", false),
    known("etcd/peer.crt", "<peer address>", false),
];

/// Starts each file's part of [`read_certificates_command`]'s output; the path follows.
pub const FILE_HEADER: &str = "=====mke-crt:";

/// Prints every `*.crt` file in the pki directory and its `etcd/` subdirectory, each after a
/// [`FILE_HEADER`] line naming it. Prints nothing when there is none (a worker); never fails.
pub fn read_certificates_command() -> String {
    let dir = pki_dir();
    format!(
        "for f in {dir}/*.crt {dir}/etcd/*.crt; do [ -f \"$f\" ] || continue; \
         echo \"{FILE_HEADER}$f\"; cat \"$f\"; echo; done; true"
    )
}

/// What one certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    pub path: String,
    /// Subject CN, empty when it has none.
    pub common_name: String,
    /// Issuer CN, empty when it has none.
    pub issuer: String,
    pub is_ca: bool,
    /// `notAfter`, in seconds since the epoch.
    pub not_after: i64,
}

/// What renews a certificate, by k0s v1.29's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Issued anew each time the k0s controller starts on the host.
    ControllerRestart,
    /// A CA: k0s never renews it.
    NeverByK0s,
    /// Not issued by a k0s CA: k0s leaves it alone.
    NotManagedByK0s,
}

impl CertificateFacts {
    pub fn renewal(&self) -> Renewal {
        if self.is_ca {
            Renewal::NeverByK0s
        } else if K0S_CA_NAMES.contains(&self.issuer.as_str()) {
            Renewal::ControllerRestart
        } else {
            Renewal::NotManagedByK0s
        }
    }
}

impl Renewal {
    /// What renews it, in a sentence.
    pub fn explain(self) -> &'static str {
        match self {
            Renewal::ControllerRestart => {
                "k0s issues this certificate anew each time the k0s controller starts on that \
                 host (k0s v1.29 re-issues every certificate signed by its own CAs at start, \
                 whatever its expiry): restart k0s there (`systemctl restart k0scontroller`) \
                 before that date."
            }
            Renewal::NeverByK0s => {
                "It is a CA, and k0s never renews a CA (it creates one only when the file or its \
                 key is missing): replacing it means rotating the CA and every certificate and \
                 kubeconfig signed by it, on every controller and worker."
            }
            Renewal::NotManagedByK0s => {
                "Its issuer is none of k0s's CAs (kubernetes-ca, kubernetes-front-proxy-ca, \
                 etcd-ca), so k0s leaves it as it is: renew it where it came from."
            }
        }
    }
}

/// A file that is not a readable certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub path: String,
    pub reason: String,
}

/// Everything [`read_certificates_command`] printed, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateReport {
    pub certificates: Vec<CertificateFacts>,
    pub unreadable: Vec<Unreadable>,
}

impl CertificateReport {
    /// The certificate that expires first.
    pub fn earliest_expiry(&self) -> Option<&CertificateFacts> {
        earliest_expiry(&self.certificates)
    }

    /// The certificates whose `notAfter` is before `now + days`, earliest first.
    pub fn expiring_within(&self, now: i64, days: u64) -> Vec<&CertificateFacts> {
        let horizon = now.saturating_add((days as i64).saturating_mul(86_400));
        let mut found: Vec<&CertificateFacts> = self
            .certificates
            .iter()
            .filter(|c| c.not_after < horizon)
            .collect();
        found.sort_by_key(|c| c.not_after);
        found
    }
}

/// The certificate that expires first.
pub fn earliest_expiry(certificates: &[CertificateFacts]) -> Option<&CertificateFacts> {
    certificates.iter().min_by_key(|c| c.not_after)
}

/// Splits [`read_certificates_command`]'s output by file and parses every PEM certificate in each.
pub fn parse_certificates(output: &str) -> CertificateReport {
    let mut report = CertificateReport::default();
    let mut seen = BTreeSet::new();
    let mut files: Vec<(String, String)> = Vec::new();
    for line in output.lines() {
        if let Some(path) = line.strip_prefix(FILE_HEADER) {
            files.push((path.to_string(), String::new()));
        } else if let Some((_, text)) = files.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    for (path, text) in files {
        if !seen.insert(path.clone()) {
            continue;
        }
        match parse_pem_file(&path, text.as_bytes()) {
            Ok(certs) => report.certificates.extend(certs),
            Err(reason) => report.unreadable.push(Unreadable { path, reason }),
        }
    }
    report
}

/// Every certificate in one PEM file.
pub fn parse_pem_file(path: &str, pem: &[u8]) -> Result<Vec<CertificateFacts>, String> {
    use x509_parser::pem::Pem;
    let mut out = Vec::new();
    for block in Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| format!("not PEM: {e}"))?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        let cert = block
            .parse_x509()
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let cn = |name: &x509_parser::x509::X509Name<'_>| {
            name.iter_common_name()
                .next()
                .and_then(|a| a.as_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        out.push(CertificateFacts {
            path: path.to_string(),
            common_name: cn(cert.subject()),
            issuer: cn(cert.issuer()),
            is_ca: cert.is_ca(),
            not_after: cert.validity().not_after.timestamp(),
        });
    }
    if out.is_empty() {
        return Err("no certificate in it".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256,
    };

    struct Ca {
        params: CertificateParams,
        key: KeyPair,
        pem: String,
    }

    fn params(cn: &str, not_after: (i32, u8, u8)) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.not_before = rcgen::date_time_ymd(2024, 1, 1);
        p.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        p
    }

    fn ca(cn: &str) -> Ca {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = params(cn, (2034, 1, 1));
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let pem = p.self_signed(&key).unwrap().pem();
        Ca {
            params: p,
            key,
            pem,
        }
    }

    fn leaf(ca: &Ca, cn: &str, not_after: (i32, u8, u8)) -> String {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let issuer = Issuer::from_params(&ca.params, &ca.key);
        params(cn, not_after)
            .signed_by(&key, &issuer)
            .unwrap()
            .pem()
    }

    fn output(files: &[(&str, &str)]) -> String {
        files
            .iter()
            .map(|(path, pem)| format!("{FILE_HEADER}{path}\n{pem}\n"))
            .collect()
    }

    const JAN_2025: i64 = 1_735_689_600;

    #[test]
    fn every_file_gives_its_cn_and_expiry_and_the_earliest_is_found() {
        let kube = ca("kubernetes-ca");
        let etcd = ca("etcd-ca");
        let out = output(&[
            ("/var/lib/k0s/pki/ca.crt", &kube.pem),
            (
                "/var/lib/k0s/pki/server.crt",
                &leaf(&kube, "kubernetes", (2025, 3, 1)),
            ),
            (
                "/var/lib/k0s/pki/etcd/peer.crt",
                &leaf(&etcd, "10.0.0.11", (2025, 1, 20)),
            ),
        ]);
        let report = parse_certificates(&out);
        assert!(report.unreadable.is_empty(), "{:?}", report.unreadable);
        let seen: Vec<(&str, &str, bool)> = report
            .certificates
            .iter()
            .map(|c| (c.path.as_str(), c.common_name.as_str(), c.is_ca))
            .collect();
        assert_eq!(
            seen,
            [
                ("/var/lib/k0s/pki/ca.crt", "kubernetes-ca", true),
                ("/var/lib/k0s/pki/server.crt", "kubernetes", false),
                ("/var/lib/k0s/pki/etcd/peer.crt", "10.0.0.11", false),
            ]
        );
        let first = report.earliest_expiry().unwrap();
        assert_eq!(first.path, "/var/lib/k0s/pki/etcd/peer.crt");
        assert_eq!(
            crate::kube::parse_rfc3339("2025-01-20T00:00:00Z"),
            Some(first.not_after)
        );
        let soon: Vec<&str> = report
            .expiring_within(JAN_2025, 30)
            .iter()
            .map(|c| c.path.as_str())
            .collect();
        assert_eq!(soon, ["/var/lib/k0s/pki/etcd/peer.crt"]);
        assert!(report.expiring_within(JAN_2025, 0).is_empty());
    }

    #[test]
    fn what_renews_a_certificate_follows_its_issuer() {
        let kube = ca("kubernetes-ca");
        let mine = ca("corp-root");
        let out = output(&[
            ("/var/lib/k0s/pki/ca.crt", &kube.pem),
            (
                "/var/lib/k0s/pki/admin.crt",
                &leaf(&kube, "kubernetes-admin", (2025, 1, 2)),
            ),
            (
                "/var/lib/k0s/pki/server.crt",
                &leaf(&mine, "kubernetes", (2025, 1, 2)),
            ),
        ]);
        let renewals: Vec<Renewal> = parse_certificates(&out)
            .certificates
            .iter()
            .map(CertificateFacts::renewal)
            .collect();
        assert_eq!(
            renewals,
            [
                Renewal::NeverByK0s,
                Renewal::ControllerRestart,
                Renewal::NotManagedByK0s
            ]
        );
        assert!(Renewal::ControllerRestart
            .explain()
            .contains("systemctl restart k0scontroller"));
    }

    #[test]
    fn a_broken_file_is_reported_and_the_others_still_count() {
        let kube = ca("kubernetes-ca");
        let out = output(&[
            ("/var/lib/k0s/pki/ca.crt", &kube.pem),
            (
                "/var/lib/k0s/pki/odd.crt",
                "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----",
            ),
            ("/var/lib/k0s/pki/empty.crt", ""),
        ]);
        let report = parse_certificates(&out);
        assert_eq!(report.certificates.len(), 1);
        let bad: Vec<&str> = report.unreadable.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(
            bad,
            ["/var/lib/k0s/pki/odd.crt", "/var/lib/k0s/pki/empty.crt"]
        );
        assert!(parse_certificates("").certificates.is_empty());
    }

    #[test]
    fn the_command_reads_certificates_only_and_never_fails() {
        let command = read_certificates_command();
        assert_eq!(
            command,
            "for f in /var/lib/k0s/pki/*.crt /var/lib/k0s/pki/etcd/*.crt; do [ -f \"$f\" ] || \
             continue; echo \"=====mke-crt:$f\"; cat \"$f\"; echo; done; true"
        );
        assert!(!command.contains(".key"));
    }

    #[test]
    fn the_known_files_are_the_cas_and_the_leaves_k0s_writes() {
        let cas: Vec<&str> = CONTROL_PLANE_CERTIFICATES
            .iter()
            .filter(|c| c.is_ca)
            .map(|c| c.common_name)
            .collect();
        assert_eq!(cas, K0S_CA_NAMES);
        assert!(CONTROL_PLANE_CERTIFICATES
            .iter()
            .all(|c| c.file.ends_with(".crt")));
    }
}
