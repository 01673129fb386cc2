import { afterEach, describe, expect, it } from "vitest";
import { testBinding, testService } from "@streamcmd/testing";
import {
  clearRegistry,
  createStreamingService,
  defineStreamingService,
  getStreamingService,
  InvalidArgumentError,
  isRegistered,
  listStreamingServices,
  registerStreamingService,
  ServiceAlreadyRegisteredError,
  unregisterStreamingService,
} from "./index.js";

const definition = (name: string) => defineStreamingService({ name, binding: testBinding });
const hub = (name = "test") => createStreamingService(name === "test" ? testService : definition(name));

afterEach(() => {
  clearRegistry();
});

describe("registry", () => {
  it("registers a hub under its name and gets it back by its definition", () => {
    const bots = hub();
    registerStreamingService(bots);
    expect(getStreamingService(testService)).toBe(bots);
    expect(getStreamingService(bots)).toBe(bots);
  });

  it("returns undefined for a definition nobody registered", () => {
    expect(getStreamingService(definition("missing"))).toBeUndefined();
  });

  it("refuses to return a hub made from another definition under the same name", () => {
    registerStreamingService(hub());
    const lookalike = definition("test");
    expect(() => getStreamingService(lookalike)).toThrow(InvalidArgumentError);
    expect(() => getStreamingService(lookalike)).toThrow(/made from another definition/);
  });

  it("isRegistered follows register and unregister, by definition or by name", () => {
    expect(isRegistered(testService)).toBe(false);
    registerStreamingService(hub());
    expect(isRegistered(testService)).toBe(true);
    expect(isRegistered("test")).toBe(true);
    unregisterStreamingService("test");
    expect(isRegistered(testService)).toBe(false);
  });

  it("lists names in registration order", () => {
    registerStreamingService(hub("b"));
    registerStreamingService(hub("a"));
    registerStreamingService(hub("c"));
    expect(listStreamingServices()).toEqual(["b", "a", "c"]);
  });

  it("lists nothing when empty", () => {
    expect(listStreamingServices()).toEqual([]);
  });

  it("refuses a taken name with ServiceAlreadyRegisteredError and keeps the first", () => {
    const first = hub();
    registerStreamingService(first);
    expect(() => registerStreamingService(hub())).toThrow(ServiceAlreadyRegisteredError);
    expect(() => registerStreamingService(hub())).toThrow(/already registered; pass \{ replace: true \}/);
    expect(getStreamingService(testService)).toBe(first);
  });

  it("registering the same hub twice is harmless", () => {
    const bots = hub();
    registerStreamingService(bots);
    expect(() => registerStreamingService(bots)).not.toThrow();
    expect(listStreamingServices()).toEqual(["test"]);
  });

  it("replaces a taken name when asked", () => {
    registerStreamingService(hub());
    const second = hub();
    registerStreamingService(second, { replace: true });
    expect(getStreamingService(testService)).toBe(second);
  });

  it("the cleanup returned by register unregisters", () => {
    const cleanup = registerStreamingService(hub());
    cleanup();
    expect(isRegistered("test")).toBe(false);
  });

  it("a stale cleanup does not remove the replacement", () => {
    const staleCleanup = registerStreamingService(hub());
    const replacement = hub();
    registerStreamingService(replacement, { replace: true });
    staleCleanup();
    expect(getStreamingService(testService)).toBe(replacement);
  });

  it("unregister says whether it removed something", () => {
    registerStreamingService(hub());
    expect(unregisterStreamingService("test")).toBe(true);
    expect(unregisterStreamingService("test")).toBe(false);
  });

  it("unregister with a hub removes only that hub", () => {
    const bots = hub();
    registerStreamingService(bots);
    expect(unregisterStreamingService(hub())).toBe(false);
    expect(unregisterStreamingService(bots)).toBe(true);
  });

  it("unregistering does not close the hub", () => {
    const bots = hub();
    registerStreamingService(bots);
    unregisterStreamingService(bots);
    expect(bots.closed).toBe(false);
  });

  it("clearRegistry removes everything", () => {
    registerStreamingService(hub("a"));
    registerStreamingService(hub("b"));
    clearRegistry();
    expect(listStreamingServices()).toEqual([]);
  });

  it.each([[""], ["  "], [" bots"], [42], [undefined]])("refuses to define a service named %o", (name) => {
    expect(() => defineStreamingService({ name: name as string, binding: testBinding })).toThrow(InvalidArgumentError);
  });

  it("rejects something that is not a streaming service", () => {
    expect(() => registerStreamingService({} as never)).toThrow(/not a streaming service/);
    expect(() => registerStreamingService(testService as never)).toThrow(/make one with createStreamingService/);
  });

  it("keeps names independent of each other", () => {
    const a = hub("a");
    const b = hub("b");
    registerStreamingService(a);
    registerStreamingService(b);
    unregisterStreamingService("a");
    expect(listStreamingServices()).toEqual(["b"]);
  });

  it("is shared by two copies of the module loaded side by side", async () => {
    // A query string makes the loader evaluate registry.ts again: a second, independent module copy.
    const specifier = "./registry.js?second-copy";
    const copy = (await import(/* @vite-ignore */ specifier)) as typeof import("./registry.js");
    expect(copy.registerStreamingService).not.toBe(registerStreamingService);
    const bots = hub();
    registerStreamingService(bots);
    expect(copy.getStreamingService(testService)).toBe(bots);
    copy.registerStreamingService(hub("fleet"));
    expect(listStreamingServices()).toEqual(["test", "fleet"]);
    copy.clearRegistry();
    expect(isRegistered("test")).toBe(false);
  });
});
