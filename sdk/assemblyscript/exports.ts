// The guest exports, for a plugin's entry file: `export * from "@wasmsock/sdk/exports";`
// (see assembly/exports.ts).
export * from "./assembly/exports";
