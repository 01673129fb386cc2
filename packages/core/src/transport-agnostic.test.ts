import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const dir = fileURLToPath(new URL(".", import.meta.url));
const sources = readdirSync(dir).filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"));

describe("@streamcmd/core stays transport-agnostic", () => {
  it.each(sources)("%s imports nothing from Connect, gRPC or node's http modules", (file) => {
    const imports = [...readFileSync(`${dir}/${file}`, "utf8").matchAll(/from\s+"([^"]+)"/g)].map((m) => m[1]);
    expect(imports.filter((spec) => /^(@connectrpc\/|@grpc\/|node:http|node:https|node:http2|http2?$|https$|node:net)/.test(spec ?? ""))).toEqual([]);
    // Only relative imports: the core has no runtime dependencies at all.
    expect(imports.filter((spec) => !(spec ?? "").startsWith("./"))).toEqual([]);
  });
});
