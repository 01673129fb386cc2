import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "@streamcmd/core";
import { applyFieldPaths, validateFieldPaths } from "./index.js";

describe("field paths", () => {
  const current = { risk: { max_position: 5, stop_loss: 0.02 }, symbols: ["BTC"], mode: "paper" };

  it("changes only the listed paths, taking values from the patch", () => {
    const next = applyFieldPaths(current, { risk: { max_position: 9, stop_loss: 0.5 }, mode: "live" }, ["risk.max_position"]);
    expect(next).toEqual({ risk: { max_position: 9, stop_loss: 0.02 }, symbols: ["BTC"], mode: "paper" });
    expect(current.risk.max_position).toBe(5);
  });

  it("creates missing parents and clears a listed path the patch leaves out", () => {
    const next = applyFieldPaths(current, { limits: { daily: 100 } }, ["limits.daily", "mode"]);
    expect(next).toEqual({ risk: { max_position: 5, stop_loss: 0.02 }, symbols: ["BTC"], limits: { daily: 100 } });
  });

  it.each([[[]], [[""]], [["risk..x"]], [["a", "a"]]])("rejects the paths %o", (paths) => {
    expect(() => validateFieldPaths(paths)).toThrow(InvalidArgumentError);
  });
});
