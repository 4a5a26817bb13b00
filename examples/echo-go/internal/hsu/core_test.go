package hsu

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	corev1 "example.com/echo-go/gen/hsu/core/v1"
)

type testUnit struct {
	server *grpc.Server
	health *drainingHealth
	conn   *grpc.ClientConn
	stops  chan stopRequest
}

// startTestUnit serves Core and health on a real Unix socket.
func startTestUnit(t *testing.T, token string) *testUnit {
	t.Helper()
	path := filepath.Join(t.TempDir(), "u.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	u := &testUnit{server: grpc.NewServer(), health: newDrainingHealth(), stops: make(chan stopRequest, 1)}
	info := &corev1.UnitInfo{UnitId: "u1"}
	corev1.RegisterCoreServiceServer(u.server, &coreServer{
		info: func() *corev1.UnitInfo { return info }, token: token, now: time.Now,
		stop: func(d time.Duration, reason string) { u.stops <- stopRequest{d, reason} },
	})
	healthpb.RegisterHealthServer(u.server, u.health)
	u.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	go u.server.Serve(l)
	t.Cleanup(u.server.Stop)
	u.conn, err = grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.conn.Close() })
	return u
}

func withAuth(value string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", value)
}

func TestShutdownChecksTheToken(t *testing.T) {
	u := startTestUnit(t, "tok")
	core := corev1.NewCoreServiceClient(u.conn)
	cases := []struct {
		ctx  context.Context
		want codes.Code
	}{
		{context.Background(), codes.Unauthenticated},
		{withAuth("Basic tok"), codes.Unauthenticated},
		{withAuth("Bearer wrong"), codes.PermissionDenied},
		{withAuth("Bearer to"), codes.PermissionDenied},
	}
	for _, c := range cases {
		_, err := core.Shutdown(c.ctx, &corev1.ShutdownRequest{})
		if status.Code(err) != c.want {
			t.Errorf("want %v, got %v", c.want, err)
		}
	}
	if len(u.stops) != 0 {
		t.Fatal("a refused Shutdown must not stop the unit")
	}
	res, err := core.Shutdown(withAuth("bearer tok"), &corev1.ShutdownRequest{Deadline: durationpb.New(2 * time.Second), Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	stop := <-u.stops
	if stop.deadline != 2*time.Second || stop.reason != "test" || res.GetDeadline() == nil {
		t.Fatalf("stop %+v, reply %v", stop, res)
	}
}

func TestAUnitWithoutATokenRefusesEveryShutdown(t *testing.T) {
	u := startTestUnit(t, "")
	_, err := corev1.NewCoreServiceClient(u.conn).Shutdown(withAuth("Bearer "), &corev1.ShutdownRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("want UNAUTHENTICATED, got %v", err)
	}
}

func TestWatchSeesNotServingThenEndsSoTheDrainIsNotHeldUp(t *testing.T) {
	u := startTestUnit(t, "tok")
	stream, err := healthpb.NewHealthClient(u.conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first status %v, %v", first, err)
	}
	u.health.startDrain()
	second, err := stream.Recv()
	if err != nil || second.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("second status %v, %v", second, err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("the stream must end with UNAVAILABLE, got %v", err)
	}
	// With every Watch ended and no other call in flight, GracefulStop returns
	// by itself; the test's own timeout catches a hang.
	u.server.GracefulStop()
}
