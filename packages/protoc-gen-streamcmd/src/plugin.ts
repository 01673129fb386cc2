import { createRequire } from "node:module";
import { createEcmaScriptPlugin, type Plugin } from "@bufbuild/protoplugin";
import { generateTs, type StreamcmdPluginOptions } from "./generate.js";

/** The plugin's version (its package's), printed in every generated file's preamble. */
export const pluginVersion: string = `v${(createRequire(import.meta.url)("../package.json") as { version: string }).version}`;

function parseOptions(raw: { key: string; value: string }[]): StreamcmdPluginOptions {
  const services: string[] = [];
  for (const { key, value } of raw) {
    if (key !== "service") throw new Error(`unknown option "${key}" (protoc-gen-streamcmd takes service=<package.Service>, target=ts and protoplugin's import options)`);
    services.push(...value.split(/[+,]/).filter((name) => name !== ""));
  }
  return { services };
}

/** `protoc-gen-streamcmd` as a protoplugin `Plugin`: run it with `runNodeJs`, or call `run(request)` in tests. */
export const protocGenStreamcmd: Plugin = createEcmaScriptPlugin<StreamcmdPluginOptions>({
  name: "protoc-gen-streamcmd",
  version: pluginVersion,
  parseOptions,
  generateTs,
  // Only TypeScript: JavaScript output would need a TypeScript compiler at generation time.
  transpile() {
    throw new Error("protoc-gen-streamcmd generates TypeScript only: give it the option target=ts (your build compiles the output)");
  },
});
