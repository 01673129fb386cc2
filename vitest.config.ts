import { defineConfig } from "vitest/config";

// Tests run against each package's TypeScript source (the "@streamcmd/source" export condition),
// so most tests need no build; the ones that start separate processes run the built dist/.
const conditions = ["@streamcmd/source", "module", "node", "development|production"];

const packages = ["core", "testing", "transport-connect", "transport-nats", "examples", "protoc-gen-streamcmd"];
const apps = ["bot-server"];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["@streamcmd/source"] } },
  test: {
    projects: [
      ...[...packages.map((name) => `packages/${name}`), ...apps.map((name) => `apps/${name}`)].map((root) => ({
        extends: true,
        test: {
          name: `@streamcmd/${root.split("/")[1]}`,
          root,
          include: ["src/**/*.test.ts"],
        },
      })),
      // Rules of the whole workspace (file sizes, public types, the code users copy).
      { extends: true, test: { name: "workspace", root: ".", include: ["scripts/*.test.ts"] } },
    ],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
