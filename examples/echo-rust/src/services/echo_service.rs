//! Your implementation of `hsu.examples.echo.v1.EchoService` (proto/hsu/examples/echo/v1/echo.proto).
//! This file is yours: `npx create-hsu-unit regen` never rewrites it; it only
//! adds a stub for each new RPC above the marker comment at the end of the
//! `impl` block below.

#[allow(unused_imports)]
use std::pin::Pin;

#[allow(unused_imports)]
use tokio_stream::Stream;
#[allow(unused_imports)]
use tonic::{Request, Response, Status, Streaming};

use crate::gen::hsu_examples_echo_v1::echo_service_server::EchoService;
#[allow(unused_imports)]
use crate::gen::hsu_examples_echo_v1::*;
use crate::hsu::UnitContext;

/// Serves `hsu.examples.echo.v1.EchoService`: answers with the message and
/// the unit id, after the requested delay.
pub struct EchoServiceImpl {
    unit: UnitContext,
}

impl EchoServiceImpl {
    /// Called once at start: build whatever state the service needs here.
    pub fn new(unit: &UnitContext) -> Self {
        Self { unit: unit.clone() }
    }
}

#[tonic::async_trait]
impl EchoService for EchoServiceImpl {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let request = request.into_inner();
        if request.delay_ms > 0 {
            // The delay lets a caller keep a call in flight while the unit is stopped.
            tokio::time::sleep(std::time::Duration::from_millis(request.delay_ms.into())).await;
        }
        Ok(Response::new(EchoResponse {
            message: request.message,
            unit_id: self.unit.unit_id.clone(),
        }))
    }

    // hsu:new-rpc-stubs (`npx create-hsu-unit regen` adds stubs for new RPCs above this line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str) -> UnitContext {
        UnitContext {
            unit_id: id.into(),
            name: "echo-rust".into(),
            version: "0.1.0".into(),
            index: None,
        }
    }

    #[tokio::test]
    async fn echoes_the_message_with_the_unit_id() {
        let service = EchoServiceImpl::new(&unit("echo-1"));
        let request = Request::new(EchoRequest {
            message: "hello".into(),
            delay_ms: 0,
        });
        let reply = service.echo(request).await.unwrap().into_inner();
        assert_eq!(
            (reply.message.as_str(), reply.unit_id.as_str()),
            ("hello", "echo-1")
        );
    }

    #[tokio::test]
    async fn waits_at_least_the_delay_before_answering() {
        let service = EchoServiceImpl::new(&unit("echo-2"));
        let started = std::time::Instant::now();
        let request = Request::new(EchoRequest {
            message: "later".into(),
            delay_ms: 50,
        });
        service.echo(request).await.unwrap();
        assert!(started.elapsed() >= std::time::Duration::from_millis(50));
    }
}
