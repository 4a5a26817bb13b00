package hsu

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// drainingHealth is grpc-go's health server with one change: once the unit
// drains, each Watch stream ends right after it has delivered NOT_SERVING.
// Without that, GracefulStop would wait for every open Watch until the
// deadline, since a Watch never ends on its own.
type drainingHealth struct {
	*health.Server
	mu       sync.Mutex
	draining bool
	drain    chan struct{}
}

func newDrainingHealth() *drainingHealth {
	return &drainingHealth{Server: health.NewServer(), drain: make(chan struct{})}
}

// startDrain turns every service NOT_SERVING (Watch streams are told) and
// ends the Watch streams once they have said so.
func (h *drainingHealth) startDrain() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining {
		return
	}
	h.draining = true
	h.Server.Shutdown()
	close(h.drain)
}

func (h *drainingHealth) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	w := &watchStream{ServerStreamingServer: stream, ctx: ctx, sent: make(chan struct{}), told: make(chan struct{})}
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-h.drain:
		}
		// The first status goes out at once; wait for it so a stream opened
		// just now still sees where the unit stands.
		select {
		case <-w.sent:
		case <-ctx.Done():
		}
		// A stream already showing a status other than SERVING gets no
		// further update (health.Shutdown only changes SERVING ones).
		if w.lastStatus() == healthpb.HealthCheckResponse_SERVING {
			select {
			case <-w.told:
			case <-ctx.Done():
			}
		}
		cancel()
	}()
	err := h.Server.Watch(req, w)
	if stream.Context().Err() == nil && ctx.Err() != nil {
		return status.Error(codes.Unavailable, "the unit is shutting down")
	}
	return err
}

// watchStream remembers the last status sent, and signals once NOT_SERVING
// has gone out.
type watchStream struct {
	grpc.ServerStreamingServer[healthpb.HealthCheckResponse]
	ctx   context.Context
	mu    sync.Mutex
	last  healthpb.HealthCheckResponse_ServingStatus
	sent  chan struct{}
	told  chan struct{}
	once  sync.Once
	first sync.Once
}

func (w *watchStream) Context() context.Context { return w.ctx }

func (w *watchStream) Send(res *healthpb.HealthCheckResponse) error {
	err := w.ServerStreamingServer.Send(res)
	w.mu.Lock()
	w.last = res.GetStatus()
	w.mu.Unlock()
	w.first.Do(func() { close(w.sent) })
	if res.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
		w.once.Do(func() { close(w.told) })
	}
	return err
}

func (w *watchStream) lastStatus() healthpb.HealthCheckResponse_ServingStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}
