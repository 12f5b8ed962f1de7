package sdk_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// sdkModules are the Go modules of the repository besides the root one: abi (shared by the host
// and the Go SDK), the Go SDK and plugintest. Each has its own go.mod, so that a plugin's module
// graph holds only the SDK, and "go test ./..." at the top does not reach into them.
var sdkModules = []string{"./abi/...", "./sdk/go/...", "./sdk/go/plugintest/..."}

// TestSDKModules runs the tests of the SDK's modules, so that "go test ./..." at the top of the
// repository tests them too (with -race when this test runs with it). -short skips it.
func TestSDKModules(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: run go test " + strings.Join(sdkModules, " ") + " yourself")
	}
	args := []string{"test", "-count=1"}
	if raceEnabled {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(args, sdkModules...)...)
	cmd.Dir = ".."
	// The repository's go.work makes the modules use each other from this checkout.
	cmd.Env = append(os.Environ(), "GOWORK=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	t.Logf("%s", out)
}
