// Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
// this folder from the template; your code goes in src/services/ and src/main.rs.

//! The HSU runtime for this unit: everything the unit contract asks of a
//! process (docs/unit-contract.md in the HSU repository), so that `main.rs`
//! and the files in `src/services/` hold only the unit's own code.
//!
//! Entry point: [`run`]. Your services are added to a [`ServiceRegistry`];
//! the Core API, health, reflection, the handshake and the drain are handled
//! here.

mod address;
mod auth;
mod config;
mod core;
mod drain;
mod handshake;
mod health;
mod limits;
mod listener;
mod reconfigure;
mod server;
mod stop;

use std::convert::Infallible;

use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tower::Service;

#[allow(unused_imports)] // for a hook written as a named function
pub use reconfigure::ReconfigureEvent;
pub use server::run;

/// What a service implementation may want to know about its unit.
#[derive(Debug, Clone)]
#[allow(dead_code)] // offered to service code, which may use none of it
pub struct UnitContext {
    /// `HSU_UNIT_ID`, or the unit's name when standalone.
    pub unit_id: String,
    /// The unit's name (the crate name).
    pub name: String,
    /// The unit's version (the crate version).
    pub version: String,
    /// `HSU_INDEX`, the replica index in a worker pool.
    pub index: Option<u32>,
}

/// Collects the unit's own gRPC services and their full names (reported by
/// GetInfo, health and the handshake).
pub struct ServiceRegistry {
    routes: RoutesBuilder,
    names: Vec<String>,
    reconfigure: Option<reconfigure::ReconfigureHook>,
}

impl ServiceRegistry {
    fn new() -> Self {
        ServiceRegistry {
            routes: RoutesBuilder::default(),
            names: Vec::new(),
            reconfigure: None,
        }
    }

    /// Sets the reload hook of Core Reconfigure: the master rewrote
    /// `HSU_CONFIG_DIR` and asks the unit to take the new files without a
    /// restart. The hook gets every file read again; `Err(why)` refuses them
    /// (FAILED_PRECONDITION: the master restarts the unit). Without a hook,
    /// Reconfigure answers UNIMPLEMENTED and config changes restart the unit.
    #[allow(dead_code)] // a unit may leave it out
    pub fn on_reconfigure(
        &mut self,
        hook: impl Fn(&ReconfigureEvent) -> Result<(), String> + Send + Sync + 'static,
    ) -> &mut Self {
        self.reconfigure = Some(std::sync::Arc::new(hook));
        self
    }

    /// Serves a generated tonic server, e.g. `EchoServiceServer::new(impl)`.
    pub fn add<S>(&mut self, service: S) -> &mut Self
    where
        S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME.to_string());
        self.routes.add_service(service);
        self
    }
}
