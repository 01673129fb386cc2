import { describe, expect, it } from "vitest";
import { scopeAllows } from "./scopes.js";

describe("scopes", () => {
  it.each([
    [["execute:bots"], "execute", "bots", "bot-1", true],
    [["execute:bots"], "post", "bots", "bot-1", false],
    [["execute:bots"], "execute", "fleet", "bot-1", false],
    [["*:demo.bot.v1.BotService/eu-*"], "execute", "demo.bot.v1.BotService", "eu-1", true],
    [["*:bots"], "list", "bots", undefined, true],
    [["execute:*"], "execute", "anything", "x", true],
    [["execute:bots/bot-eu-*"], "execute", "bots", "bot-eu-7", true],
    [["execute:bots/bot-eu-*"], "execute", "bots", "bot-us-1", false],
    [["execute:bots/bot-1"], "execute", "bots", "bot-10", false],
    [["execute:bots/a.b"], "execute", "bots", "axb", false],
    [["not a scope", "exec"], "execute", "bots", "bot-1", false],
    [[], "list", "bots", undefined, false],
  ] as const)("%j allows %s on %s/%s: %s", (scopes, action, service, clientId, allowed) => {
    expect(scopeAllows(scopes, action, service, clientId)).toBe(allowed);
  });
});
