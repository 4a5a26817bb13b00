package hsu

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	corev1 "example.com/echo-go/gen/hsu/core/v1"
	masterv1 "example.com/echo-go/gen/hsu/master/v1"
)

// RegisterRetryFor is how long Register is retried while the master answers
// UNAVAILABLE (it may still be binding its socket).
const RegisterRetryFor = 10 * time.Second

// Clock is the time source of the retry loop, so tests run it without sleeping.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or returns early with ctx's error.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Register performs the handshake: it calls hsu.master.v1.RegistrationService/Register
// at the master with the unit's info and `authorization: Bearer <token>`.
// UNAVAILABLE is retried with backoff for up to RegisterRetryFor; any other
// error is returned at once. It returns the master's id.
func Register(ctx context.Context, master Address, token string, info *corev1.UnitInfo, clock Clock) (string, error) {
	// grpc-go's default reconnect backoff (1 s growing to 2 min) would hide a
	// master that comes up a moment later; retry connecting as fast as we retry calls.
	conn, err := grpc.NewClient(master.Target(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		}))
	if err != nil {
		return "", fmt.Errorf("dialing the master at %s: %w", master, err)
	}
	defer conn.Close()
	client := masterv1.NewRegistrationServiceClient(conn)
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	until := clock.Now().Add(RegisterRetryFor)
	delay := 50 * time.Millisecond
	for {
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		res, err := client.Register(attempt, &masterv1.RegisterRequest{Info: info})
		cancel()
		if err == nil {
			return res.GetMasterId(), nil
		}
		if status.Code(err) != codes.Unavailable || clock.Now().Add(delay).After(until) {
			return "", fmt.Errorf("Register at the master %s: %w", master, err)
		}
		if err := clock.Sleep(ctx, delay); err != nil {
			return "", err
		}
		delay = min(delay*2, time.Second)
	}
}
