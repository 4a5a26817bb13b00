// Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
// this folder from the template; your code goes in src/services/ and src/main.rs.

//! Puts the pieces together: config, listener, services, handshake, stop and
//! drain, and maps the outcome to the contract's exit codes.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;

use super::config::Config;
use super::core::{timestamp, Core};
use super::drain::{DrainLayer, Drainer, Tracker};
use super::handshake::register;
use super::health::create_health;
use super::limits::LimitLayer;
use super::listener::{adopt, bind, Bound};
use super::stop::{StopRequest, StopSources};
use super::{ServiceRegistry, UnitContext};
use crate::gen::grpc_health_v1::health_server::HealthServer;
use crate::gen::hsu_core_v1::core_service_server::CoreServiceServer;
use crate::gen::hsu_core_v1::{Runtime, UnitInfo};

/// Exit code: bad environment (unparsable HSU_LISTEN, path too long, ...).
pub const EXIT_BAD_ENV: u8 = 2;
/// Exit code: the handshake with the master failed.
pub const EXIT_HANDSHAKE: u8 = 3;
/// Exit code: the unit's own failure (cannot bind, server error).
pub const EXIT_FAILURE: u8 = 1;

/// After the last call in flight ends, how long the server gets to close its
/// connections before the process exits anyway.
const FLUSH_GRACE: Duration = Duration::from_millis(250);

/// Runs the unit until it is asked to stop; returns the exit code.
/// `register_services` adds the unit's own services (see `src/services/mod.rs`).
pub fn run(register_services: impl FnOnce(&mut ServiceRegistry, &UnitContext)) -> ExitCode {
    let start_time = SystemTime::now();
    let name = env!("CARGO_PKG_NAME");
    let config = match Config::from_process(name) {
        Ok(config) => config,
        Err(reason) => {
            eprintln!("{name}: bad environment: {reason}");
            return ExitCode::from(EXIT_BAD_ENV);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{name}: cannot start the tokio runtime: {err}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let code = runtime.block_on(serve(config, start_time, register_services));
    // Whatever is still running (calls past the deadline) is cancelled here.
    runtime.shutdown_timeout(Duration::from_millis(100));
    ExitCode::from(code)
}

async fn serve(
    config: Config,
    start_time: SystemTime,
    register_services: impl FnOnce(&mut ServiceRegistry, &UnitContext),
) -> u8 {
    let unit_id = config.unit_id.clone();
    let (mut stops, stop_sender) = match StopSources::register(config.master_pid) {
        Ok(pair) => pair,
        Err(err) => {
            eprintln!("{unit_id}: cannot install signal handlers: {err}");
            return EXIT_FAILURE;
        }
    };
    let bound = match config.listen_fd {
        Some(fd) => adopt(fd, &config.listen).map_err(|reason| (reason, EXIT_BAD_ENV)),
        None => bind(&config.listen).await.map_err(|reason| (reason, EXIT_FAILURE)),
    };
    let (bound, address) = match bound {
        Ok(pair) => pair,
        Err((reason, code)) => {
            eprintln!("{unit_id}: {reason}");
            return code;
        }
    };

    let unit = UnitContext {
        unit_id: unit_id.clone(),
        name: env!("CARGO_PKG_NAME").to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        index: config.index,
    };
    let mut registry = ServiceRegistry::new();
    register_services(&mut registry, &unit);

    let mut services: Vec<String> = vec![
        "hsu.core.v1.CoreService".to_string(),
        "grpc.health.v1.Health".to_string(),
        "grpc.reflection.v1.ServerReflection".to_string(),
        "grpc.reflection.v1alpha.ServerReflection".to_string(),
    ];
    services.extend(registry.names.iter().cloned());

    let info = Arc::new(UnitInfo {
        unit_id: unit.unit_id.clone(),
        name: unit.name.clone(),
        version: unit.version.clone(),
        runtime: Some(Runtime {
            language: "rust".to_string(),
            version: env!("HSU_RUSTC_VERSION").to_string(),
            grpc_library: env!("HSU_GRPC_LIBRARY").to_string(),
        }),
        pid: std::process::id() as i32,
        start_time: Some(timestamp(start_time)),
        services: services.clone(),
        address: address.to_string(),
    });

    let (health, health_handle) = create_health(&services);
    let tracker = Arc::new(Tracker::default());
    let drainer = Drainer {
        health: health_handle,
        tracker: tracker.clone(),
    };
    let mut routes = registry.routes;
    let core = Core::new(
        info.clone(),
        config.token.clone(),
        stop_sender,
        drainer.clone(),
        config.config_dir.clone(),
        registry.reconfigure.clone(),
    );
    routes
        .add_service(CoreServiceServer::new(core))
        .add_service(HealthServer::new(health));
    if let Err(reason) = add_reflection(&mut routes, &services) {
        eprintln!("{unit_id}: {reason}");
        return EXIT_FAILURE;
    }

    let (close_server, close_signal) = oneshot::channel::<()>();
    let router = Server::builder()
        .layer(LimitLayer)
        .layer(DrainLayer(tracker.clone()))
        .add_routes(routes.routes());
    let signal = async move {
        let _ = close_signal.await;
    };
    // The socket file guard lives here, so it is removed on every return below.
    let (mut server, _socket_file): (JoinHandle<Result<(), tonic::transport::Error>>, _) =
        match bound {
            Bound::Unix(listener, file) => (
                tokio::spawn(
                    router.serve_with_incoming_shutdown(UnixListenerStream::new(listener), signal),
                ),
                file,
            ),
            Bound::Tcp(listener) => (
                tokio::spawn(router.serve_with_incoming_shutdown(
                    TcpIncoming::from(listener).with_nodelay(Some(true)),
                    signal,
                )),
                None,
            ),
        };
    println!(
        "{unit_id}: serving on {address} (pid {})",
        std::process::id()
    );

    let stop = match &config.master_addr {
        None => tokio::select! {
            stop = stops.next() => stop,
            result = &mut server => return server_ended(&unit_id, result),
        },
        Some(master) => {
            let handshake = register(master, &info, config.token.as_deref());
            tokio::select! {
                outcome = handshake => match outcome {
                    Ok(master_id) => println!("{unit_id}: registered with master {master_id:?} at {master}"),
                    Err(reason) => {
                        eprintln!("{unit_id}: handshake failed: {reason}");
                        return EXIT_HANDSHAKE;
                    }
                },
                stop = stops.next() => return drain(&unit_id, stop, drainer, close_server, server).await,
                result = &mut server => return server_ended(&unit_id, result),
            }
            tokio::select! {
                stop = stops.next() => stop,
                result = &mut server => return server_ended(&unit_id, result),
            }
        }
    };
    drain(&unit_id, stop, drainer, close_server, server).await
}

fn add_reflection(
    routes: &mut tonic::service::RoutesBuilder,
    services: &[String],
) -> Result<(), String> {
    use tonic_reflection::pb::{v1, v1alpha};
    use tonic_reflection::server::Builder;
    // Each version's builder adds only its own descriptor; give both the
    // other's too, and list exactly the served services (the descriptors
    // also hold services this unit only calls, like the master's).
    let configure = || {
        services.iter().fold(
            Builder::configure()
                .register_encoded_file_descriptor_set(crate::gen::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(v1::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(v1alpha::FILE_DESCRIPTOR_SET)
                .include_reflection_service(false),
            |builder, name| builder.with_service_name(name.clone()),
        )
    };
    let v1_service = configure()
        .build_v1()
        .map_err(|e| format!("cannot build reflection v1: {e}"))?;
    let v1alpha_service = configure()
        .build_v1alpha()
        .map_err(|e| format!("cannot build reflection v1alpha: {e}"))?;
    routes.add_service(v1_service).add_service(v1alpha_service);
    Ok(())
}

fn server_ended(
    unit_id: &str,
    result: Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>,
) -> u8 {
    match result {
        Ok(Ok(())) => eprintln!("{unit_id}: the server stopped unexpectedly"),
        Ok(Err(err)) => eprintln!("{unit_id}: the server failed: {err}"),
        Err(err) => eprintln!("{unit_id}: the server task failed: {err}"),
    }
    EXIT_FAILURE
}

/// Health NOT_SERVING, refuse new calls, let calls in flight finish until the
/// deadline, then return 0 (the caller's guard removes the socket file).
///
/// Connections stay open while calls drain, so that a new call is answered
/// UNAVAILABLE by the drain layer rather than refused at the HTTP/2 level
/// (which some clients report as INTERNAL); only then does the server close
/// its listener and connections.
async fn drain(
    unit_id: &str,
    stop: StopRequest,
    drainer: Drainer,
    close_server: oneshot::Sender<()>,
    mut server: JoinHandle<Result<(), tonic::transport::Error>>,
) -> u8 {
    println!(
        "{unit_id}: stopping ({}), draining for up to {:?}",
        stop.reason, stop.deadline
    );
    let deadline = tokio::time::Instant::now() + stop.deadline;
    drainer.begin();
    tokio::select! {
        () = drainer.tracker.idle() => {}
        () = tokio::time::sleep_until(deadline) => {
            eprintln!("{unit_id}: drain deadline passed; cancelling the calls still in flight");
        }
    }
    let _ = close_server.send(());
    // The last replies are written by now or within a moment; a client that
    // keeps a stream open (reflection) must not hold the exit.
    let _ = tokio::time::timeout(FLUSH_GRACE, &mut server).await;
    println!("{unit_id}: stopped");
    0
}
