package services

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "example.com/echo-go/gen/hsu/examples/echo/v1"
	"example.com/echo-go/internal/hsu"
)

func TestEchoAnswersWithTheMessageAndTheUnitID(t *testing.T) {
	s := &EchoServiceImpl{env: hsu.Env{UnitID: "echo-3"}}
	res, err := s.Echo(context.Background(), &pb.EchoRequest{Message: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetMessage() != "hello" || res.GetUnitId() != "echo-3" {
		t.Fatalf("got %v", res)
	}
}

func TestEchoStopsWaitingWhenTheCallIsCancelled(t *testing.T) {
	s := &EchoServiceImpl{env: hsu.Env{UnitID: "echo-3"}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// An hour's delay: only the cancellation can end this call.
	_, err := s.Echo(ctx, &pb.EchoRequest{Message: "late", DelayMs: uint32(time.Hour / time.Millisecond)})
	if status.Code(err) != codes.Canceled {
		t.Fatalf("want CANCELLED, got %v", err)
	}
}
