package hsu

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	corev1 "example.com/echo-go/gen/hsu/core/v1"
	masterv1 "example.com/echo-go/gen/hsu/master/v1"
)

// fakeClock advances only when the code under test sleeps.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return nil
}

func startMaster(t *testing.T, m masterv1.RegistrationServiceServer) Address {
	t.Helper()
	addr := Address{Network: "unix", Path: filepath.Join(t.TempDir(), "m.sock")}
	l, err := net.Listen("unix", addr.Path)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	masterv1.RegisterRegistrationServiceServer(s, m)
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return addr
}

type countingMaster struct {
	masterv1.UnimplementedRegistrationServiceServer
	mu          sync.Mutex
	unavailable int // answer UNAVAILABLE this many times first
	other       error
	calls       int
	auth        []string
	info        *corev1.UnitInfo
}

func (m *countingMaster) Register(ctx context.Context, req *masterv1.RegisterRequest) (*masterv1.RegisterResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	md, _ := metadata.FromIncomingContext(ctx)
	m.auth, m.info = md.Get("authorization"), req.GetInfo()
	if m.other != nil {
		return nil, m.other
	}
	if m.unavailable < 0 || m.calls <= m.unavailable {
		return nil, status.Error(codes.Unavailable, "master still starting")
	}
	return &masterv1.RegisterResponse{MasterId: "test-master"}, nil
}

func TestRegisterRetriesUnavailableAndSendsTheToken(t *testing.T) {
	m := &countingMaster{unavailable: 2}
	addr := startMaster(t, m)
	info := &corev1.UnitInfo{UnitId: "u1", Address: "127.0.0.1:1"}
	id, err := Register(context.Background(), addr, "s3cret", info, &fakeClock{})
	if err != nil {
		t.Fatal(err)
	}
	if id != "test-master" || m.calls != 3 {
		t.Fatalf("master id %q after %d calls", id, m.calls)
	}
	if len(m.auth) != 1 || m.auth[0] != "Bearer s3cret" {
		t.Fatalf("authorization metadata = %q", m.auth)
	}
	if m.info.GetUnitId() != "u1" || m.info.GetAddress() != "127.0.0.1:1" {
		t.Fatalf("registered info = %v", m.info)
	}
}

func TestRegisterGivesUpAfterTheRetryWindow(t *testing.T) {
	m := &countingMaster{unavailable: -1}
	addr := startMaster(t, m)
	clock := &fakeClock{now: time.Unix(1000, 0)}
	_, err := Register(context.Background(), addr, "t", &corev1.UnitInfo{}, clock)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("want UNAVAILABLE at the end, got %v", err)
	}
	waited := clock.Now().Sub(time.Unix(1000, 0))
	if waited > RegisterRetryFor || waited < RegisterRetryFor-2*time.Second {
		t.Fatalf("retried for %v, want close to %v", waited, RegisterRetryFor)
	}
}

func TestRegisterFailsAtOnceOnOtherErrors(t *testing.T) {
	m := &countingMaster{other: status.Error(codes.PermissionDenied, "wrong token")}
	addr := startMaster(t, m)
	_, err := Register(context.Background(), addr, "t", &corev1.UnitInfo{}, &fakeClock{})
	if status.Code(err) != codes.PermissionDenied || m.calls != 1 {
		t.Fatalf("want one PERMISSION_DENIED call, got %v after %d calls", err, m.calls)
	}
}
