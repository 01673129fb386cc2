import { describe, expect, it } from "vitest";
import { testProtocol, createHarness } from "@streamcmd/testing";
describe("smoke", () => {
  it("works", async () => {
    const h = createHarness(testProtocol);
    const c = await h.connect("a");
    expect(await h.service.send("a", { op: "x" })).toEqual({ echo: { op: "x" } });
    void c;
    await h.close();
  });
});
