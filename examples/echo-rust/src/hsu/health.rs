// Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
// this folder from the template; your code goes in src/services/ and src/main.rs.

//! `grpc.health.v1.Health` with Check, Watch and List. Every served service
//! and the overall status ("") share one state: SERVING until the unit starts
//! draining, NOT_SERVING from then on. A Watch stream sends the current
//! status at once, every change after, and ends once it has sent NOT_SERVING
//! during a drain, so it does not hold the drain open.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::gen::grpc_health_v1::health_check_response::ServingStatus;
use crate::gen::grpc_health_v1::health_server::Health;
use crate::gen::grpc_health_v1::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};

/// Flips every service to NOT_SERVING when the unit starts draining.
#[derive(Clone)]
pub struct HealthHandle {
    serving: Arc<watch::Sender<bool>>,
}

impl HealthHandle {
    /// Reports NOT_SERVING for every service from now on.
    pub fn set_not_serving(&self) {
        self.serving.send_replace(false);
    }
}

/// The health service; create it with [`create_health`].
pub struct HealthService {
    services: Arc<Vec<String>>,
    serving: watch::Receiver<bool>,
}

/// Creates the health service for the given full service names (the
/// overall "" is always included) and the handle that drains it.
pub fn create_health(services: &[String]) -> (HealthService, HealthHandle) {
    let (tx, rx) = watch::channel(true);
    let mut names = vec![String::new()];
    names.extend(services.iter().cloned());
    (
        HealthService {
            services: Arc::new(names),
            serving: rx,
        },
        HealthHandle {
            serving: Arc::new(tx),
        },
    )
}

impl HealthService {
    fn status_of(&self, service: &str, serving: bool) -> Option<ServingStatus> {
        self.services
            .iter()
            .any(|s| s == service)
            .then_some(if serving {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            })
    }
}

fn reply(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = request.into_inner().service;
        match self.status_of(&service, *self.serving.borrow()) {
            Some(status) => Ok(Response::new(reply(status))),
            None => Err(Status::not_found(format!("unknown service {service:?}"))),
        }
    }

    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        let serving = *self.serving.borrow();
        let statuses: HashMap<String, HealthCheckResponse> = self
            .services
            .iter()
            .filter_map(|s| self.status_of(s, serving).map(|st| (s.clone(), reply(st))))
            .collect();
        Ok(Response::new(HealthListResponse { statuses }))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let service = request.into_inner().service;
        let known = self.services.iter().any(|s| *s == service);
        let mut serving = self.serving.clone();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                let now = *serving.borrow_and_update();
                let status = match (known, now) {
                    (false, _) => ServingStatus::ServiceUnknown,
                    (true, true) => ServingStatus::Serving,
                    (true, false) => ServingStatus::NotServing,
                };
                if tx.send(Ok(reply(status))).await.is_err() || !now {
                    return;
                }
                tokio::select! {
                    changed = serving.changed() => if changed.is_err() { return },
                    () = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
