// Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
// this folder from the template; your code goes in src/services/ and src/main.rs.

//! Makes an oversized request answer RESOURCE_EXHAUSTED, as the unit contract
//! and the other gRPC implementations do: tonic answers OUT_OF_RANGE when a
//! message is over its decoding limit (4 MiB by default).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::codegen::http::{HeaderValue, Request, Response};
use tonic::Code;
use tower::{Layer, Service};

/// The tower layer; put it around every service.
#[derive(Clone, Default)]
pub struct LimitLayer;

impl<S> Layer<S> for LimitLayer {
    type Service = LimitService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        LimitService { inner }
    }
}

/// See [`LimitLayer`].
#[derive(Clone)]
pub struct LimitService<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for LimitService<S>
where
    S: Service<Request<B>, Response = Response<R>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            remap_too_large(response.headers_mut());
            Ok(response)
        })
    }
}

/// Rewrites a trailers-only OUT_OF_RANGE "message length too large" reply
/// (how tonic refuses an oversized request) to RESOURCE_EXHAUSTED.
pub fn remap_too_large(headers: &mut tonic::codegen::http::HeaderMap) {
    let out_of_range = (Code::OutOfRange as i32).to_string();
    let is_out_of_range = headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == out_of_range.as_bytes());
    let too_large = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.contains("too%20large") || m.contains("too large"));
    if is_out_of_range && too_large {
        let exhausted = (Code::ResourceExhausted as i32).to_string();
        headers.insert(
            "grpc-status",
            HeaderValue::from_str(&exhausted).expect("digits are a valid header"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::codegen::http::HeaderMap;

    fn headers(status: &str, message: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("grpc-status", status.parse().unwrap());
        h.insert("grpc-message", message.parse().unwrap());
        h
    }

    #[test]
    fn only_the_oversize_refusal_is_remapped() {
        let mut h = headers(
            "11",
            "Error,%20decoded%20message%20length%20too%20large:%20found%205%20bytes",
        );
        remap_too_large(&mut h);
        assert_eq!(h["grpc-status"], "8");
        let mut h = headers("11", "index%20out%20of%20range");
        remap_too_large(&mut h);
        assert_eq!(h["grpc-status"], "11");
        let mut h = headers("3", "too%20large");
        remap_too_large(&mut h);
        assert_eq!(h["grpc-status"], "3");
    }
}
