//! Parsing what k0s prints and writes: status, version, join tokens, kubeconfigs, etcd members,
//! the systemd unit, plus where to download k0s from.

use crate::model::Role;
use base64::Engine as _;
use serde_yaml_ng::Value;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read as _;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("cannot parse {what}: {message}")]
    Malformed { what: &'static str, message: String },
    #[error("unknown k0s role {0:?}")]
    UnknownRole(String),
}

fn malformed(what: &'static str, message: impl fmt::Display) -> ParseError {
    ParseError::Malformed {
        what,
        message: message.to_string(),
    }
}

/// What `k0s status -o json` says about the running k0s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K0sStatus {
    pub version: String,
    pub pid: u32,
    pub role: Role,
    pub workloads: bool,
    pub single_node: bool,
    /// The command line k0s runs with, binary first.
    pub args: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StatusJson {
    version: String,
    pid: u32,
    role: String,
    #[serde(default)]
    workloads: bool,
    #[serde(default)]
    single_node: bool,
    #[serde(default)]
    args: Option<Vec<String>>,
}

pub fn parse_status_json(text: &str) -> Result<K0sStatus, ParseError> {
    let status: StatusJson =
        serde_json::from_str(text).map_err(|error| malformed("k0s status", error))?;
    // Older k0s releases reported a controller with workloads as "controller+worker".
    let role = match status.role.as_str() {
        "controller" | "controller+worker" => Role::Controller,
        "worker" => Role::Worker,
        other => return Err(ParseError::UnknownRole(other.to_owned())),
    };
    Ok(K0sStatus {
        version: status.version,
        pid: status.pid,
        role,
        workloads: status.workloads,
        single_node: status.single_node,
        args: status.args.unwrap_or_default(),
    })
}

/// A k0s release, `vX.Y.Z[-pre]+k0s.N`, ordered by semver and then by the k0s build number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct K0sVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// `rc.0` in `v1.29.3-rc.0+k0s.0`.
    pub pre_release: Option<String>,
    pub build: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid k0s version {input:?}: expected the form vX.Y.Z+k0s.N, like v1.29.3+k0s.0")]
pub struct VersionError {
    pub input: String,
}

impl K0sVersion {
    /// The Kubernetes release it ships, `X.Y.Z`.
    pub fn kubernetes_version(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl fmt::Display for K0sVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(pre) = &self.pre_release {
            write!(f, "-{pre}")?;
        }
        write!(f, "+k0s.{}", self.build)
    }
}

impl std::str::FromStr for K0sVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_k0s_version(s)
    }
}

impl Ord for K0sVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (&self.pre_release, &other.pre_release) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => compare_pre_release(a, b),
            })
            .then_with(|| self.build.cmp(&other.build))
    }
}

impl PartialOrd for K0sVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Semver precedence: numeric identifiers compare as numbers and sort before alphanumeric ones.
fn compare_pre_release(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// Reads a k0s release version, `vX.Y.Z+k0s.N` with an optional pre-release (`-rc.0`).
pub fn parse_k0s_version(text: &str) -> Result<K0sVersion, VersionError> {
    let error = || VersionError {
        input: text.to_owned(),
    };
    let number = |part: &str| -> Result<u64, VersionError> {
        let canonical = !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'));
        if canonical {
            part.parse().map_err(|_| error())
        } else {
            Err(error())
        }
    };
    let rest = text.strip_prefix('v').ok_or_else(error)?;
    let (core, build) = rest.split_once('+').ok_or_else(error)?;
    let build = number(build.strip_prefix("k0s.").ok_or_else(error)?)?;
    let (core, pre_release) = match core.split_once('-') {
        Some((core, pre)) => {
            let valid = pre.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
            if !valid {
                return Err(error());
            }
            (core, Some(pre.to_owned()))
        }
        None => (core, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let [major, minor, patch] = parts.as_slice() else {
        return Err(error());
    };
    Ok(K0sVersion {
        major: number(major)?,
        minor: number(minor)?,
        patch: number(patch)?,
        pre_release,
        build,
    })
}

/// The output of `k0s version`.
pub fn parse_version(output: &str) -> Result<K0sVersion, VersionError> {
    parse_k0s_version(output.trim())
}

/// The parts of a kubeconfig the provider uses. The token is reachable through [`Kubeconfig::token`]
/// but never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Kubeconfig {
    /// The server of the current context's cluster.
    pub server: String,
    /// The cluster CA, PEM.
    pub ca_certificate: String,
    /// The current context's user.
    pub user: String,
    token: Option<String>,
}

impl Kubeconfig {
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

impl fmt::Debug for Kubeconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kubeconfig")
            .field("server", &self.server)
            .field("ca_certificate", &self.ca_certificate)
            .field("user", &self.user)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn named<'a>(document: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
    document[list]
        .as_sequence()?
        .iter()
        .find(|entry| entry["name"].as_str() == Some(name))
}

/// Reads a kubeconfig such as `k0s kubeconfig admin` prints or a join token holds.
pub fn parse_kubeconfig(text: &str) -> Result<Kubeconfig, ParseError> {
    const WHAT: &str = "kubeconfig";
    let document: Value = serde_yaml_ng::from_str(text).map_err(|error| malformed(WHAT, error))?;
    let context_name = document["current-context"]
        .as_str()
        .ok_or_else(|| malformed(WHAT, "no current-context"))?;
    let context = named(&document, "contexts", context_name)
        .ok_or_else(|| malformed(WHAT, format!("no context named {context_name:?}")))?;
    let cluster_name = context["context"]["cluster"].as_str().unwrap_or_default();
    let user = context["context"]["user"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let cluster = named(&document, "clusters", cluster_name)
        .ok_or_else(|| malformed(WHAT, format!("no cluster named {cluster_name:?}")))?;
    let server = cluster["cluster"]["server"]
        .as_str()
        .ok_or_else(|| malformed(WHAT, "the cluster has no server"))?;
    let ca_data = cluster["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap_or_default();
    let ca_certificate = base64::engine::general_purpose::STANDARD
        .decode(ca_data.trim())
        .map_err(|error| malformed(WHAT, format!("certificate-authority-data: {error}")))
        .and_then(|bytes| {
            String::from_utf8(bytes)
                .map_err(|_| malformed(WHAT, "certificate-authority-data is not PEM"))
        })?;
    let token = named(&document, "users", &user)
        .and_then(|entry| entry["user"]["token"].as_str())
        .map(str::to_owned);
    Ok(Kubeconfig {
        server: server.to_owned(),
        ca_certificate,
        user,
        token,
    })
}

/// The same kubeconfig with every cluster's server replaced, e.g. by the API endpoint the users
/// reach (k0s writes its own `api.address`, the private one when set).
pub fn kubeconfig_with_server(text: &str, server: &str) -> Result<String, ParseError> {
    let mut document: Value =
        serde_yaml_ng::from_str(text).map_err(|error| malformed("kubeconfig", error))?;
    let clusters = document["clusters"]
        .as_sequence_mut()
        .ok_or_else(|| malformed("kubeconfig", "no clusters"))?;
    for cluster in clusters {
        if let Some(settings) = cluster.get_mut("cluster").and_then(Value::as_mapping_mut) {
            settings.insert("server".into(), server.into());
        }
    }
    Ok(crate::yaml::emit(&document))
}

/// The output of `k0s token create`: what to put in the token file, and what it says.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// The bootstrap token ID, the part of `<id>.<secret>` before the dot: `k0s token invalidate` takes it.
    pub id: String,
    pub role: Role,
    /// The URL the joining host calls (`:6443` for workers, `:9443` for controllers).
    pub server: String,
    /// The cluster CA, PEM.
    pub ca_certificate: String,
    /// The whole token as k0s printed it, for the token file. Secret.
    pub raw: String,
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("server", &self.server)
            .field("raw", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} join token {} for {}",
            self.role, self.id, self.server
        )
    }
}

/// Decodes the base64 of a gzipped kubeconfig that `k0s token create` prints.
pub fn parse_token_create(output: &str) -> Result<JoinToken, ParseError> {
    const WHAT: &str = "join token";
    let raw = output.trim();
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|error| malformed(WHAT, format!("not base64: {error}")))?;
    let mut kubeconfig = String::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .read_to_string(&mut kubeconfig)
        .map_err(|error| malformed(WHAT, format!("not a gzipped kubeconfig: {error}")))?;
    let parsed = parse_kubeconfig(&kubeconfig)?;
    let role = match parsed.user.as_str() {
        "kubelet-bootstrap" => Role::Worker,
        "controller-bootstrap" => Role::Controller,
        other => return Err(malformed(WHAT, format!("unexpected user {other:?}"))),
    };
    let token = parsed
        .token()
        .ok_or_else(|| malformed(WHAT, "the kubeconfig has no token"))?;
    let (id, secret) = token
        .split_once('.')
        .ok_or_else(|| malformed(WHAT, "the token is not <id>.<secret>"))?;
    let well_formed = |part: &str, length: usize| {
        part.len() == length
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if !well_formed(id, 6) || !well_formed(secret, 16) {
        return Err(malformed(
            WHAT,
            "the token is not <id>.<secret> of 6 and 16 characters [a-z0-9]",
        ));
    }
    Ok(JoinToken {
        id: id.to_owned(),
        role,
        server: parsed.server,
        ca_certificate: parsed.ca_certificate,
        raw: raw.to_owned(),
    })
}

/// `k0s etcd member-list`: member name (the host name) to peer URL.
pub fn parse_member_list(output: &str) -> Result<BTreeMap<String, String>, ParseError> {
    #[derive(serde::Deserialize)]
    struct MemberList {
        members: BTreeMap<String, String>,
    }
    let list: MemberList = serde_json::from_str(output.trim())
        .map_err(|error| malformed("etcd member list", error))?;
    Ok(list.members)
}

/// The host of a peer URL: `10.0.0.1` for `https://10.0.0.1:2380`, `fd00::1` for
/// `https://[fd00::1]:2380`; what `k0s etcd leave --peer-address` takes.
pub fn peer_host(url: &str) -> String {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = without_scheme.split('/').next().unwrap_or_default();
    if let Some(bracketed) = authority.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or_default().to_owned();
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
        .to_owned()
}

/// What the systemd unit that `k0s install` wrote says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledUnit {
    pub role: Role,
    /// The binary the unit runs.
    pub binary: String,
    /// The words after the role, as k0s wrote them (`--name=value`).
    pub args: Vec<String>,
    /// Flag name (without dashes) to value; `true` for a flag given without a value.
    pub flags: BTreeMap<String, String>,
}

impl InstalledUnit {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.get(name).map(String::as_str)
    }

    fn flag_is_true(&self, name: &str) -> bool {
        self.flag(name) == Some("true")
    }

    /// Whether the host runs pods: every worker, and a controller with `--enable-worker` or `--single`.
    pub fn workloads(&self) -> bool {
        self.role == Role::Worker
            || self.flag_is_true("enable-worker")
            || self.flag_is_true("single")
    }

    pub fn no_taints(&self) -> bool {
        self.flag_is_true("no-taints")
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        self.flag("labels")
            .map(split_csv)
            .unwrap_or_default()
            .into_iter()
            .map(|label| match label.split_once('=') {
                Some((key, value)) => (key.to_owned(), value.to_owned()),
                None => (label, String::new()),
            })
            .collect()
    }

    pub fn taints(&self) -> Vec<String> {
        self.flag("taints").map(split_csv).unwrap_or_default()
    }

    pub fn token_file(&self) -> Option<&str> {
        self.flag("token-file")
    }

    pub fn config(&self) -> Option<&str> {
        self.flag("config")
    }

    pub fn kubelet_extra_args(&self) -> Option<&str> {
        self.flag("kubelet-extra-args")
    }
}

/// Reads the `ExecStart=` line of a k0s unit file. k0s writes each flag as `--name=value` with
/// spaces escaped as `\x20`; systemd's quoting and escapes are honoured in general.
pub fn parse_unit_exec_start(unit_file: &str) -> Option<InstalledUnit> {
    let line = unit_file
        .lines()
        .map(str::trim_start)
        .find_map(|line| line.strip_prefix("ExecStart="))?;
    // systemd allows prefixes that change how the command runs, e.g. `-` to ignore failure.
    let command = line.trim_start_matches(['-', '@', ':', '+', '!']);
    let words = split_systemd_words(command)?;
    let (binary, rest) = words.split_first()?;
    let (role, args) = rest.split_first()?;
    let role = match role.as_str() {
        "controller" | "server" => Role::Controller,
        "worker" => Role::Worker,
        _ => return None,
    };
    let flags = args
        .iter()
        .filter_map(|arg| arg.strip_prefix("--"))
        .map(|flag| match flag.split_once('=') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => (flag.to_owned(), "true".to_owned()),
        })
        .collect();
    Some(InstalledUnit {
        role,
        binary: binary.clone(),
        args: args.to_vec(),
        flags,
    })
}

/// systemd's command-line splitting: whitespace separates words, quotes group them, and C-style
/// escapes (`\x20`, `\s`, `\\`, `\"`, …) stand for characters. `None` for unbalanced quotes.
fn split_systemd_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else { break };
        let quote = matches!(first, '"' | '\'').then(|| {
            chars.next();
            first
        });
        let mut word = String::new();
        loop {
            match chars.next() {
                None if quote.is_some() => return None,
                None => break,
                Some(c) if Some(c) == quote => break,
                Some(c) if quote.is_none() && c.is_whitespace() => break,
                Some('\\') => {
                    let escaped = chars.next()?;
                    match escaped {
                        'x' => {
                            let hex: String = [chars.next()?, chars.next()?].iter().collect();
                            word.push(char::from(u8::from_str_radix(&hex, 16).ok()?));
                        }
                        's' => word.push(' '),
                        'n' => word.push('\n'),
                        't' => word.push('\t'),
                        'r' => word.push('\r'),
                        'a' => word.push('\u{7}'),
                        'b' => word.push('\u{8}'),
                        'f' => word.push('\u{c}'),
                        'v' => word.push('\u{b}'),
                        '0'..='7' => {
                            let octal: String =
                                [escaped, chars.next()?, chars.next()?].iter().collect();
                            word.push(char::from(u8::from_str_radix(&octal, 8).ok()?));
                        }
                        other => word.push(other),
                    }
                }
                Some(c) => word.push(c),
            }
        }
        words.push(word);
    }
    Some(words)
}

/// pflag writes a string slice as one CSV record.
fn split_csv(record: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = record.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if quoted || field.is_empty() => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    if !record.is_empty() {
        fields.push(field);
    }
    fields
}

/// Where k0s releases are published; `{version}` and `{arch}` are replaced.
pub const DEFAULT_DOWNLOAD_URL: &str =
    "https://github.com/k0sproject/k0s/releases/download/{version}/k0s-{version}-{arch}";

/// The k0s release architecture for `uname -m`, or `None` where k0s publishes no binary.
pub fn download_arch(uname_m: &str) -> Option<&'static str> {
    match uname_m.trim() {
        "x86_64" | "amd64" => Some("amd64"),
        "aarch64" | "arm64" => Some("arm64"),
        "armv7l" | "armv7" => Some("arm"),
        _ => None,
    }
}

pub fn download_url(template: &str, version: &str, arch: &str) -> String {
    template
        .replace("{version}", version)
        .replace("{arch}", arch)
}

/// How a k0s download URL reaches the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlScheme {
    Https,
    /// Plain text: only when the user opted in.
    Http,
    /// A file already on the host.
    File,
}

impl UrlScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            UrlScheme::Https => "https",
            UrlScheme::Http => "http",
            UrlScheme::File => "file",
        }
    }
}

/// Why a k0s download URL (template) is refused. The messages never quote the URL: it may carry
/// credentials. Positions count characters from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadUrlError {
    #[error(
        "it has no scheme: write it as `https://host/path` (or `file:///path` for a file on the \
         host)"
    )]
    NoScheme,
    #[error(
        "it uses plain `http://`, so anyone on the network path can read the credentials it \
         carries or swap the binary; use `https://`"
    )]
    PlainHttp,
    #[error(
        "the scheme `{0}://` is not supported: use `https://`, or `file://` for a file on the host"
    )]
    UnsupportedScheme(String),
    #[error("it names no host after `{0}://`")]
    NoHost(&'static str),
    #[error("a `file://` URL names a file on the host itself (`file:///path`), not on {0:?}")]
    FileOnOtherHost(String),
    #[error("a `file://` URL cannot carry credentials (`user@`) or a query (`?…`)")]
    FileWithCredentials,
    #[error("it names no file: write `file:///path/to/k0s`")]
    FileWithoutPath,
    #[error("`{{{0}}}` is not a placeholder: only `{{version}}` and `{{arch}}` are replaced")]
    UnknownPlaceholder(String),
    #[error(
        "the character {character:?} at position {position} cannot appear in a URL as is; \
         percent-encode it (a space is `%20`)"
    )]
    InvalidCharacter { character: char, position: usize },
}

/// What replaces credentials when a URL is shown.
pub const REDACTED: &str = "***";

/// A URL split into the parts that matter here. Borrowed from a string already checked by
/// [`check_url_text`], so `://` is present.
#[derive(Debug, Clone, Copy)]
struct UrlParts<'a> {
    scheme: &'a str,
    userinfo: Option<&'a str>,
    host: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    fn split(url: &'a str) -> Option<UrlParts<'a>> {
        let (scheme, rest) = url.split_once("://")?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(authority_end);
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (Some(userinfo), host),
            None => (None, authority),
        };
        let (rest, fragment) = match rest.split_once('#') {
            Some((rest, fragment)) => (rest, Some(fragment)),
            None => (rest, None),
        };
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        Some(UrlParts {
            scheme,
            userinfo,
            host,
            path,
            query: query.filter(|q| !q.is_empty()),
            fragment,
        })
    }

    fn has_credentials(&self) -> bool {
        self.userinfo.is_some() || self.query.is_some()
    }

    /// The URL with its userinfo and query replaced by [`REDACTED`].
    fn redacted(&self) -> String {
        let mut shown = format!("{}://", self.scheme);
        if self.userinfo.is_some() {
            shown.push_str(REDACTED);
            shown.push('@');
        }
        shown.push_str(self.host);
        shown.push_str(self.path);
        if self.query.is_some() {
            shown.push('?');
            shown.push_str(REDACTED);
        }
        if let Some(fragment) = self.fragment {
            shown.push('#');
            shown.push_str(fragment);
        }
        shown
    }

    /// The secret pieces as they may appear in a text, raw and percent-decoded, longest first:
    /// the whole userinfo and query, and each user name, password and query value of at least
    /// [`MIN_SECRET_PIECE`] characters (a shorter one is no credential, and scrubbing it
    /// everywhere would garble the text).
    fn secrets(&self) -> Vec<String> {
        let mut whole: Vec<&str> = Vec::new();
        let mut pieces: Vec<&str> = Vec::new();
        if let Some(userinfo) = self.userinfo {
            whole.push(userinfo);
            match userinfo.split_once(':') {
                Some((user, password)) => pieces.extend([user, password]),
                None => pieces.push(userinfo),
            }
        }
        if let Some(query) = self.query {
            whole.push(query);
            for pair in query.split('&') {
                pieces.push(pair.split_once('=').map_or(pair, |(_, value)| value));
            }
        }
        let pieces = pieces
            .into_iter()
            .filter(|p| p.chars().count() >= MIN_SECRET_PIECE);
        let mut secrets: Vec<String> = Vec::new();
        for piece in whole.into_iter().chain(pieces).filter(|p| !p.is_empty()) {
            secrets.push(piece.to_string());
            secrets.push(percent_decode(piece));
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        secrets
    }
}

/// The shortest user name, password or query value scrubbed from texts on its own.
const MIN_SECRET_PIECE: usize = 4;

/// Characters a URL may hold unencoded (RFC 3986's unreserved and reserved sets, and `%`).
fn is_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

/// Checks the characters of a template: URL characters, and braces only around `{version}` and
/// `{arch}`.
fn check_url_text(template: &str) -> Result<(), DownloadUrlError> {
    let mut chars = template.char_indices().peekable();
    while let Some((position, c)) = chars.next() {
        if c == '{' {
            let rest = &template[position + 1..];
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let (name, after) = rest.split_at(name_len);
            if !name.is_empty() && after.starts_with('}') {
                if name != "version" && name != "arch" {
                    return Err(DownloadUrlError::UnknownPlaceholder(name.to_string()));
                }
                // Skip the name and the closing brace.
                for _ in 0..=name_len {
                    chars.next();
                }
                continue;
            }
        }
        if !is_url_char(c) {
            return Err(DownloadUrlError::InvalidCharacter {
                character: c,
                position: template[..position].chars().count() + 1,
            });
        }
    }
    Ok(())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with the userinfo and the query of every `scheme://` URL in it replaced by
/// [`REDACTED`]; a URL ends at whitespace or a quote.
fn redact_urls(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        shown.push_str(&rest[..start + 3]);
        rest = &rest[start + 3..];
        let end = rest
            .find(|c: char| c.is_whitespace() || "\"'<>`".contains(c))
            .unwrap_or(rest.len());
        let (url, after) = rest.split_at(end);
        let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
        let (authority, tail) = url.split_at(authority_end);
        match authority.rfind('@') {
            Some(at) => {
                shown.push_str(REDACTED);
                shown.push_str(&authority[at..]);
            }
            None => shown.push_str(authority),
        }
        match tail.find('?') {
            Some(query) => {
                shown.push_str(&tail[..=query]);
                shown.push_str(REDACTED);
                if let Some(fragment) = tail[query..].find('#') {
                    shown.push_str(&tail[query + fragment..]);
                }
            }
            None => shown.push_str(tail),
        }
        rest = after;
    }
    shown.push_str(rest);
    shown
}

/// Where hosts download k0s from, as configured: `{version}` and `{arch}` are replaced per host
/// ([`render`](DownloadTemplate::render)). Only `https://` and `file://` (a file on the host)
/// are accepted, and `http://` when the user allows it. Userinfo (`user:password@`) and a query
/// are credentials: `Debug` and `Display` show them as [`REDACTED`].
#[derive(Clone, PartialEq, Eq)]
pub struct DownloadTemplate {
    text: String,
    scheme: UrlScheme,
}

impl DownloadTemplate {
    pub fn parse(template: &str, allow_http: bool) -> Result<DownloadTemplate, DownloadUrlError> {
        check_url_text(template)?;
        let parts = UrlParts::split(template).ok_or(DownloadUrlError::NoScheme)?;
        let valid_scheme = parts.scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && parts
                .scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !valid_scheme {
            return Err(DownloadUrlError::NoScheme);
        }
        let scheme = match parts.scheme.to_ascii_lowercase().as_str() {
            "https" => UrlScheme::Https,
            "http" if allow_http => UrlScheme::Http,
            "http" => return Err(DownloadUrlError::PlainHttp),
            "file" => UrlScheme::File,
            other => return Err(DownloadUrlError::UnsupportedScheme(other.to_string())),
        };
        match scheme {
            UrlScheme::File => {
                if parts.userinfo.is_some() || parts.query.is_some() {
                    return Err(DownloadUrlError::FileWithCredentials);
                }
                if !parts.host.is_empty() && !parts.host.eq_ignore_ascii_case("localhost") {
                    return Err(DownloadUrlError::FileOnOtherHost(parts.host.to_string()));
                }
                if parts.path.len() < 2 {
                    return Err(DownloadUrlError::FileWithoutPath);
                }
            }
            UrlScheme::Https | UrlScheme::Http => {
                if parts.host.is_empty() {
                    return Err(DownloadUrlError::NoHost(scheme.as_str()));
                }
            }
        }
        Ok(DownloadTemplate {
            text: template.to_string(),
            scheme,
        })
    }

    pub fn scheme(&self) -> UrlScheme {
        self.scheme
    }

    /// Whether it carries userinfo or a query, which are treated as credentials.
    pub fn has_credentials(&self) -> bool {
        self.parts().has_credentials()
    }

    /// The URL of `version` for `arch` (k0s's naming, see [`download_arch`]).
    pub fn render(&self, version: &str, arch: &str) -> DownloadUrl {
        DownloadUrl {
            text: download_url(&self.text, version, arch),
            scheme: self.scheme,
        }
    }

    /// The template with its credentials replaced by [`REDACTED`].
    pub fn redacted(&self) -> String {
        self.parts().redacted()
    }

    fn parts(&self) -> UrlParts<'_> {
        UrlParts::split(&self.text).expect("checked when parsed")
    }
}

impl fmt::Debug for DownloadTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DownloadTemplate")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for DownloadTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// One host's k0s download URL, credentials included; only [`expose`](DownloadUrl::expose)
/// gives them out, for the download itself. `Debug` and `Display` redact them.
#[derive(Clone, PartialEq, Eq)]
pub struct DownloadUrl {
    text: String,
    scheme: UrlScheme,
}

impl DownloadUrl {
    /// The full URL, credentials included: for the download's stdin only, never a command
    /// line, a log or a message.
    pub fn expose(&self) -> &str {
        &self.text
    }

    pub fn scheme(&self) -> UrlScheme {
        self.scheme
    }

    pub fn has_credentials(&self) -> bool {
        self.parts().has_credentials()
    }

    /// The URL with its credentials replaced by [`REDACTED`].
    pub fn redacted(&self) -> String {
        self.parts().redacted()
    }

    /// For a `file://` URL, the path on the host, percent-decoded.
    pub fn file_path(&self) -> Option<String> {
        (self.scheme == UrlScheme::File).then(|| percent_decode(self.parts().path))
    }

    /// `text` (e.g. what curl or wget printed) with this URL and each of its credentials
    /// replaced, and the userinfo and query of any other URL in it too (wget, for one, prints
    /// the URL with only the password masked).
    pub fn redact_in(&self, text: &str) -> String {
        let parts = self.parts();
        let mut shown = text.replace(&self.text, &parts.redacted());
        for secret in parts.secrets() {
            shown = shown.replace(&secret, REDACTED);
        }
        redact_urls(&shown)
    }

    fn parts(&self) -> UrlParts<'_> {
        UrlParts::split(&self.text).expect("rendered from a checked template")
    }
}

impl fmt::Debug for DownloadUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DownloadUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for DownloadUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Why a sha256 checksum is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Sha256Error {
    #[error(
        "a sha256 checksum is 64 hexadecimal digits, as `sha256sum` prints it; this one has \
         {0} characters"
    )]
    Length(usize),
    #[error(
        "a sha256 checksum is 64 hexadecimal digits, as `sha256sum` prints it; this one holds \
         the character {0:?}"
    )]
    NotHex(char),
}

/// A sha256 checksum in hex, as `sha256sum` prints it; returned in lower case.
pub fn parse_sha256(text: &str) -> Result<String, Sha256Error> {
    if let Some(c) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(Sha256Error::NotHex(c));
    }
    if text.len() != 64 {
        return Err(Sha256Error::Length(text.len()));
    }
    Ok(text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn status_json_of_a_controller_with_workloads() {
        // The shape `k0s status -o json` prints: Go field names, 3-space indent.
        let json = r#"{
   "Version": "v1.29.3+k0s.0",
   "Pid": 812,
   "PPid": 0,
   "Role": "controller",
   "SysInit": "",
   "StubFile": "",
   "Output": "",
   "Workloads": true,
   "SingleNode": false,
   "Args": [
      "/usr/local/bin/k0s",
      "controller",
      "--config=/etc/k0s/k0s.yaml",
      "--enable-worker=true",
      "--no-taints=true"
   ],
   "WorkerToAPIConnectionStatus": {
      "Message": "",
      "Success": true
   },
   "ClusterConfig": {
      "apiVersion": "k0s.k0sproject.io/v1beta1",
      "kind": "ClusterConfig",
      "metadata": {"name": "demo"},
      "spec": {"network": {"provider": "calico"}}
   },
   "K0sVars": {
      "DataDir": "/var/lib/k0s",
      "RunDir": "/run/k0s",
      "StatusSocketPath": "/run/k0s/status.sock",
      "StartupConfigPath": "/etc/k0s/k0s.yaml"
   }
}"#;
        assert_eq!(
            parse_status_json(json).unwrap(),
            K0sStatus {
                version: "v1.29.3+k0s.0".to_owned(),
                pid: 812,
                role: Role::Controller,
                workloads: true,
                single_node: false,
                args: vec![
                    "/usr/local/bin/k0s".to_owned(),
                    "controller".to_owned(),
                    "--config=/etc/k0s/k0s.yaml".to_owned(),
                    "--enable-worker=true".to_owned(),
                    "--no-taints=true".to_owned(),
                ],
            }
        );
    }

    #[test]
    fn status_json_of_a_worker_has_no_cluster_config() {
        let json = r#"{"Version":"v1.29.3+k0s.0","Pid":1201,"PPid":0,"Role":"worker","SysInit":"","StubFile":"","Output":"","Workloads":true,"SingleNode":false,"Args":["/usr/local/bin/k0s","worker","--token-file=/etc/k0s/join.token"],"WorkerToAPIConnectionStatus":{"Message":"","Success":true},"ClusterConfig":null,"K0sVars":{"DataDir":"/var/lib/k0s"}}"#;
        let status = parse_status_json(json).unwrap();
        assert_eq!(status.role, Role::Worker);
        assert_eq!(status.pid, 1201);
        assert!(matches!(
            parse_status_json("Version: v1"),
            Err(ParseError::Malformed { .. })
        ));
        assert_eq!(
            parse_status_json(r#"{"Version":"v1","Pid":1,"Role":"boss"}"#),
            Err(ParseError::UnknownRole("boss".to_owned()))
        );
    }

    #[test]
    fn versions_parse_print_and_order() {
        let version = parse_version("v1.29.3+k0s.0\n").unwrap();
        assert_eq!(
            version,
            K0sVersion {
                major: 1,
                minor: 29,
                patch: 3,
                pre_release: None,
                build: 0
            }
        );
        assert_eq!(version.to_string(), "v1.29.3+k0s.0");
        assert_eq!(version.kubernetes_version(), "1.29.3");
        let ordered = [
            "v1.28.8+k0s.0",
            "v1.29.3-rc.0+k0s.0",
            "v1.29.3-rc.1+k0s.0",
            "v1.29.3+k0s.0",
            "v1.29.3+k0s.1",
            "v1.29.10+k0s.0",
            "v1.30.0+k0s.0",
        ];
        let parsed: Vec<K0sVersion> = ordered.iter().map(|v| v.parse().unwrap()).collect();
        assert!(
            parsed.windows(2).all(|pair| pair[0] < pair[1]),
            "{parsed:?}"
        );
        assert_eq!(parsed[1].to_string(), "v1.29.3-rc.0+k0s.0");
    }

    #[test]
    fn malformed_versions_name_the_expected_form() {
        for bad in [
            "1.29.3+k0s.0",
            "v1.29.3",
            "v1.29+k0s.0",
            "v1.29.3+k0s",
            "v1.29.3+k3s.0",
            "v01.29.3+k0s.0",
            "latest",
            "",
        ] {
            assert_eq!(
                parse_k0s_version(bad).unwrap_err().to_string(),
                format!("invalid k0s version {bad:?}: expected the form vX.Y.Z+k0s.N, like v1.29.3+k0s.0")
            );
        }
    }

    const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n";

    fn encode_token(user: &str, token: &str, server: &str) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(CA_PEM);
        let kubeconfig = format!(
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: k0s\ncontexts:\n- context:\n    cluster: k0s\n    user: {user}\n  name: k0s\ncurrent-context: k0s\nkind: Config\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n    token: {token}\n"
        );
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gzip.write_all(kubeconfig.as_bytes()).unwrap();
        base64::engine::general_purpose::STANDARD.encode(gzip.finish().unwrap())
    }

    #[test]
    fn worker_token_decodes_without_leaking_its_secret() {
        let raw = encode_token(
            "kubelet-bootstrap",
            "abc123.0123456789abcdef",
            "https://10.0.0.11:6443",
        );
        let token = parse_token_create(&format!("{raw}\n")).unwrap();
        assert_eq!(token.id, "abc123");
        assert_eq!(token.role, Role::Worker);
        assert_eq!(token.server, "https://10.0.0.11:6443");
        assert_eq!(token.ca_certificate, CA_PEM);
        assert_eq!(token.raw, raw);
        for shown in [format!("{token:?}"), token.to_string()] {
            assert!(!shown.contains("0123456789abcdef"), "{shown}");
            assert!(!shown.contains(&raw), "{shown}");
            assert!(shown.contains("abc123"), "{shown}");
        }
    }

    #[test]
    fn controller_token_and_broken_tokens() {
        let raw = encode_token(
            "controller-bootstrap",
            "zyx987.fedcba9876543210",
            "https://10.0.0.11:9443",
        );
        assert_eq!(parse_token_create(&raw).unwrap().role, Role::Controller);
        assert!(parse_token_create("not base64!").is_err());
        assert!(
            parse_token_create(&base64::engine::general_purpose::STANDARD.encode("plain")).is_err()
        );
        let short = encode_token("kubelet-bootstrap", "abc.def", "https://10.0.0.11:6443");
        assert!(parse_token_create(&short).is_err());
    }

    #[test]
    fn admin_kubeconfig_parses_and_takes_a_new_server() {
        let ca = base64::engine::general_purpose::STANDARD.encode(CA_PEM);
        let admin = format!(
            "apiVersion: v1\nclusters:\n- cluster:\n    server: https://192.168.0.11:6443\n    certificate-authority-data: {ca}\n  name: local\ncontexts:\n- context:\n    cluster: local\n    namespace: default\n    user: user\n  name: Default\ncurrent-context: Default\nkind: Config\npreferences: {{}}\nusers:\n- name: user\n  user:\n    client-certificate-data: Y2VydA==\n    client-key-data: a2V5\n"
        );
        let parsed = parse_kubeconfig(&admin).unwrap();
        assert_eq!(parsed.server, "https://192.168.0.11:6443");
        assert_eq!(parsed.ca_certificate, CA_PEM);
        assert_eq!(parsed.token(), None);
        let moved = kubeconfig_with_server(&admin, "https://k8s.example.com:6443").unwrap();
        let reparsed = parse_kubeconfig(&moved).unwrap();
        assert_eq!(reparsed.server, "https://k8s.example.com:6443");
        assert_eq!(reparsed.ca_certificate, CA_PEM);
        assert!(moved.contains("client-key-data: a2V5"));
    }

    #[test]
    fn member_list_and_peer_hosts() {
        let members = parse_member_list(
            "{\"members\":{\"cp1\":\"https://192.168.0.11:2380\",\"cp2\":\"https://[fd00::12]:2380\"}}\n",
        )
        .unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(peer_host(&members["cp1"]), "192.168.0.11");
        assert_eq!(peer_host(&members["cp2"]), "fd00::12");
        assert_eq!(peer_host("https://cp3.internal:2380"), "cp3.internal");
        assert!(parse_member_list("can't list etcd cluster members").is_err());
    }

    #[test]
    fn worker_unit_gives_back_labels_taints_and_kubelet_args() {
        let unit = "[Unit]\nDescription=k0s - Zero Friction Kubernetes\nConditionFileIsExecutable=/usr/local/bin/k0s\n\n[Service]\nStartLimitInterval=5\nStartLimitBurst=10\nExecStart=/usr/local/bin/k0s worker --kubelet-extra-args=--node-ip=192.168.0.21\\x20--max-pods=200 --labels=tier=web,zone=a --taints=dedicated=web:NoSchedule,gpu:NoExecute --token-file=/etc/k0s/join.token\n\nRestartSec=120\n";
        let installed = parse_unit_exec_start(unit).unwrap();
        assert_eq!(installed.role, Role::Worker);
        assert_eq!(installed.binary, "/usr/local/bin/k0s");
        assert_eq!(
            installed.kubelet_extra_args(),
            Some("--node-ip=192.168.0.21 --max-pods=200")
        );
        assert_eq!(
            installed.labels(),
            BTreeMap::from([
                ("tier".to_owned(), "web".to_owned()),
                ("zone".to_owned(), "a".to_owned())
            ])
        );
        assert_eq!(
            installed.taints(),
            vec!["dedicated=web:NoSchedule", "gpu:NoExecute"]
        );
        assert_eq!(installed.token_file(), Some("/etc/k0s/join.token"));
        assert!(installed.workloads());
        assert_eq!(installed.args.len(), 4);
    }

    #[test]
    fn controller_unit_tells_whether_it_runs_workloads() {
        let with = parse_unit_exec_start("ExecStart=/usr/local/bin/k0s controller --config=/etc/k0s/k0s.yaml --enable-worker=true --no-taints=true\n").unwrap();
        assert_eq!(with.role, Role::Controller);
        assert!(with.workloads());
        assert!(with.no_taints());
        assert_eq!(with.config(), Some("/etc/k0s/k0s.yaml"));
        assert!(with.labels().is_empty());
        let without = parse_unit_exec_start("ExecStart=/usr/local/bin/k0s controller --config=/etc/k0s/k0s.yaml --token-file=/etc/k0s/join.token").unwrap();
        assert!(!without.workloads());
        assert_eq!(parse_unit_exec_start("[Service]\nRestart=always\n"), None);
        assert_eq!(
            parse_unit_exec_start("ExecStart=/usr/bin/other daemon"),
            None
        );
    }

    #[test]
    fn systemd_quoting_and_csv_quoting_are_undone() {
        let installed = parse_unit_exec_start(
            "ExecStart=\"/opt/k 0s/k0s\" worker '--kubelet-extra-args=--a=1 --b=2' --labels=\"a=x,y\",b=z",
        )
        .unwrap();
        assert_eq!(installed.binary, "/opt/k 0s/k0s");
        assert_eq!(installed.kubelet_extra_args(), Some("--a=1 --b=2"));
        assert_eq!(
            installed.labels(),
            BTreeMap::from([
                ("a".to_owned(), "x,y".to_owned()),
                ("b".to_owned(), "z".to_owned())
            ])
        );
        assert_eq!(
            parse_unit_exec_start("ExecStart=/usr/local/bin/k0s worker \"--unclosed"),
            None
        );
    }

    #[test]
    fn download_locations() {
        assert_eq!(download_arch("x86_64\n"), Some("amd64"));
        assert_eq!(download_arch("aarch64"), Some("arm64"));
        assert_eq!(download_arch("armv7l"), Some("arm"));
        assert_eq!(download_arch("riscv64"), None);
        assert_eq!(
            download_url(DEFAULT_DOWNLOAD_URL, "v1.29.3+k0s.0", "amd64"),
            "https://github.com/k0sproject/k0s/releases/download/v1.29.3+k0s.0/k0s-v1.29.3+k0s.0-amd64"
        );
    }

    const VERSION: &str = "v1.29.3+k0s.0";

    #[test]
    fn https_and_file_urls_are_accepted_and_rendered() {
        let default = DownloadTemplate::parse(DEFAULT_DOWNLOAD_URL, false).unwrap();
        assert_eq!(default.scheme(), UrlScheme::Https);
        assert!(!default.has_credentials());
        assert_eq!(
            default.render(VERSION, "arm64").expose(),
            "https://github.com/k0sproject/k0s/releases/download/v1.29.3+k0s.0/k0s-v1.29.3+k0s.0-arm64"
        );
        let file = DownloadTemplate::parse("file:///opt/k0s%20bin/k0s-{version}-{arch}", false)
            .unwrap()
            .render(VERSION, "amd64");
        assert_eq!(file.scheme(), UrlScheme::File);
        assert_eq!(
            file.file_path().as_deref(),
            Some("/opt/k0s bin/k0s-v1.29.3+k0s.0-amd64")
        );
        assert!(DownloadTemplate::parse("FILE://localhost/k0s", false).is_ok());
        assert!(DownloadTemplate::parse("HTTPS://mirror.example/k0s", false).is_ok());
        assert_eq!(
            DownloadTemplate::parse("https://mirror.example/k0s", false)
                .unwrap()
                .render(VERSION, "amd64")
                .file_path(),
            None
        );
    }

    #[test]
    fn plain_http_needs_the_opt_in() {
        let url = "http://mirror.internal/k0s-{version}";
        assert_eq!(
            DownloadTemplate::parse(url, false),
            Err(DownloadUrlError::PlainHttp)
        );
        assert_eq!(
            DownloadTemplate::parse(url, true).unwrap().scheme(),
            UrlScheme::Http
        );
        // The opt-in is about plain HTTP only.
        assert_eq!(
            DownloadTemplate::parse("ftp://mirror.internal/k0s", true),
            Err(DownloadUrlError::UnsupportedScheme("ftp".into()))
        );
    }

    #[test]
    fn malformed_templates_are_refused_with_the_reason() {
        for (template, expected) in [
            ("github.com/k0s", DownloadUrlError::NoScheme),
            ("/opt/k0s", DownloadUrlError::NoScheme),
            ("1ttp://x/k0s", DownloadUrlError::NoScheme),
            ("https:///k0s", DownloadUrlError::NoHost("https")),
            ("https://user:pw@/k0s", DownloadUrlError::NoHost("https")),
            (
                "file://mirror/k0s",
                DownloadUrlError::FileOnOtherHost("mirror".into()),
            ),
            ("file://user@/k0s", DownloadUrlError::FileWithCredentials),
            ("file:///k0s?x=1", DownloadUrlError::FileWithCredentials),
            ("file://", DownloadUrlError::FileWithoutPath),
            ("file:///", DownloadUrlError::FileWithoutPath),
            (
                "https://x/k0s-{Version}",
                DownloadUrlError::UnknownPlaceholder("Version".into()),
            ),
            (
                "https://x/k0s-{os}-{arch}",
                DownloadUrlError::UnknownPlaceholder("os".into()),
            ),
            (
                "https://x/k0s-{version",
                DownloadUrlError::InvalidCharacter {
                    character: '{',
                    position: 15,
                },
            ),
            (
                "https://x/k0s}",
                DownloadUrlError::InvalidCharacter {
                    character: '}',
                    position: 14,
                },
            ),
            (
                "https://x/k0s {version}",
                DownloadUrlError::InvalidCharacter {
                    character: ' ',
                    position: 14,
                },
            ),
            (
                "https://x/k0s\"",
                DownloadUrlError::InvalidCharacter {
                    character: '"',
                    position: 14,
                },
            ),
            (
                "https://x/k0s\\",
                DownloadUrlError::InvalidCharacter {
                    character: '\\',
                    position: 14,
                },
            ),
            (
                "https://x/k0s\n",
                DownloadUrlError::InvalidCharacter {
                    character: '\n',
                    position: 14,
                },
            ),
            (
                "https://x/kös",
                DownloadUrlError::InvalidCharacter {
                    character: 'ö',
                    position: 12,
                },
            ),
        ] {
            assert_eq!(
                DownloadTemplate::parse(template, true),
                Err(expected),
                "{template:?}"
            );
        }
    }

    #[test]
    fn error_messages_never_quote_the_url() {
        let secret = "hunter2";
        for template in [
            "ftp://u:hunter2@x/k0s",
            "http://u:hunter2@x/k0s",
            "https://u:hunter2@x/k0s {version}",
            "u:hunter2@x/k0s",
        ] {
            let e = DownloadTemplate::parse(template, false).unwrap_err();
            assert!(!format!("{e} {e:?}").contains(secret), "{template}: {e}");
        }
    }

    #[test]
    fn userinfo_and_queries_are_credentials_and_are_redacted() {
        let template = DownloadTemplate::parse(
            "https://deploy:s3cr%40t@mirror.example:8443/k0s/{version}/k0s-{arch}?X-Token=abc123#top",
            false,
        )
        .unwrap();
        assert!(template.has_credentials());
        assert_eq!(
            template.redacted(),
            "https://***@mirror.example:8443/k0s/{version}/k0s-{arch}?***#top"
        );
        assert_eq!(
            format!("{template} {template:?}"),
            "https://***@mirror.example:8443/k0s/{version}/k0s-{arch}?***#top \
             DownloadTemplate(\"https://***@mirror.example:8443/k0s/{version}/k0s-{arch}?***#top\")"
        );
        let url = template.render(VERSION, "amd64");
        assert!(url.has_credentials());
        assert!(url.expose().contains("deploy:s3cr%40t@") && url.expose().contains("abc123"));
        for shown in [
            url.to_string(),
            format!("{url:?}"),
            url.redact_in(&format!("curl: (22) {} returned 401", url.expose())),
            url.redact_in("login s3cr@t for deploy failed; token abc123; X-Token=abc123"),
        ] {
            for secret in ["s3cr%40t", "s3cr@t", "deploy", "abc123"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(shown.contains(REDACTED), "{shown}");
        }
        assert_eq!(
            url.redact_in(&format!("curl: (22) {} returned 401", url.expose())),
            "curl: (22) https://***@mirror.example:8443/k0s/v1.29.3+k0s.0/k0s-amd64?***#top returned 401"
        );
        // wget masks only the password; the rest goes too, even when short.
        let short = DownloadTemplate::parse("http://ab:cd@mirror/k0s?t=1", true)
            .unwrap()
            .render(VERSION, "amd64");
        assert_eq!(
            short.redact_in(
                "http://ab:*password*@mirror/k0s?t=1:\n2026-01-01 ERROR 404: Not Found.\n\
                 see 'https://x:y@other/z?q' and https://plain/path"
            ),
            "http://***@mirror/k0s?***\n2026-01-01 ERROR 404: Not Found.\n\
             see 'https://***@other/z?***' and https://plain/path"
        );
        // A lone user name is a token too.
        let token = DownloadTemplate::parse("https://ghp_token@x/k0s", false)
            .unwrap()
            .render(VERSION, "amd64");
        assert_eq!(token.redacted(), "https://***@x/k0s");
        assert_eq!(token.redact_in("bad ghp_token"), "bad ***");
        // An empty query carries nothing.
        let plain = DownloadTemplate::parse("https://x/k0s?", false).unwrap();
        assert!(!plain.has_credentials());
    }

    #[test]
    fn sha256_checksums_are_64_hex_digits() {
        let sum = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
        assert_eq!(parse_sha256(sum), Ok(sum.to_ascii_lowercase()));
        assert_eq!(parse_sha256(&sum[1..]), Err(Sha256Error::Length(63)));
        assert_eq!(
            parse_sha256(&format!("sha256:{}", &sum[7..])),
            Err(Sha256Error::NotHex('s'))
        );
        assert_eq!(parse_sha256(""), Err(Sha256Error::Length(0)));
        assert!(Sha256Error::Length(63)
            .to_string()
            .starts_with("a sha256 checksum is 64 hexadecimal digits"));
    }
}
