import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, fromBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { protocGenStreamcmd } from "../plugin.js";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "../..");
const buf = join(packageRoot, "node_modules/.bin/buf");

/** Internal (tests): compiles the protos under `root` with buf and runs the plugin on `files` in-process. */
export function runPlugin(root: string, files: readonly string[], parameter = "target=ts,import_extension=js"): Map<string, string> {
  const out = join(mkdtempSync(join(tmpdir(), "streamcmd-plugin-")), "image.binpb");
  try {
    const built = spawnSync(buf, ["build", root, "--as-file-descriptor-set", "-o", out], { encoding: "utf8" });
    if (built.status !== 0) throw new Error(`buf build ${root} failed: ${built.stderr}`);
    const set = fromBinary(FileDescriptorSetSchema, readFileSync(out));
    const request = create(CodeGeneratorRequestSchema, { fileToGenerate: [...files], parameter, protoFile: set.file });
    const response = protocGenStreamcmd.run(request);
    if (response.error !== undefined && response.error !== "") throw new Error(response.error);
    return new Map(response.file.map((file) => [file.name ?? "", file.content ?? ""]));
  } finally {
    rmSync(dirname(out), { recursive: true, force: true });
  }
}

/** Internal (tests): a throwaway proto module holding `files` (path → source). Returns its root. */
export function protoModule(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "streamcmd-proto-"));
  writeFileSync(join(root, "buf.yaml"), "version: v2\n");
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), source);
  }
  return root;
}
