import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "@streamcmd/core";

/** Checks dotted field paths (`"risk.max_position"`): non-empty, no empty segments, no duplicates. */
export function validateFieldPaths(paths: readonly string[]): void {
  if (!Array.isArray(paths) || paths.length === 0) throw new InvalidArgumentError("a partial update needs at least one field path");
  const seen = new Set<string>();
  for (const path of paths) {
    if (typeof path !== "string" || path === "" || path.split(".").some((segment) => segment === "")) {
      throw new InvalidArgumentError(`invalid field path ${JSON.stringify(path)}: use dotted names like "risk.max_position"`);
    }
    if (seen.has(path)) throw new InvalidArgumentError(`field path ${JSON.stringify(path)} is listed twice`);
    seen.add(path);
  }
}

/**
 * A copy of `target` with each of `paths` set to its value in `patch` — or removed where `patch`
 * has no value there (field-mask semantics: listing a path you leave out of the patch clears it).
 * Fields not listed are kept as they are.
 */
export function applyFieldPaths(target: JsonObject, patch: JsonObject, paths: readonly string[]): JsonObject {
  validateFieldPaths(paths);
  const result = structuredClone(target);
  for (const path of paths) {
    const segments = path.split(".");
    const value = lookup(patch, segments);
    const parentSegments = segments.slice(0, -1);
    const leaf = segments[segments.length - 1] as string;
    if (value === undefined) {
      const parent = lookup(result, parentSegments);
      if (isObject(parent)) delete parent[leaf];
      continue;
    }
    let node: JsonObject = result;
    for (const segment of parentSegments) {
      const next = node[segment];
      if (!isObject(next)) node[segment] = {};
      node = node[segment] as JsonObject;
    }
    node[leaf] = structuredClone(value);
  }
  return result;
}

function lookup(root: JsonValue, segments: readonly string[]): JsonValue | undefined {
  let node: JsonValue | undefined = root;
  for (const segment of segments) {
    if (!isObject(node) || !Object.hasOwn(node, segment)) return undefined;
    node = node[segment];
  }
  return node;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
