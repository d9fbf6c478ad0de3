/**
 * How deeply a JSON text nests, read without parsing it: a body nested a
 * hundred thousand levels would overflow the stack of a parser (or of the
 * serializer that sends it on) before any schema could refuse it.
 */

/** Stops counting past `limit`: returns `limit + 1` as soon as the text nests deeper. */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c /* \ */) i++
      else if (c === 0x22 /* " */) inString = false
      continue
    }
    if (c === 0x22) inString = true
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > deepest) {
        deepest = depth
        if (deepest > limit) return deepest
      }
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--
  }
  return deepest
}
