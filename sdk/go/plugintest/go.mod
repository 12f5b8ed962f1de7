module github.com/wasmsock/wasmsock/sdk/go/plugintest

go 1.26.8

require (
	github.com/tetratelabs/wazero v1.12.0
	github.com/wasmsock/wasmsock v0.0.0
	github.com/wasmsock/wasmsock/abi v0.0.0
	github.com/wasmsock/wasmsock/sdk/go v0.0.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/ws v1.5.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

// The modules of the wasmsock repository are not published: they come from the checkout.
replace (
	github.com/wasmsock/wasmsock => ../../..
	github.com/wasmsock/wasmsock/abi => ../../../abi
	github.com/wasmsock/wasmsock/sdk/go => ..
)
