package hsu

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// MaxUnixPath is the longest Unix socket path the kernel accepts, in bytes
// (sun_path is 108 bytes including the terminating NUL).
const MaxUnixPath = 107

// Address is a parsed address in the one syntax of the unit contract:
// `unix:/abs/path`, `unix:///abs/path`, `host:port` or `tcp://host:port`.
type Address struct {
	// Network is "unix" or "tcp".
	Network string
	// Path is the socket file of a "unix" address.
	Path string
	// Host and Port are set for a "tcp" address (Port 0: any free port).
	Host string
	Port int
}

var hostPortPattern = regexp.MustCompile(`^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$`)

// ParseAddress parses an address; the error names the input and the rule it broke.
func ParseAddress(input string) (Address, error) {
	text := strings.TrimSpace(input)
	if rest, ok := strings.CutPrefix(text, "unix:"); ok {
		path := rest
		if p, ok := strings.CutPrefix(rest, "//"); ok {
			path = p
		}
		if !strings.HasPrefix(path, "/") {
			return Address{}, fmt.Errorf("address %q: a unix socket path must be absolute, like unix:/run/hsu/api.sock", input)
		}
		if strings.ContainsRune(path, 0) {
			return Address{}, fmt.Errorf("address %q: the socket path contains a NUL byte", input)
		}
		if len(path) > MaxUnixPath {
			return Address{}, fmt.Errorf("address %q: the socket path is %d bytes; the kernel allows at most %d - use a shorter directory",
				input, len(path), MaxUnixPath)
		}
		return Address{Network: "unix", Path: path}, nil
	}
	hostPort := strings.TrimPrefix(text, "tcp://")
	m := hostPortPattern.FindStringSubmatch(hostPort)
	if m == nil {
		return Address{}, fmt.Errorf("address %q: expected unix:/path/to.sock or host:port (for example 127.0.0.1:0)", input)
	}
	port, _ := strconv.Atoi(m[2])
	if port > 65535 {
		return Address{}, fmt.Errorf("address %q: port %d is above 65535", input, port)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(m[1], "["), "]")
	return Address{Network: "tcp", Host: host, Port: port}, nil
}

// String formats the address in its canonical form: `unix:/path` or
// `host:port` (an IPv6 host in brackets).
func (a Address) String() string {
	if a.Network == "unix" {
		return "unix:" + a.Path
	}
	return net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
}

// Target is the address in the form grpc.NewClient dials.
func (a Address) Target() string {
	if a.Network == "unix" {
		return "unix://" + a.Path
	}
	return "passthrough:///" + a.String()
}

// Listen binds the address and returns the listener with the address actually
// bound (the real port when port 0 was asked). A stale socket file at a Unix
// path is removed first; any other kind of file there is an error.
func Listen(a Address) (net.Listener, Address, error) {
	if a.Network == "unix" {
		if err := removeStaleSocket(a.Path); err != nil {
			return nil, Address{}, err
		}
		l, err := net.Listen("unix", a.Path)
		if err != nil {
			return nil, Address{}, fmt.Errorf("listening on %s: %w", a, err)
		}
		// Closing the listener removes the socket file.
		l.(*net.UnixListener).SetUnlinkOnClose(true)
		return l, a, nil
	}
	l, err := net.Listen("tcp", a.String())
	if err != nil {
		return nil, Address{}, fmt.Errorf("listening on %s: %w", a, err)
	}
	bound := l.Addr().(*net.TCPAddr)
	host := bound.IP.String()
	// A master on this machine cannot dial "0.0.0.0"; report the loopback
	// address of the same family instead.
	if bound.IP.IsUnspecified() {
		host = "127.0.0.1"
		if bound.IP.To4() == nil {
			host = "::1"
		}
	}
	return l, Address{Network: "tcp", Host: host, Port: bound.Port}, nil
}

func removeStaleSocket(path string) error {
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking the socket path %s: %w", path, err)
	}
	if info.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("socket path %s: a file that is not a socket is in the way; remove it or pick another path", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("removing the stale socket %s: %w", path, err)
	}
	return nil
}
