import { access, readFile } from 'node:fs/promises'
import type { FastifyPluginAsync } from 'fastify'
import type { DemoUser } from './seed.js'

export interface DemoPageOptions {
  channelId: string
  users: DemoUser[]
}

/** The page's own files, in `public/`; served by name, nothing else from that folder. */
const PUBLIC_FILES = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/demo.js': { file: 'demo.js', type: 'text/javascript; charset=utf-8' },
  '/demo.css': { file: 'demo.css', type: 'text/css; charset=utf-8' },
} as const

const CONTENT_SECURITY_POLICY = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; object-src 'none'; base-uri 'none'"

async function firstExisting(candidates: URL[]): Promise<URL | undefined> {
  for (const candidate of candidates) {
    try {
      await access(candidate)
      return candidate
    } catch {}
  }
  return undefined
}

/** A module of the typed client by name: `index`, `realtime-client`, … (client/ holds one module per job). */
const CLIENT_MODULE = /^[a-z][a-z-]*$/

/**
 * One module of the typed client, as a browser loads it (index.js imports
 * the others by relative URL). Run from the build (`npm start`), it is
 * dist/client/<name>.js, which tsc compiled beside this file. Run from source
 * (`npm run dev`, tsx), it is compiled from client/<name>.ts on first request
 * with TypeScript, a development dependency that the build never needs.
 * Undefined for a name that is no module of the client.
 */
async function loadClientModule(name: string): Promise<string | undefined> {
  const built = await firstExisting([new URL(`../client/${name}.js`, import.meta.url)])
  if (built) return (await readFile(built, 'utf8')).replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n')
  const sourceFile = await firstExisting([new URL(`../client/${name}.ts`, import.meta.url)])
  if (!sourceFile) return undefined
  const source = await readFile(sourceFile, 'utf8')
  const ts = (await import('typescript')).default
  return ts.transpileModule(source, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022, verbatimModuleSyntax: false },
  }).outputText
}

/**
 * The demo page at `/`, for the standalone server in demo mode only (the
 * development secret on the in-memory store): sign in as a demo user, see who
 * is online, set your presence, type and see others typing. `GET /demo/users`
 * hands the page the demo users' tokens, the same the server prints at start.
 */
const demoPage: FastifyPluginAsync<DemoPageOptions> = async (fastify, options) => {
  // Source layout (demo/ beside public/) or the build's (dist/demo/).
  const publicDir = await firstExisting([new URL('../public/', import.meta.url), new URL('../../public/', import.meta.url)])
  if (!publicDir) throw new Error('the demo page needs the public/ folder beside the server')

  for (const [path, { file, type }] of Object.entries(PUBLIC_FILES)) {
    fastify.get(path, async (_request, reply) => {
      const body = await readFile(new URL(file, publicDir))
      return reply.type(type).header('content-security-policy', CONTENT_SECURITY_POLICY).header('cache-control', 'no-cache').send(body)
    })
  }

  const clientModules = new Map<string, Promise<string | undefined>>()
  fastify.get<{ Params: { name: string } }>('/client/:name.js', async (request, reply) => {
    const { name } = request.params
    if (!CLIENT_MODULE.test(name)) return reply.code(404).send({ error: 'not_found', message: 'no such module' })
    let module = clientModules.get(name)
    if (!module) {
      module = loadClientModule(name)
      clientModules.set(name, module)
      module.catch(() => clientModules.delete(name))
    }
    const text = await module
    if (text === undefined) return reply.code(404).send({ error: 'not_found', message: 'no such module' })
    return reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(text)
  })

  fastify.get('/demo/users', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return {
      channel_id: options.channelId,
      users: options.users.map(({ id, username, token }) => ({ id, username, token })),
    }
  })
}

export default demoPage
