import { afterEach, describe, expect, it } from "vitest";
import { testBinding } from "@streamcmd/testing";
import {
  clearRegistry,
  createStreamingService,
  getStreamingService,
  InvalidArgumentError,
  isRegistered,
  listStreamingServices,
  registerStreamingService,
  ServiceAlreadyRegisteredError,
  unregisterStreamingService,
} from "./index.js";

const hub = (name = "bots") => createStreamingService(testBinding, { name });

afterEach(() => {
  clearRegistry();
});

describe("registry", () => {
  it("registers a service and gets it back by name", () => {
    const bots = hub();
    registerStreamingService("bots", bots);
    expect(getStreamingService("bots")).toBe(bots);
  });

  it("returns undefined for a name nobody registered", () => {
    expect(getStreamingService("missing")).toBeUndefined();
  });

  it("isRegistered follows register and unregister", () => {
    expect(isRegistered("bots")).toBe(false);
    registerStreamingService("bots", hub());
    expect(isRegistered("bots")).toBe(true);
    unregisterStreamingService("bots");
    expect(isRegistered("bots")).toBe(false);
  });

  it("lists names in registration order", () => {
    registerStreamingService("b", hub("b"));
    registerStreamingService("a", hub("a"));
    registerStreamingService("c", hub("c"));
    expect(listStreamingServices()).toEqual(["b", "a", "c"]);
  });

  it("lists nothing when empty", () => {
    expect(listStreamingServices()).toEqual([]);
  });

  it("refuses a taken name with ServiceAlreadyRegisteredError and keeps the first", () => {
    const first = hub();
    registerStreamingService("bots", first);
    expect(() => registerStreamingService("bots", hub())).toThrow(ServiceAlreadyRegisteredError);
    expect(() => registerStreamingService("bots", hub())).toThrow(/already registered; pass \{ replace: true \}/);
    expect(getStreamingService("bots")).toBe(first);
  });

  it("registering the same instance twice under one name is harmless", () => {
    const bots = hub();
    registerStreamingService("bots", bots);
    expect(() => registerStreamingService("bots", bots)).not.toThrow();
    expect(listStreamingServices()).toEqual(["bots"]);
  });

  it("replaces a taken name when asked", () => {
    registerStreamingService("bots", hub());
    const second = hub();
    registerStreamingService("bots", second, { replace: true });
    expect(getStreamingService("bots")).toBe(second);
  });

  it("the cleanup returned by register unregisters", () => {
    const cleanup = registerStreamingService("bots", hub());
    cleanup();
    expect(isRegistered("bots")).toBe(false);
  });

  it("a stale cleanup does not remove the replacement", () => {
    const staleCleanup = registerStreamingService("bots", hub());
    const replacement = hub();
    registerStreamingService("bots", replacement, { replace: true });
    staleCleanup();
    expect(getStreamingService("bots")).toBe(replacement);
  });

  it("unregister says whether it removed something", () => {
    registerStreamingService("bots", hub());
    expect(unregisterStreamingService("bots")).toBe(true);
    expect(unregisterStreamingService("bots")).toBe(false);
  });

  it("unregister with an instance removes only that instance", () => {
    const bots = hub();
    registerStreamingService("bots", bots);
    expect(unregisterStreamingService("bots", hub())).toBe(false);
    expect(unregisterStreamingService("bots", bots)).toBe(true);
  });

  it("unregistering does not close the service", () => {
    const bots = hub();
    registerStreamingService("bots", bots);
    unregisterStreamingService("bots");
    expect(bots.closed).toBe(false);
  });

  it("clearRegistry removes everything", () => {
    registerStreamingService("a", hub("a"));
    registerStreamingService("b", hub("b"));
    clearRegistry();
    expect(listStreamingServices()).toEqual([]);
  });

  it.each([[""], ["  "], [" bots"], [42], [undefined]])("rejects the invalid name %o", (name) => {
    expect(() => registerStreamingService(name as string, hub())).toThrow(InvalidArgumentError);
  });

  it("rejects something that is not a streaming service", () => {
    expect(() => registerStreamingService("bots", {} as never)).toThrow(/not a streaming service/);
  });

  it("keeps names independent of each other", () => {
    const a = hub("a");
    const b = hub("b");
    registerStreamingService("a", a);
    registerStreamingService("b", b);
    unregisterStreamingService("a");
    expect(getStreamingService("b")).toBe(b);
  });

  it("stays consistent under many concurrent registrations and lookups", async () => {
    const names = Array.from({ length: 200 }, (_, i) => `svc-${i}`);
    const attempt = async (name: string, yieldFirst: () => Promise<unknown>) => {
      await yieldFirst();
      try {
        registerStreamingService(name, hub(name));
        return "registered";
      } catch (error) {
        return error instanceof ServiceAlreadyRegisteredError ? "refused" : "other";
      }
    };
    // Two tasks race for every name (one after a microtask, one after a macrotask): exactly one wins.
    const outcomes = await Promise.all(
      names.flatMap((name) => [
        attempt(name, () => Promise.resolve()),
        attempt(name, () => new Promise((resolve) => setTimeout(resolve, 0))),
        (async () => {
          await Promise.resolve();
          return isRegistered(name) || getStreamingService(name) === undefined ? "looked" : "other";
        })(),
      ]),
    );
    expect(outcomes.filter((o) => o === "registered")).toHaveLength(200);
    expect(outcomes.filter((o) => o === "refused")).toHaveLength(200);
    expect(outcomes.filter((o) => o === "other")).toHaveLength(0);
    expect(new Set(listStreamingServices())).toEqual(new Set(names));
  });

  it("is shared by two copies of the module loaded side by side", async () => {
    // A query string makes the loader evaluate registry.ts again: a second, independent module copy.
    const specifier = "./registry.js?second-copy";
    const copy = (await import(/* @vite-ignore */ specifier)) as typeof import("./registry.js");
    expect(copy.registerStreamingService).not.toBe(registerStreamingService);
    const bots = hub();
    registerStreamingService("bots", bots);
    expect(copy.getStreamingService("bots")).toBe(bots);
    copy.registerStreamingService("fleet", hub("fleet"));
    expect(listStreamingServices()).toEqual(["bots", "fleet"]);
    copy.clearRegistry();
    expect(isRegistered("bots")).toBe(false);
  });
});
