// Command unit is the echo-go HSU unit. Run it standalone (it listens on
// --listen, else HSU_LISTEN, else 127.0.0.1:50051) or let an HSU master start it.
package main

import (
	"context"
	"log"

	"example.com/echo-go/internal/hsu"
	"example.com/echo-go/internal/services"
)

func main() {
	hsu.Main(hsu.Options{
		Name:     "echo-go",
		Version:  "0.1.0",
		Register: services.Register,
		// Core Reconfigure: the master rewrote $HSU_CONFIG_DIR (`config:` in
		// hsu.yaml) and asks the unit to take the files without a restart.
		// Apply event.Files here; return an error to refuse them (the master
		// then restarts the unit), or drop this hook to always be restarted.
		OnReconfigure: func(ctx context.Context, event hsu.ReconfigureEvent) error {
			for _, f := range event.Files {
				log.Printf("config %s sha256 %s", f.Name, f.SHA256)
			}
			return nil
		},
	})
}
