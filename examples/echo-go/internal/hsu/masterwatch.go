package hsu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// MasterPollInterval is how often the unit checks that its master lives;
// the contract asks for at most 500 ms.
const MasterPollInterval = 250 * time.Millisecond

// masterGone tells why the master counts as gone, or "" while it lives: the
// process no longer exists, or this process was re-parented (the master died
// and another process adopted us).
func masterGone(masterPID, parentAtStart int) string {
	if err := syscall.Kill(masterPID, 0); errors.Is(err, syscall.ESRCH) {
		return fmt.Sprintf("master process %d is gone", masterPID)
	}
	if parent := os.Getppid(); parent != parentAtStart {
		return fmt.Sprintf("re-parented from %d to %d: the master is gone", parentAtStart, parent)
	}
	return ""
}

// watchMaster calls onGone once when the master is gone, polling every
// MasterPollInterval until ctx ends.
func watchMaster(ctx context.Context, masterPID int, onGone func(why string)) {
	parentAtStart := os.Getppid()
	ticker := time.NewTicker(MasterPollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if why := masterGone(masterPID, parentAtStart); why != "" {
				onGone(why)
				return
			}
		}
	}
}
