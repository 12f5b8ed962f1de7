package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
)

// A compilation cache on disk holds wazero's compiled code, which the host maps and runs as is.
// wazero checks only part of an entry (the code's CRC, not the function offsets that point into
// it), and a truncated or empty entry stops every compile of that module. So the host seals each
// entry with a SHA-256 of its own, kept next to it, and trusts only sealed entries that match:
// an entry that is truncated, bit-flipped, empty or unsealed is removed (with a warning) and the
// module compiled again.

// sealSuffix names the checksum file of a cache entry.
const sealSuffix = ".wasmsock-sha256"

// diskCache is the host's side of a wazero file cache.
type diskCache struct {
	dir string
	log *slog.Logger
	mu  sync.Mutex
}

// diskCaches maps the caches OpenCache returned to their directory.
var diskCaches sync.Map // wazero.CompilationCache -> *diskCache

// verified remembers the entries this process has hashed, by path, with the size and time they
// had: a cache opened again (a test, a check beside a serve) is not read in full again.
var verified sync.Map // path -> verifiedEntry

type verifiedEntry struct {
	size int64
	mod  time.Time
	sum  string
}

// sumOf returns the SHA-256 of the entry at path, from memory when the file has not changed.
func sumOf(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if v, ok := verified.Load(path); ok {
		if e := v.(verifiedEntry); e.size == st.Size() && e.mod.Equal(st.ModTime()) {
			return e.sum, nil
		}
	}
	sum, err := fileSum(path)
	if err == nil {
		verified.Store(path, verifiedEntry{st.Size(), st.ModTime(), sum})
	}
	return sum, err
}

// OpenCache opens (creating it if needed) a compilation cache in dir, shared by plugins and kept
// across restarts. Entries that fail their checksum are removed first; plugins compiled through
// the cache seal the entries they add, and recompile (with a warning) past an entry that breaks.
func OpenCache(dir string, log *slog.Logger) (wazero.CompilationCache, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	dc := &diskCache{dir: dir, log: log}
	dc.verify()
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil, err
	}
	diskCaches.Store(c, dc)
	return c, nil
}

func diskCacheOf(c wazero.CompilationCache) *diskCache {
	if c == nil {
		return nil
	}
	dc, _ := diskCaches.Load(c)
	d, _ := dc.(*diskCache)
	return d
}

// entries calls fn for every cache entry (not seals, not wazero's temporary files).
func (dc *diskCache) entries(fn func(path string)) {
	_ = filepath.WalkDir(dc.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, sealSuffix) || strings.HasSuffix(path, ".tmp") {
			return nil
		}
		fn(path)
		return nil
	})
}

// verify removes every entry whose seal is missing or does not match, and seals without entries.
func (dc *diskCache) verify() {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	dc.entries(func(path string) {
		want, err := os.ReadFile(path + sealSuffix)
		if err != nil {
			dc.remove(path, "entry without a checksum (written by an older host, or cut off while written)")
			return
		}
		got, err := sumOf(path)
		switch {
		case err != nil:
			dc.remove(path, "unreadable: "+err.Error())
		case got != strings.TrimSpace(string(want)):
			dc.remove(path, "checksum mismatch (truncated or corrupted)")
		}
	})
	_ = filepath.WalkDir(dc.dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, sealSuffix) {
			if _, err := os.Stat(strings.TrimSuffix(path, sealSuffix)); errors.Is(err, fs.ErrNotExist) {
				_ = os.Remove(path)
			}
		}
		return nil
	})
}

func (dc *diskCache) remove(path, why string) {
	dc.log.Warn("compilation cache: removing a bad entry; the module is compiled again", "entry", filepath.Base(path), "problem", why)
	_ = os.Remove(path)
	_ = os.Remove(path + sealSuffix)
	verified.Delete(path)
}

// seal writes the checksum of every entry that has none: those wazero just added.
func (dc *diskCache) seal() {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	dc.entries(func(path string) {
		if _, err := os.Stat(path + sealSuffix); err == nil {
			return
		}
		sum, err := sumOf(path)
		if err != nil {
			return
		}
		tmp := path + sealSuffix + ".tmp"
		if os.WriteFile(tmp, []byte(sum+"\n"), 0o644) == nil {
			_ = os.Rename(tmp, path+sealSuffix)
		}
	})
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
