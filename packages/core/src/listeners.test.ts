import { describe, expect, it } from "vitest";
import { createListeners } from "./listeners.js";

describe("createListeners", () => {
  it("calls every listener with the arguments, and add returns the removal", () => {
    const listeners = createListeners<[string, number]>(() => {});
    const seen: string[] = [];
    const remove = listeners.add((a, b) => seen.push(`one:${a}${b}`));
    listeners.add((a, b) => seen.push(`two:${a}${b}`));
    listeners.emit("x", 1);
    remove();
    listeners.emit("y", 2);
    expect(seen).toEqual(["one:x1", "two:x1", "two:y2"]);
  });

  it("contains a listener that throws: the others still run and onError hears about it", () => {
    const errors: unknown[] = [];
    const listeners = createListeners<[]>((error) => errors.push(error));
    const ran: string[] = [];
    listeners.add(() => {
      throw new Error("listener bug");
    });
    listeners.add(() => ran.push("second"));
    expect(() => listeners.emit()).not.toThrow();
    expect(ran).toEqual(["second"]);
    expect(errors).toEqual([new Error("listener bug")]);
  });
});
