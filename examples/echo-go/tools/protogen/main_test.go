package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestGoPackageNameFollowsBufManagedMode(t *testing.T) {
	cases := map[string]string{
		"hsu.examples.echo.v1":  "echov1",
		"acme.billing.v1beta2":  "billingv1beta2",
		"acme.billing":          "billing",
		"single":                "single",
		"my_company.api_gw.v10": "api_gwv10",
	}
	for pkg, want := range cases {
		if got := goPackageName(pkg); got != want {
			t.Errorf("goPackageName(%q) = %q, want %q", pkg, got, want)
		}
	}
}

func TestPathCaseMatchesTheHandlebarsHelper(t *testing.T) {
	// Outputs of node-plop's {{pathCase}} for the same inputs.
	cases := map[string]string{
		"hsu.examples.echo.v1": "hsu/examples/echo/v1",
		"my_company.api.v1":    "my/company/api/v1",
		"fooBar.Baz_qux.V1":    "foo/bar/baz/qux/v1",
		"acme.HTTPServer.v2":   "acme/http/server/v2",
		"a.b2c.v1alpha1":       "a/b2c/v1alpha1",
		"x__y.z":               "x/y/z",
	}
	for pkg, want := range cases {
		if got := pathCase(pkg); got != want {
			t.Errorf("pathCase(%q) = %q, want %q", pkg, got, want)
		}
	}
}

func TestFindProtoFilesSkipsTheGrpcContracts(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"grpc/health/v1/health.proto", "hsu/core/v1/core.proto", "acme/x.proto", "acme/notes.txt"} {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := findProtoFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"acme/x.proto", "hsu/core/v1/core.proto"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("found %v, want %v", got, want)
	}
}
