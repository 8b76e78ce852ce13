//! What every operation of one provider process shares, built once when
//! Terraform configures the provider: the settings, the SSH pool (one
//! multiplexed connection per host), the host locks this process holds, the
//! run-wide drain limit and the shared node listings.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use mke_ssh::{ConnectPolicy, Host, Pool, Target};

use super::controller_view::ControllerViews;
use super::node_list::NodeLists;
use super::node_watch::NodeWatch;
use super::phase::lock::{HostLock, Locks};
use super::OpError;

/// Read and delete give up on an unreachable host after this at most.
pub const QUICK_CONNECT: Duration = Duration::from_secs(30);

/// The provider block, decoded, with defaults applied.
#[derive(Debug, Clone)]
pub struct Settings {
    pub ssh: SshSettings,
    /// Hosts worked on at once inside one resource.
    pub parallelism: usize,
    /// Nodes drained at once across the run.
    pub drain_concurrency: usize,
    /// Read warns about a control-plane certificate that expires within this many days; 0 never.
    pub certificate_warning_days: u64,
}

#[derive(Debug, Clone)]
pub struct SshSettings {
    pub user: String,
    pub port: u16,
    /// Never logged (its Debug prints `<redacted>`) and never written to state.
    pub private_key: Option<mke_ssh::Secret>,
    pub timeout: Duration,
    pub bastion: Option<BastionSettings>,
    /// How long a host's SSH master outlives this process, so that the next
    /// process (the apply after a plan) logs in no more; zero ends it with the process.
    pub persist: Duration,
}

#[derive(Debug, Clone)]
pub struct BastionSettings {
    pub host: String,
    pub user: String,
    pub port: u16,
    pub private_key: Option<mke_ssh::Secret>,
    pub host_key: Option<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            ssh: SshSettings {
                user: "root".into(),
                port: 22,
                private_key: None,
                timeout: Duration::from_secs(300),
                bastion: None,
                persist: Duration::from_secs(60),
            },
            parallelism: 10,
            drain_concurrency: 1,
            certificate_warning_days: 30,
        }
    }
}

impl Settings {
    fn ssh_defaults(&self) -> mke_ssh::SshDefaults {
        let ssh = &self.ssh;
        mke_ssh::SshDefaults {
            user: ssh.user.clone(),
            port: ssh.port,
            private_key: ssh.private_key.clone(),
            connect_timeout: ssh.timeout,
            bastion: ssh.bastion.as_ref().map(|b| mke_ssh::Bastion {
                host: b.host.clone(),
                port: b.port,
                user: b.user.clone(),
                private_key: b.private_key.clone(),
                host_key: b.host_key.clone(),
            }),
            persist: ssh.persist,
            // The user's private directory: $XDG_RUNTIME_DIR, else the cache dir.
            control_dir: None,
        }
    }
}

/// A machine as a resource names it: where to reach it over SSH.
pub fn target(
    address: &str,
    port: Option<u16>,
    user: Option<&str>,
    host_key: Option<&str>,
) -> Target {
    Target {
        address: address.to_string(),
        port,
        user: user.map(str::to_string),
        host_key: host_key.map(str::to_string),
    }
}

pub struct Runtime {
    settings: Settings,
    pool: Pool,
    locks: Arc<Locks>,
    drains: Arc<tokio::sync::Semaphore>,
    node_lists: NodeLists,
    node_watch: NodeWatch,
    controller_views: ControllerViews,
}

impl Runtime {
    pub fn new(settings: Settings) -> Runtime {
        Runtime {
            pool: Pool::new(settings.ssh_defaults()),
            drains: Arc::new(tokio::sync::Semaphore::new(
                settings.drain_concurrency.max(1),
            )),
            locks: Arc::default(),
            node_lists: NodeLists::default(),
            node_watch: NodeWatch::default(),
            controller_views: ControllerViews::default(),
            settings,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The host's shared connection. `policy` is [`patient`](Self::patient),
    /// [`quick`](Self::quick), or a bare timeout (which retries no refused login).
    pub async fn connect(
        &self,
        target: &Target,
        policy: impl Into<ConnectPolicy>,
    ) -> Result<Arc<Host>, OpError> {
        Ok(self.pool.connect(target, policy).await?)
    }

    /// How create and update connect: for up to the provider's `ssh.timeout`,
    /// retrying refused logins too, since a freshly created machine answers
    /// SSH before its authorized keys are in place.
    pub fn patient(&self) -> ConnectPolicy {
        ConnectPolicy {
            timeout: self.settings.ssh.timeout,
            retry_refused_login: true,
        }
    }

    /// How read and delete connect: they must not hang on a dead host, and a
    /// refused login there is an answer (the machine is up), never retried.
    pub fn quick(&self) -> ConnectPolicy {
        ConnectPolicy {
            timeout: self.settings.ssh.timeout.min(QUICK_CONNECT),
            retry_refused_login: false,
        }
    }

    /// Runs `f` on every item, at most `parallelism` at once, keeping order.
    pub async fn each<I, T, F, Fut>(&self, items: Vec<I>, f: F) -> Vec<T>
    where
        F: Fn(I) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let limit = self.settings.parallelism.max(1);
        let mut indexed: Vec<(usize, T)> = stream::iter(items.into_iter().enumerate())
            .map(|(i, item)| {
                let fut = f(item);
                async move { (i, fut.await) }
            })
            .buffer_unordered(limit)
            .collect()
            .await;
        indexed.sort_by_key(|(i, _)| *i);
        indexed.into_iter().map(|(_, t)| t).collect()
    }

    /// Takes the per-host lock (see [`super::phase::lock`]).
    pub async fn lock(&self, host: &Arc<Host>) -> Result<HostLock, OpError> {
        super::phase::lock::take(&self.locks, host).await
    }

    /// Takes the lock of every host (see [`super::phase::lock`]).
    pub async fn lock_all<'a>(
        &self,
        hosts: impl IntoIterator<Item = &'a Arc<Host>>,
    ) -> Result<Vec<HostLock>, OpError> {
        super::phase::lock::take_all(&self.locks, hosts).await
    }

    /// Drains across every `mke_node` of the run wait here (`drain_concurrency`).
    pub fn drains(&self) -> Arc<tokio::sync::Semaphore> {
        self.drains.clone()
    }

    pub fn node_lists(&self) -> &NodeLists {
        &self.node_lists
    }

    /// Joining workers' view of their controller, read once per process.
    pub fn controller_views(&self) -> &ControllerViews {
        &self.controller_views
    }

    /// Waits for Nodes: one poller per controller for all of them.
    pub fn node_watch(&self) -> &NodeWatch {
        &self.node_watch
    }
}
