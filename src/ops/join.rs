//! Join tokens: minted on a running controller, handed to the joining host
//! on stdin into a 0600 file. The token never appears in a command line,
//! a log line or state.

use std::time::Duration;

use mke_k0s::{JoinToken, Role};
use mke_ssh::{Command, Host};

use super::OpError;

/// Mints a `role` token on `controller` and writes it to
/// [`mke_k0s::JOIN_TOKEN_PATH`] on `host`. The caller invalidates it once
/// the host has joined.
pub async fn hand_over_token(
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
            &Command::new(format!("mkdir -p /etc/k0s && umask 077 && cat > {path}"))
                .stdin(token.raw.clone().into_bytes())
                .display(format!("write the join token to {path}")),
        )
        .await;
    if let Err(e) = written {
        invalidate(controller, &token).await;
        return Err(e.into());
    }
    Ok(token)
}

/// Best effort: a token that outlives its use still expires by itself.
pub async fn invalidate(controller: &Host, token: &JoinToken) {
    let _ = controller
        .run(&Command::new(mke_k0s::cli::token_invalidate(&token.id)))
        .await;
}
