//! Phase `join`: a host joins the cluster through a running controller.
//!
//! One sequence for controllers and workers: mint a token on the controller
//! and hand it to the host on stdin into a 0600 file → install with
//! `--token-file` → start → wait until joined → invalidate the token →
//! reinstall without `--token-file` (so restarts work) → remove the file.
//! The file is removed on every path once written, failed joins included.
//! The token never appears in a command line, a log line or state.

use std::future::Future;
use std::time::Duration;

use mke_k0s::{InstallFlags, JoinToken, Role};
use mke_ssh::{shell_quote, Command, Host};

use super::service;
use crate::ops::OpError;

/// Joins `host` with a token of `flags.role` minted on `controller`;
/// `joined` waits until the host has joined (a controller's API is ready,
/// a worker's Node is Ready).
pub async fn join<T, Fut>(
    controller: &Host,
    host: &Host,
    flags: &InstallFlags,
    expiry: Duration,
    joined: Fut,
) -> Result<T, OpError>
where
    Fut: Future<Output = Result<T, OpError>>,
{
    let token = hand_over_token(controller, host, flags.role, expiry).await?;
    let mut with_token = flags.clone();
    with_token.token_file = Some(mke_k0s::JOIN_TOKEN_PATH.to_string());
    with_token.force = true;
    let joined = async {
        service::install(host, &with_token).await?;
        service::start(host).await?;
        joined.await
    }
    .await;
    // Whatever happened, the token must not stay valid.
    invalidate(controller, &token).await;
    let finished = match joined {
        Ok(outcome) => {
            let mut without_token = flags.clone();
            without_token.token_file = None;
            without_token.force = true;
            service::install(host, &without_token)
                .await
                .map(|()| outcome)
        }
        Err(e) => Err(e),
    };
    // Nor may its file outlive the join, failed or not.
    let removed = remove_token_file(host).await;
    match (finished, removed) {
        (Ok(outcome), Ok(())) => Ok(outcome),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(cleanup)) => {
            tracing::warn!(host = %host.name(), "{}: could not remove {} after a failed join: {cleanup}", host.name(), mke_k0s::JOIN_TOKEN_PATH);
            Err(e)
        }
    }
}

/// Removes the token file; shell `rm -f` succeeds when it is already gone.
async fn remove_token_file(host: &Host) -> Result<(), OpError> {
    let path = mke_k0s::JOIN_TOKEN_PATH;
    host.check(
        &Command::new(format!("rm -f {}", shell_quote(path))).display(format!("rm -f {path}")),
    )
    .await?;
    Ok(())
}

/// Mints a `role` token on `controller` and writes it to
/// [`mke_k0s::JOIN_TOKEN_PATH`] on `host`. The caller invalidates it once
/// the host has joined.
async fn hand_over_token(
    controller: &Host,
    host: &Host,
    role: Role,
    expiry: Duration,
) -> Result<JoinToken, OpError> {
    let raw = controller
        .check(
            &Command::new(mke_k0s::cli::token_create(role, expiry))
                .display(format!("k0s token create --role={role}")),
        )
        .await?;
    let token = mke_k0s::parse_token_create(&raw).map_err(|e| {
        OpError::host(
            controller.name(),
            format!("unexpected `k0s token create` output: {e}"),
            "Check that the controller runs the k0s version the plan expects.",
        )
    })?;
    let path = mke_k0s::JOIN_TOKEN_PATH;
    let written = host
        .check(
            &Command::new(format!(
                "mkdir -p /etc/k0s && umask 077 && cat > {}",
                shell_quote(path)
            ))
            .stdin(token.raw.clone().into_bytes())
            .display(format!("write the join token to {path}")),
        )
        .await;
    if let Err(e) = written {
        // A write cut short may have left part of the token behind.
        if let Err(cleanup) = remove_token_file(host).await {
            tracing::warn!(host = %host.name(), "{}: could not remove {path} after a failed write: {cleanup}", host.name());
        }
        invalidate(controller, &token).await;
        return Err(e.into());
    }
    Ok(token)
}

/// Best effort: a token that outlives its use still expires by itself.
async fn invalidate(controller: &Host, token: &JoinToken) {
    let _ = controller
        .run(&Command::new(mke_k0s::cli::token_invalidate(&token.id)))
        .await;
}
