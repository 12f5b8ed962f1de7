package config

import (
	"encoding"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// decode stores val, a value of the key at path as the TOML library parses it into a map[string]any,
// in rv, going by the toml tags of the structs. It does not stop at a problem: it reports every
// unknown key and every value of the wrong type, and leaves such a value's field as it was.
func (v *validator) decode(path string, val any, rv reflect.Value) {
	v.set[path] = true
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			rv.Set(reflect.New(rv.Type().Elem()))
		}
		rv = rv.Elem()
	}
	switch u := rv.Addr().Interface().(type) {
	case toml.Unmarshaler: // ByteSize
		if err := u.UnmarshalTOML(val); err != nil {
			v.fail(path, err.Error())
		}
		return
	case encoding.TextUnmarshaler: // Duration
		// Like the TOML library, take a number or a boolean as its text (30 is "30").
		var text string
		switch x := val.(type) {
		case string:
			text = x
		case int64, float64, bool:
			text = fmt.Sprint(x)
		default:
			v.wrongType(path, val, "string")
			return
		}
		if err := u.UnmarshalText([]byte(text)); err != nil {
			v.fail(path, err.Error())
		}
		return
	}

	switch rv.Kind() {
	case reflect.String:
		if s, ok := val.(string); ok {
			rv.SetString(s)
		} else {
			v.wrongType(path, val, "string")
		}
	case reflect.Bool:
		if b, ok := val.(bool); ok {
			rv.SetBool(b)
		} else {
			v.wrongType(path, val, "boolean")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		switch n, ok := val.(int64); {
		case !ok:
			v.wrongType(path, val, "integer")
		case rv.OverflowInt(n):
			v.fail(path, fmt.Sprintf("%d is out of range", n))
		default:
			rv.SetInt(n)
		}
	case reflect.Interface:
		rv.Set(reflect.ValueOf(val))
	case reflect.Struct:
		t, ok := val.(map[string]any)
		if !ok {
			v.wrongType(path, val, "table")
			return
		}
		for _, k := range slices.Sorted(maps.Keys(t)) {
			if f, ok := fieldFor(rv.Type(), k); ok {
				v.decode(childKey(path, k), t[k], rv.FieldByIndex(f.Index))
			} else {
				v.report(childKey(path, k), "unknown key")
			}
		}
	case reflect.Map:
		t, ok := val.(map[string]any)
		switch {
		case !ok:
			v.wrongType(path, val, "table")
		case reflect.TypeOf(t).AssignableTo(rv.Type()):
			rv.Set(reflect.ValueOf(t)) // free-form (map[string]any): taken as it is
		default:
			if rv.IsNil() {
				rv.Set(reflect.MakeMapWithSize(rv.Type(), len(t)))
			}
			for _, k := range slices.Sorted(maps.Keys(t)) {
				elem := reflect.New(rv.Type().Elem()).Elem()
				v.decode(childKey(path, k), t[k], elem)
				rv.SetMapIndex(reflect.ValueOf(k), elem)
			}
		}
	case reflect.Slice:
		a := reflect.ValueOf(val)
		if a.Kind() != reflect.Slice {
			want := "array"
			if e := rv.Type().Elem(); e.Kind() == reflect.Struct || e.Kind() == reflect.Pointer && e.Elem().Kind() == reflect.Struct {
				want = "array of tables"
			}
			v.wrongType(path, val, want)
			return
		}
		rv.Set(reflect.MakeSlice(rv.Type(), a.Len(), a.Len()))
		for i := range a.Len() {
			v.decode(indexKey(path, i), a.Index(i).Interface(), rv.Index(i))
		}
	default:
		panic(fmt.Sprintf("config: decoding into a %s is not supported", rv.Type()))
	}
}

// fieldFor returns the field of struct type t for the TOML key k: the one whose toml tag (or, with
// no tag, its name) is k. Keys are case-sensitive.
func fieldFor(t reflect.Type, k string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" {
			name = f.Name
		}
		if name == k && name != "-" && f.IsExported() {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// wrongType reports a value at path whose TOML type is not the one wanted.
func (v *validator) wrongType(path string, val any, want string) {
	v.fail(path, fmt.Sprintf("incompatible types: TOML value has type %s; want %s", tomlType(val), want))
}

// tomlType names the TOML type of a value as the TOML library parses it.
func tomlType(val any) string {
	switch val.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case time.Time:
		return "datetime"
	case map[string]any:
		return "table"
	case []map[string]any:
		return "array of tables"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", val)
}
