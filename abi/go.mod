module github.com/wasmsock/wasmsock/abi

go 1.21
