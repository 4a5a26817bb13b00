// Command protogen compiles the project's .proto files and writes the Go code
// for them into gen/, with nothing but Go: protocompile parses the files, and
// protoc-gen-go and protoc-gen-go-grpc (pinned `tool` dependencies in go.mod)
// run as protoc plugins. Run it from the project root: `go run ./tools/protogen`.
//
// proto/grpc/** is skipped on purpose: grpc-go ships the health and
// reflection services, and registering those types twice would panic.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/pluginpb"
)

func main() {
	protoDir := flag.String("proto", "proto", "folder holding the .proto files, by package path")
	outDir := flag.String("out", "gen", "folder the generated Go code is written to (owned by this tool)")
	flag.Parse()
	if err := run(*protoDir, *outDir); err != nil {
		fmt.Fprintf(os.Stderr, "protogen: %v\n", err)
		os.Exit(1)
	}
}

func run(protoDir, outDir string) error {
	module, err := readModulePath("go.mod")
	if err != nil {
		return err
	}
	names, err := findProtoFiles(protoDir)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("no .proto files under %s/", protoDir)
	}
	compiler := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{protoDir}}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	compiled, err := compiler.Compile(context.Background(), names...)
	if err != nil {
		return fmt.Errorf("compiling %s/: %w", protoDir, err)
	}
	roots := make([]protoreflect.FileDescriptor, len(compiled))
	for i, f := range compiled {
		roots[i] = f
	}
	all := dependencyOrder(roots)
	param := "module=" + module
	for _, f := range all {
		if isWellKnown(f.Path()) {
			continue
		}
		param += fmt.Sprintf(",M%s=%s/%s", f.Path(), module, goImport(outDir, f))
	}
	req := &pluginpb.CodeGeneratorRequest{FileToGenerate: names, Parameter: proto.String(param)}
	for _, f := range all {
		req.ProtoFile = append(req.ProtoFile, protodesc.ToFileDescriptorProto(f))
	}
	var files []*pluginpb.CodeGeneratorResponse_File
	for _, plugin := range []string{"protoc-gen-go", "protoc-gen-go-grpc"} {
		out, err := runPlugin(plugin, req)
		if err != nil {
			return err
		}
		files = append(files, out...)
	}
	return writeOutput(outDir, files)
}

// readModulePath returns the module path declared in go.mod, which prefixes
// every generated package's import path.
func readModulePath(goMod string) (string, error) {
	data, err := os.ReadFile(goMod)
	if err != nil {
		return "", fmt.Errorf("reading %s (run protogen from the project root): %w", goMod, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", fmt.Errorf("%s has no module line", goMod)
}

func findProtoFiles(root string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() && rel == "grpc" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(rel, ".proto") {
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s/: %w", root, err)
	}
	sort.Strings(names)
	return names, nil
}

// dependencyOrder lists the files and everything they import, each file after
// its imports, as a CodeGeneratorRequest requires.
func dependencyOrder(roots []protoreflect.FileDescriptor) []protoreflect.FileDescriptor {
	seen := map[string]bool{}
	var out []protoreflect.FileDescriptor
	var visit func(f protoreflect.FileDescriptor)
	visit = func(f protoreflect.FileDescriptor) {
		if seen[f.Path()] {
			return
		}
		seen[f.Path()] = true
		imports := f.Imports()
		for i := 0; i < imports.Len(); i++ {
			visit(imports.Get(i).FileDescriptor)
		}
		out = append(out, f)
	}
	for _, f := range roots {
		visit(f)
	}
	return out
}

func isWellKnown(p string) bool { return strings.HasPrefix(p, "google/protobuf/") }

// goImport places a file's Go package by its proto package, not by where the
// file sits: hsu.examples.echo.v1 goes to gen/hsu/examples/echo/v1 (package
// echov1), so templates can name the import path from the package alone.
func goImport(outDir string, f protoreflect.FileDescriptor) string {
	pkg := string(f.Package())
	if pkg == "" {
		dir := path.Dir(f.Path())
		base := strings.TrimSuffix(path.Base(f.Path()), ".proto")
		return fmt.Sprintf("%s/%s;%s", path.Join(filepath.ToSlash(outDir), dir), goPackageName(base), goPackageName(base))
	}
	return fmt.Sprintf("%s/%s;%s", filepath.ToSlash(outDir), pathCase(pkg), goPackageName(pkg))
}

var (
	lowerUpper = regexp.MustCompile(`([a-z0-9])([A-Z])`)
	upperWord  = regexp.MustCompile(`([A-Z])([A-Z][a-z])`)
	separators = regexp.MustCompile(`[^A-Za-z0-9]+`)
)

// pathCase turns a proto package into a folder path exactly as the
// templates' Handlebars helper {{pathCase}} does, so an implementation file
// can name the import path: "hsu.examples.echo.v1" -> "hsu/examples/echo/v1",
// "my_company.api.v1" -> "my/company/api/v1".
func pathCase(pkg string) string {
	split := upperWord.ReplaceAllString(lowerUpper.ReplaceAllString(pkg, "$1 $2"), "$1 $2")
	var words []string
	for _, w := range separators.Split(split, -1) {
		if w != "" {
			words = append(words, strings.ToLower(w))
		}
	}
	return strings.Join(words, "/")
}

var versionSegment = regexp.MustCompile(`^v\d+`)
var notIdent = regexp.MustCompile(`[^a-z0-9_]`)

// goPackageName names a generated package like buf's managed mode does:
// "hsu.examples.echo.v1" becomes "echov1", "acme.billing" becomes "billing".
func goPackageName(protoPackage string) string {
	parts := strings.Split(protoPackage, ".")
	name := parts[len(parts)-1]
	if len(parts) > 1 && versionSegment.MatchString(name) {
		name = parts[len(parts)-2] + name
	}
	name = notIdent.ReplaceAllString(strings.ToLower(name), "")
	if name == "" {
		return "pb"
	}
	return name
}

func runPlugin(plugin string, req *pluginpb.CodeGeneratorRequest) ([]*pluginpb.CodeGeneratorResponse_File, error) {
	input, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "tool", plugin)
	cmd.Stdin = bytes.NewReader(input)
	cmd.Stderr = os.Stderr
	output, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("running `go tool %s` (is it a tool in go.mod?): %w", plugin, err)
	}
	var res pluginpb.CodeGeneratorResponse
	if err := proto.Unmarshal(output, &res); err != nil {
		return nil, fmt.Errorf("%s answered something that is not a CodeGeneratorResponse: %w", plugin, err)
	}
	if res.Error != nil {
		return nil, fmt.Errorf("%s: %s", plugin, res.GetError())
	}
	for _, f := range res.File {
		if f.InsertionPoint != nil {
			return nil, fmt.Errorf("%s: insertion points are not supported (%s)", plugin, f.GetName())
		}
	}
	return res.File, nil
}

// writeOutput replaces every generated file under outDir: files that are no
// longer produced (a deleted .proto) disappear, unchanged ones keep their time.
func writeOutput(outDir string, files []*pluginpb.CodeGeneratorResponse_File) error {
	keep := map[string]bool{}
	for _, f := range files {
		// With module=<module path>, names are relative to the project root.
		name := path.Clean(f.GetName())
		if !strings.HasPrefix(name, filepath.ToSlash(outDir)+"/") {
			return fmt.Errorf("a plugin wants to write outside %s/: %s", outDir, f.GetName())
		}
		target := filepath.FromSlash(name)
		keep[target] = true
		if old, err := os.ReadFile(target); err == nil && string(old) == f.GetContent() {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, []byte(f.GetContent()), 0o644); err != nil {
			return err
		}
	}
	err := filepath.WalkDir(outDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".pb.go") || keep[p] {
			return err
		}
		return os.Remove(p)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	fmt.Printf("protogen: %d files in %s/\n", len(keep), outDir)
	return nil
}
