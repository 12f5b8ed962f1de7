// Package loopcheck makes a WebAssembly module interruptible without help from the runtime: it
// adds a mutable i32 global, exported as Export, and at the entry of every function and the head
// of every loop a check of it,
//
//	global.get $stop
//	if
//	  unreachable
//	end
//
// so that once the host sets the global to a non-zero value, the guest traps at its next loop
// iteration or call. A wasm guest can only run for long by looping or by calling (recursion that
// stays shallow can still make 2^n calls), so it stops within one loop iteration, one call, or
// one host call of the flag being set.
//
// The same places count down a second global, and every YieldEvery of them the guest runs
// memory.grow 0, which changes nothing but leaves the compiled code for Go (wazero grows memory in
// Go). Compiled wasm cannot be preempted by the Go runtime, so without such exits a guest that
// spins would hold up every stop-the-world of the process (a garbage collection) until it
// returned: the whole host would stop, the timer that is to interrupt the guest included. A
// module needs a memory for this; one without is refused (the caller falls back).
//
// This replaces wazero's WithCloseOnContextDone, which costs a goroutine per call from Go into the
// guest (to watch the call's context) and an exit to Go at every loop iteration, and does not
// stop a guest that spins without a loop; the check costs a load and a branch per iteration and
// per call, and no goroutine (RATIONALE.md, "Interrupting runaway calls").
//
// Only what the runtime accepts needs to be instrumented: the WebAssembly 2.0 instructions
// (with SIMD) and the threads proposal's atomics. Any other instruction, or a module that already
// exports Export, makes Instrument return an error; the caller then falls back to the runtime's
// own mechanism.
package loopcheck

import (
	"bytes"
	"errors"
	"fmt"
)

// Export is the name under which the stop flag is exported (a mutable i32 global).
const Export = "wasmsock.stop"

// YieldEvery is how many loop iterations and calls a guest makes between two exits to Go.
const YieldEvery = 1000

// checkCode is the code inserted at the entry of every function and the head of every loop.
func checkCode(stop, tick uint32) []byte {
	b := appendU32([]byte{0x23}, stop)          // global.get $stop
	b = append(b, 0x04, 0x40, 0x00, 0x0b)       // if unreachable end
	b = appendU32(append(b, 0x23), tick)        // global.get $tick
	b = append(b, 0x41, 0x01, 0x6b)             // i32.const 1, i32.sub
	b = appendU32(append(b, 0x24), tick)        // global.set $tick
	b = appendU32(append(b, 0x23), tick)        // global.get $tick
	b = append(b, 0x45, 0x04, 0x40)             // i32.eqz, if
	b = append(b, 0x41)                         // i32.const YieldEvery
	b = appendS32(b, YieldEvery)                //
	b = appendU32(append(b, 0x24), tick)        // global.set $tick
	b = append(b, 0x41, 0x00, 0x40, 0x00, 0x1a) // i32.const 0, memory.grow 0, drop
	return append(b, 0x0b)                      // end
}

const (
	secCustom = 0
	secImport = 2
	secMemory = 5
	secGlobal = 6
	secExport = 7
	secCode   = 10
)

// order is the position of each known section id in a module (the tag section, 13, sits between
// memory and global; data count, 12, between element and code).
var order = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

type section struct {
	id   byte
	body []byte
}

// Instrument returns a copy of the module wasm with the stop flag and the loop checks added.
// Custom sections holding DWARF (".debug_*"), whose code offsets the insertions would make wrong,
// are dropped; the others are kept.
func Instrument(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, errors.New("not a WebAssembly module")
	}
	r := &reader{b: wasm, i: 8}
	var secs []section
	importedGlobals, memories := uint32(0), uint32(0)
	var globalIdx = -1
	var exportIdx = -1
	for r.i < len(r.b) {
		id := r.byte()
		size := r.u32()
		if r.err != nil || int(size) > len(r.b)-r.i {
			return nil, errors.New("truncated section")
		}
		body := r.b[r.i : r.i+int(size)]
		r.i += int(size)
		if id == secCustom {
			name, ok := customName(body)
			if !ok {
				return nil, errors.New("bad custom section")
			}
			if len(name) >= 7 && name[:7] == ".debug_" {
				continue
			}
		}
		switch id {
		case secImport:
			g, m, err := countImports(body)
			if err != nil {
				return nil, fmt.Errorf("import section: %w", err)
			}
			importedGlobals, memories = g, memories+m
		case secMemory:
			mr := &reader{b: body}
			memories += mr.u32()
			if mr.err != nil {
				return nil, fmt.Errorf("memory section: %w", mr.err)
			}
		case secGlobal:
			globalIdx = len(secs)
		case secExport:
			exportIdx = len(secs)
		}
		secs = append(secs, section{id, body})
	}
	if r.err != nil {
		return nil, r.err
	}

	if memories == 0 {
		return nil, errors.New("the module has no memory (the exits to Go grow it by 0 pages)")
	}

	// The new globals come after every imported and defined one: no existing index moves.
	definedGlobals := uint32(0)
	stopGlobal := []byte{0x7f, 0x01, 0x41, 0x00, 0x0b} // mut i32 = i32.const 0
	tickGlobal := appendS32([]byte{0x7f, 0x01, 0x41}, YieldEvery)
	tickGlobal = append(tickGlobal, 0x0b) // mut i32 = i32.const YieldEvery
	newGlobals := append(append([]byte(nil), stopGlobal...), tickGlobal...)
	if globalIdx >= 0 {
		body, n, err := appendToVector(secs[globalIdx].body, stopGlobal)
		if err == nil {
			body, n, err = appendToVector(body, tickGlobal)
		}
		if err != nil {
			return nil, fmt.Errorf("global section: %w", err)
		}
		secs[globalIdx].body, definedGlobals = body, n-2
	} else {
		secs = insertSection(secs, section{secGlobal, append([]byte{2}, newGlobals...)})
	}
	stop := importedGlobals + definedGlobals
	tick := stop + 1

	exp := appendName(nil, Export)
	exp = append(exp, 0x03) // global
	exp = appendU32(exp, stop)
	if exportIdx = indexOf(secs, secExport); exportIdx >= 0 {
		if exportsName(secs[exportIdx].body, Export) {
			return nil, fmt.Errorf("the module already exports %q", Export)
		}
		body, _, err := appendToVector(secs[exportIdx].body, exp)
		if err != nil {
			return nil, fmt.Errorf("export section: %w", err)
		}
		secs[exportIdx].body = body
	} else {
		secs = insertSection(secs, section{secExport, append([]byte{1}, exp...)})
	}

	check := checkCode(stop, tick)
	if i := indexOf(secs, secCode); i >= 0 {
		body, err := instrumentCode(secs[i].body, check)
		if err != nil {
			return nil, fmt.Errorf("code section: %w", err)
		}
		secs[i].body = body
	}

	out := append([]byte(nil), wasm[:8]...)
	for _, s := range secs {
		out = append(out, s.id)
		out = appendU32(out, uint32(len(s.body)))
		out = append(out, s.body...)
	}
	return out, nil
}

func indexOf(secs []section, id byte) int {
	for i, s := range secs {
		if s.id == id {
			return i
		}
	}
	return -1
}

// insertSection puts s before the first known section that must follow it.
func insertSection(secs []section, s section) []section {
	at := len(secs)
	for i, o := range secs {
		if o.id != secCustom && order[o.id] > order[s.id] {
			at = i
			break
		}
	}
	secs = append(secs, section{})
	copy(secs[at+1:], secs[at:])
	secs[at] = s
	return secs
}

// appendToVector adds an encoded entry to a section that is a vector of entries, returning the
// new body and the new count.
func appendToVector(body, entry []byte) ([]byte, uint32, error) {
	r := &reader{b: body}
	n := r.u32()
	if r.err != nil {
		return nil, 0, r.err
	}
	out := appendU32(nil, n+1)
	out = append(out, body[r.i:]...)
	return append(out, entry...), n + 1, nil
}

func customName(body []byte) (string, bool) {
	r := &reader{b: body}
	n := r.u32()
	if r.err != nil || int(n) > len(body)-r.i {
		return "", false
	}
	return string(body[r.i : r.i+int(n)]), true
}

// countImports counts the globals and the memories an import section imports.
func countImports(body []byte) (globals, memories uint32, err error) {
	r := &reader{b: body}
	n := r.u32()
	for k := uint32(0); k < n && r.err == nil; k++ {
		r.name()
		r.name()
		switch r.byte() {
		case 0x00: // function: type index
			r.u32()
		case 0x01: // table: reftype, limits
			r.byte()
			r.limits()
		case 0x02: // memory: limits
			r.limits()
			memories++
		case 0x03: // global: valtype, mutability
			r.byte()
			r.byte()
			globals++
		case 0x04: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			return 0, 0, errors.New("unknown import kind")
		}
	}
	if r.err == nil && r.i != len(body) {
		return 0, 0, errors.New("trailing bytes")
	}
	return globals, memories, r.err
}

func exportsName(body []byte, name string) bool {
	r := &reader{b: body}
	n := r.u32()
	for k := uint32(0); k < n && r.err == nil; k++ {
		if r.name() == name {
			return true
		}
		r.byte()
		r.u32()
	}
	return false
}

// instrumentCode rewrites every function body of a code section.
func instrumentCode(body, check []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU32(make([]byte, 0, len(body)+len(body)/8), n)
	var fn []byte
	for k := uint32(0); k < n; k++ {
		size := r.u32()
		if r.err != nil || int(size) > len(body)-r.i {
			return nil, errors.New("truncated function body")
		}
		var err error
		fn, err = instrumentFunc(fn[:0], body[r.i:r.i+int(size)], check)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", k, err)
		}
		r.i += int(size)
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if r.err == nil && r.i != len(body) {
		return nil, errors.New("trailing bytes")
	}
	return out, r.err
}

// instrumentFunc appends to out the function body fn (locals, then code) with check inserted at
// the start of the code and after every loop instruction.
func instrumentFunc(out, fn, check []byte) ([]byte, error) {
	r := &reader{b: fn}
	groups := r.u32()
	for k := uint32(0); k < groups && r.err == nil; k++ {
		r.u32()  // count
		r.byte() // type
	}
	if r.err != nil {
		return nil, r.err
	}
	// The check at the function's entry: a guest can run for ages without a loop, by calls
	// that never nest deep (f calling itself twice with n-1 makes 2^n calls).
	out = append(out, fn[:r.i]...)
	out = append(out, check...)
	from := r.i // fn[from:r.i] is copied but not yet appended
	for r.i < len(fn) {
		op := r.byte()
		loop := op == 0x03
		if err := r.immediates(op); err != nil {
			return nil, err
		}
		if loop {
			out = append(out, fn[from:r.i]...)
			out = append(out, check...)
			from = r.i
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return append(out, fn[from:]...), nil
}

// reader decodes the parts of the binary format the instrumentation needs; the first error sticks.
type reader struct {
	b   []byte
	i   int
	err error
}

var errTruncated = errors.New("truncated")

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.i >= len(r.b) {
		r.err = errTruncated
		return 0
	}
	c := r.b[r.i]
	r.i++
	return c
}

// leb skips or reads an LEB128 number of at most maxBytes bytes and returns its low 32 bits.
func (r *reader) leb(maxBytes int) uint32 {
	var v uint32
	for k := 0; k < maxBytes; k++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if k < 5 {
			v |= uint32(c&0x7f) << (7 * k)
		}
		if c&0x80 == 0 {
			return v
		}
	}
	r.err = errors.New("LEB128 number too long")
	return 0
}

func (r *reader) u32() uint32 { return r.leb(5) }

func (r *reader) skip(n int) {
	if r.err != nil {
		return
	}
	if n > len(r.b)-r.i {
		r.err = errTruncated
		return
	}
	r.i += n
}

func (r *reader) name() string {
	n := r.u32()
	if r.err != nil {
		return ""
	}
	if int(n) > len(r.b)-r.i {
		r.err = errTruncated
		return ""
	}
	s := string(r.b[r.i : r.i+int(n)])
	r.i += int(n)
	return s
}

func (r *reader) limits() {
	flags := r.byte()
	r.leb(10)
	if flags&1 != 0 {
		r.leb(10)
	}
}

func (r *reader) memarg() {
	r.u32() // alignment (bit 6: a memory index follows)
	r.leb(10)
}

func (r *reader) blockType() {
	// 0x40 (empty), a value type (one byte, negative as s33), or a type index (s33 >= 0).
	r.leb(5)
}

// immediates skips the immediates of the instruction op.
func (r *reader) immediates(op byte) error {
	switch {
	case op == 0x02 || op == 0x03 || op == 0x04: // block, loop, if
		r.blockType()
	case op <= 0x01, op == 0x05, op == 0x0b, op == 0x0f, op == 0x1a, op == 0x1b, op == 0xd1:
		// unreachable, nop, else, end, return, drop, select, ref.is_null
	case op == 0x0c || op == 0x0d: // br, br_if
		r.u32()
	case op == 0x0e: // br_table
		n := r.u32()
		for k := uint32(0); k <= n && r.err == nil; k++ {
			r.u32()
		}
	case op == 0x10: // call
		r.u32()
	case op == 0x11: // call_indirect: type, table
		r.u32()
		r.u32()
	case op == 0x1c: // select with types
		n := r.u32()
		r.skip(int(n))
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get, table.set
		r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.memarg()
	case op == 0x3f || op == 0x40: // memory.size, memory.grow
		r.u32()
	case op == 0x41: // i32.const
		r.leb(5)
	case op == 0x42: // i64.const
		r.leb(10)
	case op == 0x43:
		r.skip(4)
	case op == 0x44:
		r.skip(8)
	case op >= 0x45 && op <= 0xc4: // numeric, sign extension
	case op == 0xd0: // ref.null
		r.byte()
	case op == 0xd2: // ref.func
		r.u32()
	case op == 0xfc:
		return r.prefixFC()
	case op == 0xfd:
		return r.prefixFD()
	case op == 0xfe:
		return r.prefixFE()
	default:
		if r.err == nil {
			return fmt.Errorf("instruction 0x%02x not supported", op)
		}
	}
	return r.err
}

func (r *reader) prefixFC() error {
	switch sub := r.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init: data, memory
		r.u32()
		r.u32()
	case sub == 9, sub == 13, sub == 11, sub >= 15 && sub <= 17: // data.drop, elem.drop, memory.fill, table.grow/size/fill
		r.u32()
	case sub == 10, sub == 12, sub == 14: // memory.copy, table.init, table.copy
		r.u32()
		r.u32()
	default:
		if r.err == nil {
			return fmt.Errorf("instruction 0xfc %d not supported", sub)
		}
	}
	return r.err
}

func (r *reader) prefixFD() error {
	switch sub := r.u32(); {
	case sub <= 11, sub == 92, sub == 93: // loads, store, load_zero
		r.memarg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.skip(16)
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		r.byte()
	case sub >= 84 && sub <= 91: // load_lane, store_lane
		r.memarg()
		r.byte()
	case sub <= 0x113: // every other SIMD instruction (relaxed SIMD included) has no immediate
	default:
		if r.err == nil {
			return fmt.Errorf("instruction 0xfd %d not supported", sub)
		}
	}
	return r.err
}

func (r *reader) prefixFE() error {
	switch sub := r.u32(); {
	case sub == 3: // atomic.fence
		r.byte()
	case sub <= 0x4e:
		r.memarg()
	default:
		if r.err == nil {
			return fmt.Errorf("instruction 0xfe %d not supported", sub)
		}
	}
	return r.err
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}

// appendS32 appends v as a signed LEB128 (the encoding of i32.const's immediate).
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
