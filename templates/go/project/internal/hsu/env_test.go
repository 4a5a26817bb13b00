package hsu

import (
	"errors"
	"strings"
	"testing"
)

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestReadEnvStandaloneDefaults(t *testing.T) {
	env, err := ReadEnv(envOf(nil), "my-unit", "")
	if err != nil {
		t.Fatal(err)
	}
	if env.UnitID != "my-unit" || env.Listen.String() != DefaultListen || env.MasterAddr != nil || env.MasterPID != 0 || env.Index != -1 {
		t.Fatalf("unexpected standalone env: %+v", env)
	}
}

func TestReadEnvHsuListenWinsOverTheFlag(t *testing.T) {
	env, err := ReadEnv(envOf(map[string]string{"HSU_LISTEN": "unix:///tmp/u.sock"}), "u", "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if env.Listen.String() != "unix:/tmp/u.sock" {
		t.Fatalf("listen = %v", env.Listen)
	}
	env, err = ReadEnv(envOf(nil), "u", "tcp://127.0.0.1:7")
	if err != nil || env.Listen.String() != "127.0.0.1:7" {
		t.Fatalf("the flag must apply when HSU_LISTEN is unset: %v %v", env.Listen, err)
	}
}

func TestReadEnvUnderAMaster(t *testing.T) {
	env, err := ReadEnv(envOf(map[string]string{
		"HSU_UNIT_ID": "echo-1", "HSU_MASTER_ADDR": "unix:/tmp/m.sock", "HSU_TOKEN": "t",
		"HSU_MASTER_PID": "42", "HSU_INDEX": "3", "HSU_LISTEN": "127.0.0.1:0",
	}), "echo", "")
	if err != nil {
		t.Fatal(err)
	}
	if env.UnitID != "echo-1" || env.MasterAddr.String() != "unix:/tmp/m.sock" || env.Token != "t" || env.MasterPID != 42 || env.Index != 3 {
		t.Fatalf("unexpected env: %+v", env)
	}
}

func TestReadEnvNamesTheBadVariable(t *testing.T) {
	cases := map[string]map[string]string{
		"HSU_LISTEN":      {"HSU_LISTEN": "nowhere"},
		"HSU_MASTER_ADDR": {"HSU_MASTER_ADDR": "unix:rel.sock"},
		"HSU_UNIT_ID":     {"HSU_UNIT_ID": "Upper"},
		"HSU_MASTER_PID":  {"HSU_MASTER_PID": "-1"},
		"HSU_INDEX":       {"HSU_INDEX": "one"},
	}
	for name, vars := range cases {
		_, err := ReadEnv(envOf(vars), "u", "")
		var envErr *EnvError
		if !errors.As(err, &envErr) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: want an EnvError naming it, got %v", name, err)
		}
	}
}
