/** What a caller does on the CommandRouter. */
export type RouterAction = "execute" | "post" | "list";

interface Scope {
  action: string;
  service: string;
  clients: RegExp;
}

const cache = new Map<string, Scope | undefined>();

function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, "s");
}

/** `action:service[/clients]`, each part may be `*`; `clients` is a glob on client ids. Undefined if malformed. */
function parse(scope: string): Scope | undefined {
  if (cache.has(scope)) return cache.get(scope);
  const match = /^([a-z*]+):([^/\s]+)(?:\/(\S+))?$/.exec(scope);
  const parsed = match === null ? undefined : { action: match[1] as string, service: match[2] as string, clients: glob(match[3] ?? "*") };
  if (cache.size < 10_000) cache.set(scope, parsed);
  return parsed;
}

/**
 * Whether `scopes` allow `action` on `service` (and on `clientId`, when given). A scope reads
 * `action:service` or `action:service/clients`, each part `*` for any: `execute:bots`,
 * `*:bots/bot-eu-*`, `list:*`. A scope that does not parse allows nothing.
 */
export function scopeAllows(scopes: readonly string[], action: RouterAction, service: string, clientId?: string): boolean {
  return scopes.some((text) => {
    const scope = parse(text);
    if (scope === undefined) return false;
    if (scope.action !== "*" && scope.action !== action) return false;
    if (scope.service !== "*" && scope.service !== service) return false;
    return clientId === undefined || scope.clients.test(clientId);
  });
}
