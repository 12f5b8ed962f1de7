package host_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium for a test, or skips when it is not installed (and CI is not
// set: in CI a missing browser is a failure).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("Chromium is not installed, and CI is set: .ci/run installs it")
		}
		t.Skip("Chromium not installed: skipping the browser test (apt-get install chromium)")
	}
	// The profile directory is removed after the browser is gone (cleanups run last-in,
	// first-out), ignoring errors: Chromium's helpers may still be writing to it as they exit,
	// which t.TempDir would report as a failure.
	profile, err := os.MkdirTemp("", "wasmsock-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 10 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1100, 760),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return bctx
}

// screenshotDir is where browser tests leave their screenshots: $WASMSOCK_SCREENSHOTS, or a
// temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("WASMSOCK_SCREENSHOTS"); d != "" {
		_ = os.MkdirAll(d, 0o755)
		return d
	}
	return t.TempDir()
}

// TestChatPageInBrowser opens the chat page in two tabs of a real browser: what one sends shows
// up in the other.
func TestChatPageInBrowser(t *testing.T) {
	bctx := browser(t)
	_, base := startConfigTop(t, "chat_page = true", "../plugins/chat/chat.wasm", `
[[route]]
path = "/chat"
plugin = "p"
compression = true
namespace_from = "query:namespace"
user_from = "query:name"`)
	page := "http" + strings.TrimPrefix(base, "ws") + "/"

	alice, cancelA := chromedp.NewContext(bctx)
	defer cancelA()
	bob, cancelB := chromedp.NewContext(bctx)
	defer cancelB()
	online := chromedp.Poll(`document.querySelector('#status').textContent === 'online' &&
		document.querySelector('#rooms li[data-room="general"]:not(.pending)') !== null`, nil, chromedp.WithPollingTimeout(20*time.Second))
	for _, tab := range []struct {
		ctx  context.Context
		name string
	}{{alice, "alice"}, {bob, "bob"}} {
		if err := chromedp.Run(tab.ctx, chromedp.Navigate(page+"?name="+tab.name), online); err != nil {
			t.Fatalf("%s: page did not come online: %v", tab.name, err)
		}
	}
	const text = "Hi everyone, from a real browser"
	if err := chromedp.Run(alice,
		chromedp.SendKeys("#message", text, chromedp.ByQuery),
		chromedp.Click("#send", chromedp.ByQuery),
	); err != nil {
		t.Fatalf("alice sends: %v", err)
	}
	var shot []byte
	arrived := chromedp.Poll(`[...document.querySelectorAll('#messages .msg')].some(m =>
		m.dataset.from === 'alice' && m.dataset.room === 'general' &&
		m.querySelector('.text').textContent === `+jsString(text)+`)`, nil, chromedp.WithPollingTimeout(10*time.Second))
	if err := chromedp.Run(bob, arrived, chromedp.FullScreenshot(&shot, 100)); err != nil {
		t.Fatalf("bob never saw alice's message: %v", err)
	}
	file := filepath.Join(screenshotDir(t), "chat-bob.png")
	if err := os.WriteFile(file, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", file, len(shot))
	// Presence: both pages show who is in the room.
	both := chromedp.Poll(`[...document.querySelectorAll('#people li')].map(li => li.dataset.user).join(',') === 'alice,bob'`,
		nil, chromedp.WithPollingTimeout(10*time.Second))
	for _, tab := range []context.Context{alice, bob} {
		if err := chromedp.Run(tab, both); err != nil {
			t.Fatalf("the page does not show alice and bob in the room: %v", err)
		}
	}
	// The sender's own message is shown once, as its own.
	var own int
	if err := chromedp.Run(alice, chromedp.Evaluate(`document.querySelectorAll('#messages .msg.own').length`, &own)); err != nil || own != 1 {
		t.Errorf("alice's page shows %d own messages (%v), want 1", own, err)
	}
	// alice closes her tab: bob's page no longer shows her in the room.
	cancelA()
	if err := chromedp.Run(bob, chromedp.Poll(`[...document.querySelectorAll('#people li')].map(li => li.dataset.user).join(',') === 'bob'`,
		nil, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("bob's page still shows alice after she left: %v", err)
	}
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
