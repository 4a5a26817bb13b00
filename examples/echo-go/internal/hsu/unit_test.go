package hsu

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	corev1 "example.com/echo-go/gen/hsu/core/v1"
)

// waitForSocket polls for the socket file the unit creates once it listens.
func waitForSocket(t *testing.T, path string, exited <-chan int) {
	t.Helper()
	for {
		select {
		case code := <-exited:
			t.Fatalf("the unit exited with %d before listening", code)
		default:
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Type() == os.ModeSocket {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunServesTheContractAndStopsOnShutdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "unit.sock")
	env := map[string]string{"HSU_LISTEN": "unix://" + path, "HSU_TOKEN": "tok", "HSU_UNIT_ID": "unit-1"}
	exited := make(chan int, 1)
	go func() {
		exited <- Run(context.Background(), Options{Name: "test-unit", Version: "1.2.3"}, nil, func(k string) string { return env[k] })
	}()
	waitForSocket(t, path, exited)

	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	core := corev1.NewCoreServiceClient(conn)
	res, err := core.GetInfo(context.Background(), &corev1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	info := res.GetInfo()
	if info.GetUnitId() != "unit-1" || info.GetName() != "test-unit" || info.GetVersion() != "1.2.3" ||
		info.GetAddress() != "unix:"+path || info.GetPid() != int32(os.Getpid()) ||
		info.GetRuntime().GetLanguage() != "go" || info.GetStartTime() == nil {
		t.Fatalf("unexpected info: %v", info)
	}
	for _, s := range []string{"hsu.core.v1.CoreService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} {
		if !slices.Contains(info.GetServices(), s) {
			t.Errorf("services %v lack %s", info.GetServices(), s)
		}
	}
	check, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "hsu.core.v1.CoreService"})
	if err != nil || check.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health %v, %v", check, err)
	}

	if _, err := core.Shutdown(withAuth("Bearer tok"), &corev1.ShutdownRequest{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if code := <-exited; code != ExitOK {
		t.Fatalf("exit code %d, want 0", code)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the socket file is left behind: %v", err)
	}
}

func TestRunExitsTwoOnABadEnvironment(t *testing.T) {
	env := map[string]string{"HSU_LISTEN": "unix:" + filepath.Join(t.TempDir(), strings.Repeat("x", 120))}
	if code := Run(context.Background(), Options{Name: "u"}, nil, func(k string) string { return env[k] }); code != ExitBadEnv {
		t.Fatalf("exit code %d, want %d", code, ExitBadEnv)
	}
}

func TestRunExitsThreeWhenTheMasterRefuses(t *testing.T) {
	master := startMaster(t, &countingMaster{other: status.Error(codes.PermissionDenied, "wrong token")})
	env := map[string]string{"HSU_LISTEN": "127.0.0.1:0", "HSU_MASTER_ADDR": master.String(), "HSU_TOKEN": "t"}
	if code := Run(context.Background(), Options{Name: "u"}, nil, func(k string) string { return env[k] }); code != ExitHandshake {
		t.Fatalf("exit code %d, want %d", code, ExitHandshake)
	}
}
