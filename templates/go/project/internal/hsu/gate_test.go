package hsu

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestDrainGateWaitsForCallsInFlightAndRefusesNewOnes(t *testing.T) {
	g := newDrainGate()
	leave, err := g.enter("/acme.v1.Svc/Slow")
	if err != nil {
		t.Fatal(err)
	}
	idle := g.drain()
	select {
	case <-idle:
		t.Fatal("idle while a call is in flight")
	default:
	}
	if _, err := g.enter("/acme.v1.Svc/Late"); status.Code(err) != codes.Unavailable {
		t.Fatalf("a new call while draining: want UNAVAILABLE, got %v", err)
	}
	if _, err := g.enter("/grpc.health.v1.Health/Watch"); err != nil {
		t.Fatalf("health stays reachable while draining: %v", err)
	}
	leave()
	select {
	case <-idle:
	default:
		t.Fatal("not idle once the last call left")
	}
	if g.drain() != idle {
		t.Fatal("a second drain must return the same signal")
	}
}

func TestDrainGateIsIdleAtOnceWithNothingInFlight(t *testing.T) {
	select {
	case <-newDrainGate().drain():
	default:
		t.Fatal("want idle at once")
	}
}
