// Decodes every golden frame with quicktype's TypeScript converters, which
// check what they decode: the frame's `type` picks the converter (any other
// type is an application event). Usage: node --import tsx decode.mts <vectors.json>...
import { readFileSync } from 'node:fs'
import { Convert } from './realtime.js'

type Table = Record<string, { types: Record<string, string>; open?: string }>
const dispatch = JSON.parse(readFileSync(new URL('./dispatch.json', import.meta.url), 'utf8')) as Table
const converters = Convert as unknown as Record<string, (value: any) => any>

for (const path of process.argv.slice(2)) {
  for (const golden of JSON.parse(readFileSync(path, 'utf8')) as Array<{ name: string; direction: string; frame: any }>) {
    const out: Record<string, unknown> = { name: golden.name, direction: golden.direction }
    const table = dispatch[golden.direction]!
    const type = golden.frame?.type
    const variant = typeof type !== 'string' ? undefined : (table.types[type] ?? table.open)
    if (typeof type !== 'string') out.error = 'no type'
    else if (!variant) out.error = 'not a type of this direction'
    else {
      try {
        const value = converters[`to${variant}`]!(JSON.stringify(golden.frame))
        out.variant = variant
        out.json = JSON.parse(converters[`${variant[0]!.toLowerCase()}${variant.slice(1)}ToJson`]!(value))
      } catch (error) {
        out.error = String(error).split('\n')[0]
      }
    }
    process.stdout.write(JSON.stringify(out) + '\n')
  }
}
