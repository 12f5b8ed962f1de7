// The package's entry point for AssemblyScript, which resolves `import ... from "@wasmsock/sdk"`
// to node_modules/@wasmsock/sdk/index.ts. The SDK itself is in assembly/.
export * from "./assembly/index";
