package hsu

import (
	"context"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// drainGate counts the calls in flight and, once the unit drains, refuses new
// ones with UNAVAILABLE while the connections stay open. (grpc-go's
// GracefulStop alone would reset them with REFUSED_STREAM, which some clients
// report as INTERNAL.) Health and reflection are exempt: a Watch stream must
// see NOT_SERVING, and neither is counted.
type drainGate struct {
	mu       sync.Mutex
	draining bool
	inFlight int
	idle     chan struct{}
}

func newDrainGate() *drainGate { return &drainGate{idle: make(chan struct{})} }

func exempt(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1.ServerReflection/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1alpha.ServerReflection/")
}

// enter admits a call, or refuses it once draining.
func (g *drainGate) enter(fullMethod string) (leave func(), err error) {
	if exempt(fullMethod) {
		return func() {}, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.draining {
		return nil, status.Error(codes.Unavailable, "the unit is shutting down")
	}
	g.inFlight++
	return g.leave, nil
}

func (g *drainGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	if g.draining && g.inFlight == 0 {
		close(g.idle)
	}
}

// drain stops admitting calls; the channel closes when none is in flight.
func (g *drainGate) drain() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.draining {
		g.draining = true
		if g.inFlight == 0 {
			close(g.idle)
		}
	}
	return g.idle
}

func (g *drainGate) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	leave, err := g.enter(info.FullMethod)
	if err != nil {
		return nil, err
	}
	defer leave()
	return handler(ctx, req)
}

func (g *drainGate) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	leave, err := g.enter(info.FullMethod)
	if err != nil {
		return err
	}
	defer leave()
	return handler(srv, ss)
}
