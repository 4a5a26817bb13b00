// Package hsu runs this project as an HSU unit, following the unit contract
// (docs/unit-contract.md in the HSU repository): it listens where HSU_LISTEN
// says, serves hsu.core.v1.CoreService, grpc.health.v1 and reflection beside
// your services, registers with the master, and stops gracefully.
//
// It was written into the project by create-hsu-unit; you may change it, but
// the conformance suite checks the behaviour it implements.
package hsu

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"syscall"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/types/known/timestamppb"

	corev1 "example.com/echo-go/gen/hsu/core/v1"
)

// Exit codes of the unit contract.
const (
	ExitOK           = 0
	ExitFailure      = 1
	ExitBadEnv       = 2
	ExitHandshake    = 3
	masterDeathGrace = time.Second
)

// processStart approximates the process start time: package variables are
// set before main runs.
var processStart = time.Now()

// Options describe the unit to Main.
type Options struct {
	// Name is the unit's name, and its id when no master gives one.
	Name string
	// Version is the unit's own version, reported by GetInfo.
	Version string
	// Register adds the domain services to the server. ctx ends when the unit
	// has stopped: tie background work the services start to it.
	Register func(ctx context.Context, s grpc.ServiceRegistrar, env Env)
	// ServerOptions are passed to grpc.NewServer (interceptors, limits, ...).
	ServerOptions []grpc.ServerOption
}

// Main runs the unit and exits the process with the contract's exit code.
func Main(opts Options) {
	os.Exit(Run(context.Background(), opts, os.Args[1:], os.Getenv))
}

type stopRequest struct {
	deadline time.Duration
	reason   string
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[hsu] "+format+"\n", args...)
}

// Run serves the unit until it is asked to stop and returns the exit code.
func Run(ctx context.Context, opts Options, args []string, getenv func(string) string) int {
	// Catch the stop signals first, so one that comes while starting still
	// ends in a graceful stop with code 0.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)
	flags := flag.NewFlagSet(opts.Name, flag.ContinueOnError)
	listenFlag := flags.String("listen", "", "address to listen on when HSU_LISTEN is unset: unix:/path.sock or host:port (default "+DefaultListen+")")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitBadEnv
	}
	env, err := ReadEnv(getenv, opts.Name, *listenFlag)
	if err != nil {
		logf("bad environment: %v", err)
		return ExitBadEnv
	}
	listener, bound, err := Listen(env.Listen)
	if err != nil {
		logf("bad environment: %v", err)
		return ExitBadEnv
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stops := make(chan stopRequest, 1)
	requestStop := func(deadline time.Duration, reason string) {
		select {
		case stops <- stopRequest{deadline, reason}:
		default: // a stop is already under way
		}
	}
	gate := newDrainGate()
	serverOptions := append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(gate.unary),
		grpc.ChainStreamInterceptor(gate.stream),
	}, opts.ServerOptions...)
	server := grpc.NewServer(serverOptions...)
	health := newDrainingHealth()
	var info *corev1.UnitInfo
	healthpb.RegisterHealthServer(server, health)
	reflection.Register(server)
	corev1.RegisterCoreServiceServer(server, &coreServer{
		info: func() *corev1.UnitInfo { return info }, token: env.Token, stop: requestStop, now: time.Now,
	})
	if opts.Register != nil {
		opts.Register(ctx, server, env)
	}
	services := make([]string, 0)
	for name := range server.GetServiceInfo() {
		services = append(services, name)
	}
	sort.Strings(services)
	health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for _, name := range services {
		health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	info = &corev1.UnitInfo{
		UnitId:  env.UnitID,
		Name:    opts.Name,
		Version: opts.Version,
		Runtime: &corev1.Runtime{
			Language:    "go",
			Version:     runtime.Version(),
			GrpcLibrary: "grpc-go v" + grpc.Version,
		},
		Pid:       int32(os.Getpid()),
		StartTime: timestamppb.New(processStart),
		Services:  services,
		Address:   bound.String(),
	}

	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	logf("unit %q serving on %s", env.UnitID, bound)

	if env.MasterPID != 0 {
		go watchMaster(ctx, env.MasterPID, func(why string) { requestStop(masterDeathGrace, why) })
	}
	registered := make(chan error, 1)
	if env.MasterAddr != nil {
		go func() {
			masterID, err := Register(ctx, *env.MasterAddr, env.Token, info, realClock{})
			if err == nil {
				logf("registered with master %q at %s", masterID, env.MasterAddr)
			}
			registered <- err
		}()
	}

	for {
		select {
		case err := <-registered:
			if err != nil {
				logf("handshake failed: %v", err)
				server.Stop()
				return ExitHandshake
			}
		case sig := <-signals:
			requestStop(DefaultDeadline, sig.String())
		case stop := <-stops:
			drain(server, health, gate, stop, signals)
			return ExitOK
		case err := <-served:
			logf("serving on %s failed: %v", bound, err)
			return ExitFailure
		}
	}
}

// drain stops gracefully: health turns NOT_SERVING and new calls are refused
// with UNAVAILABLE; calls in flight may finish until the deadline, then the
// server stops (cancelling what is left when the deadline passed, or at once
// on a second signal). Closing the listener removes the socket file.
func drain(server *grpc.Server, health *drainingHealth, gate *drainGate, stop stopRequest, signals <-chan os.Signal) {
	logf("stopping (%s); draining for up to %s", stop.reason, stop.deadline)
	health.startDrain()
	idle := gate.drain()
	timer := time.NewTimer(stop.deadline)
	defer timer.Stop()
	force := func(why string) {
		logf("%s; cancelling calls in flight", why)
		server.Stop()
		logf("stopped: %s", stop.reason)
	}
	select {
	case <-idle:
	case <-timer.C:
		force("deadline reached with calls in flight")
		return
	case sig := <-signals:
		force(sig.String() + " during the drain")
		return
	}
	// Only exempt streams (health Watch, reflection) can still be open; they
	// end on their own once they have said NOT_SERVING.
	done := make(chan struct{})
	go func() {
		server.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		logf("stopped: %s", stop.reason)
		return
	case <-timer.C:
		force("deadline reached with streams open")
	case sig := <-signals:
		force(sig.String() + " during the drain")
	}
	<-done
}
