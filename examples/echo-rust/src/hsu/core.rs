// Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
// this folder from the template; your code goes in src/services/ and src/main.rs.

//! `hsu.core.v1.CoreService`: Ping, GetInfo and the token-checked Shutdown
//! and Reconfigure.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, Mutex};
use tonic::{Request, Response, Status};

use super::auth::check_bearer;
use super::drain::Drainer;
use super::reconfigure::{read_config_dir, ReconfigureEvent, ReconfigureHook};
use super::stop::{StopRequest, DEFAULT_DEADLINE};
use crate::gen::hsu_core_v1::core_service_server::CoreService;
use crate::gen::hsu_core_v1::{
    ConfigFile, GetInfoRequest, GetInfoResponse, PingRequest, PingResponse, ReconfigureRequest,
    ReconfigureResponse, ShutdownRequest, ShutdownResponse, UnitInfo,
};

/// The Core API of this unit.
pub struct Core {
    info: Arc<UnitInfo>,
    token: Option<String>,
    stop: mpsc::UnboundedSender<StopRequest>,
    drainer: Drainer,
    config_dir: Option<String>,
    on_reconfigure: Option<ReconfigureHook>,
    // One reload at a time: the hook never sees two at once.
    reloads: Mutex<()>,
}

impl Core {
    /// `info` is what GetInfo answers; a Shutdown that passes the token check
    /// begins the drain and sends a [`StopRequest`] on `stop`.
    pub fn new(
        info: Arc<UnitInfo>,
        token: Option<String>,
        stop: mpsc::UnboundedSender<StopRequest>,
        drainer: Drainer,
        config_dir: Option<String>,
        on_reconfigure: Option<ReconfigureHook>,
    ) -> Core {
        Core {
            info,
            token,
            stop,
            drainer,
            config_dir,
            on_reconfigure,
            reloads: Mutex::new(()),
        }
    }
}

/// Converts a system time to the protobuf Timestamp.
pub fn timestamp(at: SystemTime) -> prost_types::Timestamp {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos() as i32,
    }
}

fn requested_deadline(deadline: Option<prost_types::Duration>) -> Duration {
    match deadline {
        Some(d) if d.seconds > 0 || (d.seconds == 0 && d.nanos > 0) => {
            Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32)
        }
        _ => DEFAULT_DEADLINE,
    }
}

#[tonic::async_trait]
impl CoreService for Core {
    async fn ping(&self, _request: Request<PingRequest>) -> Result<Response<PingResponse>, Status> {
        Ok(Response::new(PingResponse {
            unit_id: self.info.unit_id.clone(),
        }))
    }

    async fn get_info(
        &self,
        _request: Request<GetInfoRequest>,
    ) -> Result<Response<GetInfoResponse>, Status> {
        Ok(Response::new(GetInfoResponse {
            info: Some((*self.info).clone()),
        }))
    }

    async fn shutdown(
        &self,
        request: Request<ShutdownRequest>,
    ) -> Result<Response<ShutdownResponse>, Status> {
        check_bearer(request.metadata(), self.token.as_deref())?;
        let request = request.into_inner();
        let deadline = requested_deadline(request.deadline);
        let reason = if request.reason.is_empty() {
            "Shutdown call".to_string()
        } else {
            request.reason
        };
        // This call is in flight, so the drain lets its reply out; a call the
        // caller sends after the reply is already refused.
        self.drainer.begin();
        // A closed channel means a stop is already under way.
        let _ = self.stop.send(StopRequest { reason, deadline });
        Ok(Response::new(ShutdownResponse {
            deadline: Some(timestamp(SystemTime::now() + deadline)),
        }))
    }

    async fn reconfigure(
        &self,
        request: Request<ReconfigureRequest>,
    ) -> Result<Response<ReconfigureResponse>, Status> {
        check_bearer(request.metadata(), self.token.as_deref())?;
        let Some(hook) = self.on_reconfigure.clone() else {
            return Err(Status::unimplemented(
                "Reconfigure: this unit has no reload hook (ServiceRegistry::on_reconfigure); restart it to load new config",
            ));
        };
        let request = request.into_inner();
        let _one_at_a_time = self.reloads.lock().await;
        let files = read_config_dir(self.config_dir.as_deref()).map_err(|why| {
            Status::failed_precondition(format!("Reconfigure: {why}; the unit keeps its previous config"))
        })?;
        let event = ReconfigureEvent {
            generation: request.generation,
            changed_files: request.changed_files,
            dir: self.config_dir.clone().unwrap_or_default(),
            files,
        };
        hook(&event).map_err(|why| {
            Status::failed_precondition(format!("Reconfigure: the unit refused the new config: {why}"))
        })?;
        Ok(Response::new(ReconfigureResponse {
            generation: request.generation,
            files: event
                .files
                .iter()
                .map(|f| ConfigFile {
                    name: f.name.clone(),
                    sha256: f.sha256.clone(),
                })
                .collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_non_positive_deadline_means_the_default() {
        assert_eq!(requested_deadline(None), DEFAULT_DEADLINE);
        assert_eq!(
            requested_deadline(Some(prost_types::Duration {
                seconds: 0,
                nanos: 0
            })),
            DEFAULT_DEADLINE
        );
        assert_eq!(
            requested_deadline(Some(prost_types::Duration {
                seconds: -3,
                nanos: 0
            })),
            DEFAULT_DEADLINE
        );
        assert_eq!(
            requested_deadline(Some(prost_types::Duration {
                seconds: 1,
                nanos: 500_000_000
            })),
            Duration::from_millis(1500)
        );
    }
}
