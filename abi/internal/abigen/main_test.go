package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestUpToDate fails when a file generated from abi/abi.json differs from what the table gives
// (someone edited a generated file, or the table without running make generate).
func TestUpToDate(t *testing.T) {
	if err := run("../../..", true); err != nil {
		t.Fatal(err)
	}
}

// TestValidate checks that mistakes in the table are refused with a message naming them.
func TestValidate(t *testing.T) {
	raw, err := os.ReadFile("../../abi.json")
	if err != nil {
		t.Fatal(err)
	}
	load := func(t *testing.T) *table {
		var tb table
		if err := decodeTable(json.NewDecoder(bytes.NewReader(raw)), &tb); err != nil {
			t.Fatal(err)
		}
		return &tb
	}
	if err := load(t).validate(); err != nil {
		t.Fatalf("the table itself: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(tb *table)
		want   string
	}{
		{"duplicate function", func(tb *table) { tb.Functions = append(tb.Functions, tb.Functions[0]) }, "defined twice"},
		{"bad param type", func(tb *table) { tb.Functions[0].Params[0].Type = "f32" }, "unknown type"},
		{"bad status", func(tb *table) { tb.Functions[0].Status = "BETA" }, "FINAL or DRAFT"},
		{"no doc", func(tb *table) { tb.Functions[0].Doc = " " }, "no doc"},
		{"reserved name", func(tb *table) { tb.Functions[0].Name = "wasmsock_x" }, "reserved name"},
		{"host results", func(tb *table) { tb.Functions[0].Results = []string{"i64"} }, "one i32 status"},
		{"status value twice", func(tb *table) { tb.Statuses[2].Value = tb.Statuses[1].Value }, "used twice"},
		{"positive status", func(tb *table) { tb.Statuses[1].Value = 3 }, "value <= 0"},
		{"camel Go name", func(tb *table) { tb.Functions[0].Go = "funcX" }, "exported Go identifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := load(t)
			tt.mutate(tb)
			err := tb.validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate() = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestMarkdownNeedsSection checks that a function without its section in ABI.md is refused,
// naming the function, rather than silently left undocumented.
func TestMarkdownNeedsSection(t *testing.T) {
	raw, err := os.ReadFile("../../abi.json")
	if err != nil {
		t.Fatal(err)
	}
	var tb table
	if err := decodeTable(json.NewDecoder(bytes.NewReader(raw)), &tb); err != nil {
		t.Fatal(err)
	}
	tb.Functions = append(tb.Functions, fn{Name: "brand_new", Go: "FuncBrandNew", Status: "DRAFT", Doc: "New."})
	md, err := os.ReadFile("../../ABI.md")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := genMarkdown(&tb, md); err == nil || !strings.Contains(err.Error(), "sig:brand_new") {
		t.Fatalf("genMarkdown = %v, want an error naming sig:brand_new", err)
	}
}
