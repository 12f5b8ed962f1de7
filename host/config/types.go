package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a TOML string such as "30s" or "1m30s" (Go's time.ParseDuration syntax).
type Duration struct {
	D   time.Duration
	Set bool // the file gave a value (so an explicit "0s" is not replaced by the default)
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (examples: \"500ms\", \"30s\", \"2m\")", string(b))
	}
	d.D, d.Set = v, true
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.D.String()), nil }

// ByteSize is a size in bytes: a TOML integer, or a string with a unit such as "64KiB", "1MiB",
// "2GiB" (powers of 1024) or "1MB" (powers of 1000).
type ByteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// UnmarshalTOML implements toml.Unmarshaler.
func (s *ByteSize) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("%d: a size must not be negative", x)
		}
		*s = ByteSize(x)
		return nil
	case string:
		n, err := ParseByteSize(x)
		if err != nil {
			return err
		}
		*s = n
		return nil
	}
	return fmt.Errorf("incompatible types: TOML value has type %s; want a size: an integer number of bytes or a string such as \"1MiB\"", tomlType(v))
}

// ParseByteSize parses a size such as "1MiB" or "4096".
func ParseByteSize(str string) (ByteSize, error) {
	t := strings.TrimSpace(str)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (examples: 4096, \"64KiB\", \"1MiB\")", str)
	}
	return ByteSize(n * mult), nil
}
