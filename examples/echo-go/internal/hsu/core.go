package hsu

import (
	"context"
	"crypto/subtle"
	"regexp"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "example.com/echo-go/gen/hsu/core/v1"
)

// DefaultDeadline is how long calls in flight may run once a stop starts,
// when the stop request names no deadline (signals; Shutdown without one).
const DefaultDeadline = 5 * time.Second

// coreServer implements hsu.core.v1.CoreService.
type coreServer struct {
	corev1.UnimplementedCoreServiceServer
	info  func() *corev1.UnitInfo
	token string
	// stop starts the graceful stop; it must not block.
	stop func(deadline time.Duration, reason string)
	now  func() time.Time
}

func (c *coreServer) Ping(context.Context, *corev1.PingRequest) (*corev1.PingResponse, error) {
	return &corev1.PingResponse{UnitId: c.info().GetUnitId()}, nil
}

func (c *coreServer) GetInfo(context.Context, *corev1.GetInfoRequest) (*corev1.GetInfoResponse, error) {
	return &corev1.GetInfoResponse{Info: c.info()}, nil
}

func (c *coreServer) Shutdown(ctx context.Context, req *corev1.ShutdownRequest) (*corev1.ShutdownResponse, error) {
	if err := checkBearer(ctx, c.token); err != nil {
		return nil, err
	}
	deadline := req.GetDeadline().AsDuration()
	if req.GetDeadline() == nil || deadline <= 0 {
		deadline = DefaultDeadline
	}
	reason := req.GetReason()
	if reason == "" {
		reason = "Shutdown call"
	}
	c.stop(deadline, reason)
	return &corev1.ShutdownResponse{Deadline: timestamppb.New(c.now().Add(deadline))}, nil
}

var bearerPattern = regexp.MustCompile(`(?i)^\s*Bearer\s+(.+?)\s*$`)

// checkBearer checks the call's `authorization: Bearer <token>` metadata in
// constant time: nil when it matches the unit's token, UNAUTHENTICATED when
// it is missing (or the unit has no token), PERMISSION_DENIED when wrong.
func checkBearer(ctx context.Context, token string) error {
	var presented []byte
	md, _ := metadata.FromIncomingContext(ctx)
	for _, value := range md.Get("authorization") {
		if m := bearerPattern.FindStringSubmatch(value); m != nil {
			presented = []byte(m[1])
			break
		}
	}
	if token == "" || presented == nil {
		return status.Error(codes.Unauthenticated, "Shutdown needs the unit's token as `authorization: Bearer <token>` metadata")
	}
	if subtle.ConstantTimeCompare(presented, []byte(token)) != 1 {
		return status.Error(codes.PermissionDenied, "Shutdown: the token does not match")
	}
	return nil
}

// Unimplemented is the error of an RPC that has no implementation yet:
// UNIMPLEMENTED, naming the method.
func Unimplemented(method string) error {
	return status.Errorf(codes.Unimplemented, "%s is not implemented yet", method)
}
