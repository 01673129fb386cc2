import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const dir = fileURLToPath(new URL(".", import.meta.url));
const sources = readdirSync(dir).filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"));

describe("@streamcmd/core stays transport-agnostic", () => {
  it("depends on @opentelemetry/api only", () => {
    const manifest = JSON.parse(readFileSync(`${dir}/../package.json`, "utf8")) as { dependencies?: Record<string, string> };
    expect(Object.keys(manifest.dependencies ?? {})).toEqual(["@opentelemetry/api"]);
  });

  it.each(sources)("%s imports nothing from Connect, gRPC or node's http modules", (file) => {
    const imports = [...readFileSync(`${dir}/${file}`, "utf8").matchAll(/from\s+"([^"]+)"/g)].map((m) => m[1]);
    expect(imports.filter((spec) => /^(@connectrpc\/|@grpc\/|node:http|node:https|node:http2|http2?$|https$|node:net)/.test(spec ?? ""))).toEqual([]);
    // Only relative imports, and OpenTelemetry's API (made for libraries: a no-op until an app installs an SDK).
    expect(imports.filter((spec) => !(spec ?? "").startsWith("./") && spec !== "@opentelemetry/api")).toEqual([]);
  });
});
