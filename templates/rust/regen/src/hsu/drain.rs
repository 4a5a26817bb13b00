// Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
// this folder from the template; your code goes in src/services/ and src/main.rs.

//! Tracks calls in flight so a drain knows when it is done, and refuses new
//! calls with UNAVAILABLE once draining. Health and reflection are neither
//! counted nor refused: they are cheap, long-lived infrastructure streams, and
//! health must stay answerable to report NOT_SERVING.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::Notify;
use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tonic::Status;
use tower::{Layer, Service};

/// Starts a drain: NOT_SERVING on health, then new calls refused. Idempotent;
/// called by Shutdown before it replies (so a call sent after the reply is
/// refused) and by the runtime for every other stop.
#[derive(Clone)]
pub struct Drainer {
    pub health: super::health::HealthHandle,
    pub tracker: Arc<Tracker>,
}

impl Drainer {
    /// Health turns NOT_SERVING, then new calls are refused with UNAVAILABLE.
    pub fn begin(&self) {
        self.health.set_not_serving();
        self.tracker.start_draining();
    }
}

/// Shared between the layer (which counts) and the runtime (which waits).
#[derive(Default)]
pub struct Tracker {
    in_flight: AtomicUsize,
    draining: AtomicBool,
    idle: Notify,
}

impl Tracker {
    /// From now on new calls are refused with UNAVAILABLE.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Resolves once no counted call is in flight.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    fn enter(self: &Arc<Self>) -> Guard {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Guard(self.clone())
    }
}

/// Counts one call until its response body is finished or dropped.
pub struct Guard(Arc<Tracker>);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

fn is_infrastructure(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// The tower layer to put in front of every service.
#[derive(Clone)]
pub struct DrainLayer(pub Arc<Tracker>);

impl<S> Layer<S> for DrainLayer {
    type Service = DrainService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DrainService {
            inner,
            tracker: self.0.clone(),
        }
    }
}

/// See [`DrainLayer`].
#[derive(Clone)]
pub struct DrainService<S> {
    inner: S,
    tracker: Arc<Tracker>,
}

impl<S, B> Service<Request<B>> for DrainService<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if is_infrastructure(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        if self.tracker.draining.load(Ordering::SeqCst) {
            let refused = Status::unavailable("the unit is draining and takes no new calls");
            return Box::pin(async move { Ok(refused.into_http()) });
        }
        let guard = self.tracker.enter();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            Ok(response.map(|body| {
                Body::new(Tracked {
                    inner: body,
                    _guard: guard,
                })
            }))
        })
    }
}

/// A response body that holds its call's [`Guard`] until it ends.
struct Tracked {
    inner: Body,
    _guard: Guard,
}

impl HttpBody for Tracked {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
