package services

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	pb "example.com/echo-go/gen/hsu/examples/echo/v1"
	"example.com/echo-go/internal/hsu"
)

// EchoServiceImpl implements hsu.examples.echo.v1.EchoService.
// This file is yours: create-hsu-unit never overwrites it; when the .proto
// gains an RPC, `create-hsu-unit regen` adds its stub above the marker line
// at the end of this file. Until written, a method answers UNIMPLEMENTED.
type EchoServiceImpl struct {
	pb.UnimplementedEchoServiceServer
	env hsu.Env
}

// registerEchoService adds the service to the server; Register
// (register_gen.go) calls it. ctx ends when the unit has stopped.
func registerEchoService(ctx context.Context, s grpc.ServiceRegistrar, env hsu.Env) {
	pb.RegisterEchoServiceServer(s, &EchoServiceImpl{env: env})
}

// Echo answers with the message and the unit's id (HSU_UNIT_ID) after
// delay_ms. A call cancelled while it waits (the caller gave up, or the unit
// reached its drain deadline) ends at once with the context's error.
func (s *EchoServiceImpl) Echo(ctx context.Context, req *pb.EchoRequest) (*pb.EchoResponse, error) {
	if delay := time.Duration(req.GetDelayMs()) * time.Millisecond; delay > 0 {
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	return &pb.EchoResponse{Message: req.GetMessage(), UnitId: s.env.UnitID}, nil
}

// hsu:new-rpc-stubs (create-hsu-unit regen adds stubs for new RPCs above this line)
