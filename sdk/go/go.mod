module github.com/wasmsock/wasmsock/sdk/go

// go:wasmexport, which the SDK's exports use, needs Go 1.24.
go 1.24

require github.com/wasmsock/wasmsock/abi v0.0.0

// The modules of the wasmsock repository are not published: they come from the checkout.
replace github.com/wasmsock/wasmsock/abi => ../../abi
