import { describe, expect, it } from "vitest";
import { restack } from "./caller-stack.js";
import { CommandTimeoutError } from "./errors.js";

describe("restack", () => {
  it("gives an error raised in a timer the stack of the async callers awaiting the call", async () => {
    const fromTimer = () => new Promise<never>((_, reject) => setTimeout(() => reject(new CommandTimeoutError("no reply")), 1));
    async function libraryCall(): Promise<never> {
      try {
        return await fromTimer();
      } catch (error) {
        throw restack(error as CommandTimeoutError, libraryCall);
      }
    }
    async function operatorPressedStart() {
      return await libraryCall();
    }
    const error = (await operatorPressedStart().catch((e: unknown) => e)) as Error;
    expect(error.stack).toMatch(/^CommandTimeoutError: no reply\n/);
    expect(error.stack).toContain("operatorPressedStart");
    expect(error.stack).not.toContain("libraryCall"); // the library's own frame is left out
  });

  it("leaves a frozen error as it is", () => {
    const error = Object.freeze(new Error("frozen"));
    expect(restack(error, restack)).toBe(error);
  });
});
