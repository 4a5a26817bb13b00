// Command grpc-gateway is the bench's grpc-gateway side: the reverse proxy
// protoc-gen-grpc-gateway generated from the bench's annotated echo.proto,
// served on 127.0.0.1 and forwarding to the echo unit's own address (how
// grpc-gateway is deployed: beside the gRPC server, not through a master).
//
//	grpc-gateway --listen=127.0.0.1:0 --upstream=unix:/path/echo.sock
//
// Prints "listening <host:port>" on stdout once it accepts connections;
// SIGTERM stops it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	echov1 "example.com/hsu-bench-grpc-gateway/gen/hsu/examples/echo/v1"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "host:port to serve REST on")
	upstream := flag.String("upstream", "", "the echo unit's gRPC address (host:port or unix:/path)")
	flag.Parse()
	if *upstream == "" {
		log.Fatal("grpc-gateway: --upstream is required (the echo unit's address, host:port or unix:/path)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	// One client connection for every request, as RegisterEchoServiceHandlerFromEndpoint does.
	conn, err := grpc.NewClient(*upstream, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatalf("grpc-gateway: cannot dial %s: %v", *upstream, err)
	}
	defer conn.Close()
	mux := runtime.NewServeMux()
	if err := echov1.RegisterEchoServiceHandler(ctx, mux, conn); err != nil {
		log.Fatalf("grpc-gateway: register EchoService: %v", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("grpc-gateway: listen on %s: %v", *listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("grpc-gateway: serve: %v", err)
	}
}
