// Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
// this folder from the template; your code goes in src/services/ and src/main.rs.

//! The Register handshake with the master (unit contract, section 4).

use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Code, Request, Status};

use super::address::Address;
use crate::gen::hsu_core_v1::UnitInfo;
use crate::gen::hsu_master_v1::registration_service_client::RegistrationServiceClient;
use crate::gen::hsu_master_v1::RegisterRequest;

/// How long UNAVAILABLE (including "cannot connect") is retried.
pub const RETRY_FOR: Duration = Duration::from_secs(10);
const PER_CALL: Duration = Duration::from_secs(5);

/// Connects a gRPC channel to a contract address; a Unix socket goes
/// through a custom connector because tonic dials only TCP itself.
pub async fn dial(address: &Address) -> Result<Channel, tonic::transport::Error> {
    match address {
        Address::Tcp { .. } => {
            let uri = address.http_uri().expect("a TCP address has an http URI");
            Endpoint::from_shared(uri)?
                .connect_timeout(Duration::from_secs(2))
                .connect()
                .await
        }
        Address::Unix(path) => {
            let path = path.clone();
            // The URI is required by the API but unused: the connector ignores it.
            Endpoint::from_static("http://unix.socket")
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move { UnixStream::connect(path).await.map(TokioIo::new) }
                }))
                .await
        }
    }
}

/// Registers `info` with the master at `master`, retrying UNAVAILABLE for up
/// to [`RETRY_FOR`]. Returns the master's id, or the reason the handshake
/// failed (the caller exits with code 3).
pub async fn register(
    master: &Address,
    info: &UnitInfo,
    token: Option<&str>,
) -> Result<String, String> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(50);
    loop {
        let failure = match attempt(master, info, token).await {
            Ok(master_id) => return Ok(master_id),
            Err(status) if status.code() == Code::Unavailable => status,
            Err(status) => {
                return Err(format!(
                    "the master at {master} refused Register with {:?}: {}",
                    status.code(),
                    status.message()
                ))
            }
        };
        if started.elapsed() + backoff > RETRY_FOR {
            return Err(format!(
                "the master at {master} stayed unavailable for {}s: {}; check HSU_MASTER_ADDR",
                RETRY_FOR.as_secs(),
                failure.message()
            ));
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(500));
    }
}

/// "outer: inner: innermost", since tonic's transport error alone says little.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

async fn attempt(master: &Address, info: &UnitInfo, token: Option<&str>) -> Result<String, Status> {
    let channel = dial(master)
        .await
        .map_err(|e| Status::unavailable(format!("cannot connect: {}", chain(&e))))?;
    let mut request = Request::new(RegisterRequest {
        info: Some(info.clone()),
    });
    request.set_timeout(PER_CALL);
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().map_err(|_| {
            Status::invalid_argument("HSU_TOKEN holds characters not allowed in metadata")
        })?;
        request.metadata_mut().insert("authorization", value);
    }
    let response = RegistrationServiceClient::new(channel)
        .register(request)
        .await?;
    Ok(response.into_inner().master_id)
}
