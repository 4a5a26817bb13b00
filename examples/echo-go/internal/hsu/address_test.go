package hsu

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAddressAcceptsEveryContractForm(t *testing.T) {
	cases := map[string]Address{
		"unix:/run/hsu/a.sock":   {Network: "unix", Path: "/run/hsu/a.sock"},
		"unix:///run/hsu/a.sock": {Network: "unix", Path: "/run/hsu/a.sock"},
		"127.0.0.1:0":            {Network: "tcp", Host: "127.0.0.1", Port: 0},
		"tcp://localhost:50051":  {Network: "tcp", Host: "localhost", Port: 50051},
		"[::1]:8080":             {Network: "tcp", Host: "::1", Port: 8080},
		"tcp://[::1]:0":          {Network: "tcp", Host: "::1", Port: 0},
	}
	for input, want := range cases {
		got, err := ParseAddress(input)
		if err != nil {
			t.Errorf("ParseAddress(%q): %v", input, err)
			continue
		}
		if got != want {
			t.Errorf("ParseAddress(%q) = %+v, want %+v", input, got, want)
		}
	}
}

func TestParseAddressRejectsWithTheReason(t *testing.T) {
	long := "unix:/" + strings.Repeat("x", MaxUnixPath)
	cases := map[string]string{
		"":                   "expected unix:/path/to.sock or host:port",
		"localhost":          "expected unix:/path/to.sock or host:port",
		"unix:relative.sock": "must be absolute",
		"unix://host/a.sock": "must be absolute",
		"127.0.0.1:70000":    "above 65535",
		"http://x:1":         "expected unix:/path/to.sock or host:port",
		long:                 "the kernel allows at most 107",
	}
	for input, want := range cases {
		_, err := ParseAddress(input)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseAddress(%q) error = %v, want it to mention %q", input, err, want)
		}
	}
}

func TestParseAddressAcceptsTheLongestUnixPath(t *testing.T) {
	path := "/" + strings.Repeat("x", MaxUnixPath-1)
	if _, err := ParseAddress("unix:" + path); err != nil {
		t.Fatalf("a %d-byte path must be accepted: %v", len(path), err)
	}
}

func TestStringRoundTrips(t *testing.T) {
	for _, input := range []string{"unix:/tmp/a.sock", "127.0.0.1:9", "[::1]:9", "localhost:50051"} {
		a, err := ParseAddress(input)
		if err != nil {
			t.Fatal(err)
		}
		if a.String() != input {
			t.Errorf("%q formats back as %q", input, a.String())
		}
	}
}

func TestListenReportsTheRealPort(t *testing.T) {
	l, bound, err := Listen(Address{Network: "tcp", Host: "127.0.0.1", Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if bound.Port == 0 || bound.Port != l.Addr().(*net.TCPAddr).Port {
		t.Fatalf("bound %v, listener on %v", bound, l.Addr())
	}
}

func TestListenReplacesAStaleSocketAndRemovesItOnClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "unit.sock")
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	// Leave the file behind, as a killed process would.
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	l, bound, err := Listen(Address{Network: "unix", Path: path})
	if err != nil {
		t.Fatalf("a stale socket must be replaced: %v", err)
	}
	if bound.String() != "unix:"+path {
		t.Fatalf("bound %v", bound)
	}
	l.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the socket file is still there after close: %v", err)
	}
}

func TestListenRefusesToDeleteARegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Listen(Address{Network: "unix", Path: path}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("want a refusal, got %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the file was touched: %v", err)
	}
}
