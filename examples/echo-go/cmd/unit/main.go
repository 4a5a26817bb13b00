// Command unit is the echo-go HSU unit. Run it standalone (it listens on
// --listen, else HSU_LISTEN, else 127.0.0.1:50051) or let an HSU master start it.
package main

import (
	"example.com/echo-go/internal/hsu"
	"example.com/echo-go/internal/services"
)

func main() {
	hsu.Main(hsu.Options{
		Name:     "echo-go",
		Version:  "0.1.0",
		Register: services.Register,
	})
}
