// Internal: the limits a hello's metadata is held to.

/** UTF-8 bytes of `text` without encoding it (what the metadata limit counts). */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      bytes += 4; // a surrogate pair: one 4-byte character
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Internal: why a hello's metadata is refused, or undefined: it must be a few short strings, not a memory sink. */
export function metadataProblem(metadata: Record<string, string> | undefined, limits: { maxMetadataEntries: number; maxMetadataBytes: number }): string | undefined {
  if (metadata === undefined) return undefined;
  const entries = Object.entries(metadata);
  if (entries.length > limits.maxMetadataEntries) return `the hello carries ${entries.length} metadata entries (limit ${limits.maxMetadataEntries})`;
  let bytes = 0;
  for (const [key, value] of entries) {
    if (typeof value !== "string") return `metadata "${key.slice(0, 40)}" is not a string`;
    bytes += utf8Length(key) + utf8Length(value);
  }
  return bytes > limits.maxMetadataBytes ? `the hello's metadata is ${bytes} bytes (limit ${limits.maxMetadataBytes})` : undefined;
}
