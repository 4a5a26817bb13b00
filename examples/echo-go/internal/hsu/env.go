package hsu

import (
	"fmt"
	"regexp"
	"strconv"
)

// DefaultListen is where a unit started by hand listens when neither
// HSU_LISTEN nor --listen says otherwise.
const DefaultListen = "127.0.0.1:50051"

// Env is what the master told the unit through its environment
// (docs/unit-contract.md, section 1), already checked.
type Env struct {
	// UnitID is HSU_UNIT_ID, or the unit's name when standalone.
	UnitID string
	// Listen is HSU_LISTEN, else the --listen flag, else DefaultListen.
	Listen Address
	// MasterAddr is HSU_MASTER_ADDR; nil when the unit runs standalone.
	MasterAddr *Address
	// Token is HSU_TOKEN: it authorizes Shutdown here and Register at the master.
	Token string
	// MasterPID is HSU_MASTER_PID; 0 when unset (no watch).
	MasterPID int
	// Index is HSU_INDEX, the replica index in a worker pool; -1 when unset.
	Index int
}

// EnvError is an environment that breaks the contract; the unit exits with code 2.
type EnvError struct{ msg string }

func (e *EnvError) Error() string { return e.msg }

var unitIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ReadEnv reads and checks the contract's variables through getenv. name is
// the unit's name (its id when standalone); listenFlag is the --listen value
// ("" when not given), used only when HSU_LISTEN is unset.
func ReadEnv(getenv func(string) string, name, listenFlag string) (Env, error) {
	env := Env{UnitID: getenv("HSU_UNIT_ID"), Token: getenv("HSU_TOKEN")}
	if env.UnitID == "" {
		env.UnitID = name
	}
	if !unitIDPattern.MatchString(env.UnitID) {
		return Env{}, &EnvError{fmt.Sprintf("HSU_UNIT_ID %q: expected lower-case letters, digits, \".\", \"_\" or \"-\", at most 63 characters", env.UnitID)}
	}
	listen, source := getenv("HSU_LISTEN"), "HSU_LISTEN"
	if listen == "" {
		listen, source = listenFlag, "--listen"
	}
	if listen == "" {
		listen = DefaultListen
	}
	addr, err := ParseAddress(listen)
	if err != nil {
		return Env{}, &EnvError{fmt.Sprintf("%s: %v", source, err)}
	}
	env.Listen = addr
	if raw := getenv("HSU_MASTER_ADDR"); raw != "" {
		master, err := ParseAddress(raw)
		if err != nil {
			return Env{}, &EnvError{fmt.Sprintf("HSU_MASTER_ADDR: %v", err)}
		}
		env.MasterAddr = &master
	}
	if env.MasterPID, err = wholeNumber(getenv, "HSU_MASTER_PID", 0); err != nil {
		return Env{}, err
	}
	if env.Index, err = wholeNumber(getenv, "HSU_INDEX", -1); err != nil {
		return Env{}, err
	}
	return env, nil
}

func wholeNumber(getenv func(string) string, name string, unset int) (int, error) {
	raw := getenv(name)
	if raw == "" {
		return unset, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, &EnvError{fmt.Sprintf("%s %q: expected a whole number", name, raw)}
	}
	return n, nil
}
