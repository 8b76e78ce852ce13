use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::warn;

use crate::host::{Counters, Host};
use crate::host_key::HostKey;
use crate::master::{bastion_name, check_config_value, Endpoint};
use crate::persist::{ControlDir, Persistence};
use crate::{SshDefaults, SshError, Target};

/// The connection pool: one per provider process, shared by every resource. Cloning is cheap and
/// yields the same pool. Masters close when the last clone (and every [`Host`] handed out) drops,
/// unless [`SshDefaults::persist`] keeps them for the next process.
#[derive(Clone)]
pub struct Pool {
    defaults: Arc<SshDefaults>,
    persistence: Option<Arc<Persistence>>,
    counters: Arc<Counters>,
    /// One slot per login; its async lock makes concurrent connects to the same host wait for
    /// the first one instead of opening a second master.
    slots: Arc<Mutex<HashMap<Endpoint, Slot>>>,
}

/// How hard [`Pool::connect`] tries. A bare [`Duration`] converts into the policy that retries
/// only failures of the network and of sshd not listening yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectPolicy {
    /// Give up after this (capped by [`SshDefaults::connect_timeout`]).
    pub timeout: Duration,
    /// Also retry a refused login, with pauses growing from 1 s to 10 s, until the timeout: a
    /// freshly created machine answers SSH before its authorized keys are in place (cloud-init).
    /// Off, the first refusal is final.
    pub retry_refused_login: bool,
}

impl From<Duration> for ConnectPolicy {
    fn from(timeout: Duration) -> ConnectPolicy {
        ConnectPolicy {
            timeout,
            retry_refused_login: false,
        }
    }
}

/// The host of one login once connected; locked while a connection is being set up.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<Host>>>>;

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("defaults", &self.defaults)
            .field("connections_opened", &self.connections_opened())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool with no connection yet. When [`SshDefaults::persist`] is set but the control
    /// directory cannot be used safely, a warning says why and masters end with the pool.
    pub fn new(defaults: SshDefaults) -> Pool {
        let persistence = if defaults.persist.is_zero() {
            None
        } else {
            match ControlDir::prepare(defaults.control_dir.as_deref()) {
                Ok(dir) => Some(Arc::new(Persistence {
                    dir,
                    persist: defaults.persist,
                })),
                Err(why) => {
                    warn!("SSH connections will not persist after this run: {why}");
                    None
                }
            }
        };
        Pool {
            defaults: Arc::new(defaults),
            persistence,
            counters: Arc::new(Counters::default()),
            slots: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn defaults(&self) -> &SshDefaults {
        &self.defaults
    }

    /// The host's shared connection, started if there is none (or it died), giving up after the
    /// policy's timeout (capped by [`SshDefaults::connect_timeout`]). Refused and unanswered
    /// attempts are retried until then, since a freshly booted machine takes a while to start
    /// sshd; refused logins only when the policy says so.
    pub async fn connect(
        &self,
        target: &Target,
        policy: impl Into<ConnectPolicy>,
    ) -> Result<Arc<Host>, SshError> {
        let policy = policy.into();
        let deadline = Instant::now() + policy.timeout.min(self.defaults.connect_timeout);
        let endpoint = Endpoint {
            user: target
                .user
                .clone()
                .unwrap_or_else(|| self.defaults.user.clone()),
            address: target.address.clone(),
            port: target.port.unwrap_or(self.defaults.port),
        };
        let name = endpoint.name();
        self.validate(&endpoint, &name)?;
        let pinned = target
            .host_key
            .as_deref()
            .map(|text| {
                HostKey::parse(text).map_err(|detail| SshError::InvalidHostKey {
                    host: name.clone(),
                    detail,
                })
            })
            .transpose()?;

        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(endpoint.clone())
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        if let Some(host) = slot.as_ref() {
            let same_trust = match &pinned {
                Some(pinned) => host.host_key() == pinned.openssh(),
                None => true,
            };
            if same_trust {
                host.ensure_alive(deadline).await?;
                return Ok(host.clone());
            }
        }
        let host = Arc::new(
            Host::establish(
                endpoint,
                pinned,
                self.defaults.clone(),
                self.persistence.clone(),
                self.counters.clone(),
                deadline,
                policy.retry_refused_login,
            )
            .await?,
        );
        *slot = Some(host.clone());
        Ok(host)
    }

    /// Masters started (new SSH logins) so far, re-established ones included.
    pub fn connections_opened(&self) -> usize {
        self.counters.opened.load(Ordering::SeqCst)
    }

    /// Masters an earlier process (or pool) left running that this pool reused without a login.
    pub fn connections_reused(&self) -> usize {
        self.counters.reused.load(Ordering::SeqCst)
    }

    fn validate(&self, endpoint: &Endpoint, name: &str) -> Result<(), SshError> {
        let invalid = |detail: String| SshError::InvalidTarget {
            host: name.to_string(),
            detail,
        };
        check_config_value("address", &endpoint.address).map_err(invalid)?;
        check_config_value("user", &endpoint.user).map_err(invalid)?;
        if endpoint.port == 0 {
            return Err(invalid("port 0 is not a valid SSH port".to_string()));
        }
        if let Some(bastion) = &self.defaults.bastion {
            let bastion_invalid = |detail: String| SshError::InvalidTarget {
                host: format!("bastion {}", bastion_name(bastion)),
                detail,
            };
            check_config_value("bastion_host", &bastion.host).map_err(bastion_invalid)?;
            check_config_value("bastion_user", &bastion.user).map_err(bastion_invalid)?;
            if let Some(key) = &bastion.host_key {
                HostKey::parse(key).map_err(|detail| SshError::InvalidHostKey {
                    host: format!("bastion {}", bastion_name(bastion)),
                    detail,
                })?;
            }
        }
        Ok(())
    }
}
