import { defineConfig } from "vitest/config";

// Tests run against each package's TypeScript source (the "@streamcmd/source" export condition),
// so no build is needed before testing.
const conditions = ["@streamcmd/source", "module", "node", "development|production"];

const packages = ["core", "testing", "transport-connect", "examples"];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["@streamcmd/source"] } },
  test: {
    projects: packages.map((name) => ({
      extends: true,
      test: {
        name: `@streamcmd/${name}`,
        root: `packages/${name}`,
        include: ["src/**/*.test.ts"],
      },
    })),
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
