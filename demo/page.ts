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

/**
 * The typed client as a browser module. Run from the build (`npm start`), it
 * is dist/client/index.js, which tsc compiled beside this file. Run from
 * source (`npm run dev`, tsx), it is compiled from client/index.ts on first
 * request with TypeScript, a development dependency that the build never needs.
 */
async function loadClientModule(): Promise<string> {
  const built = new URL('../client/index.js', import.meta.url)
  const found = await firstExisting([built])
  if (found) return (await readFile(found, 'utf8')).replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n')
  const source = await readFile(new URL('../client/index.ts', import.meta.url), 'utf8')
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
  let clientModule: Promise<string> | undefined

  for (const [path, { file, type }] of Object.entries(PUBLIC_FILES)) {
    fastify.get(path, async (_request, reply) => {
      const body = await readFile(new URL(file, publicDir))
      return reply.type(type).header('content-security-policy', CONTENT_SECURITY_POLICY).header('cache-control', 'no-cache').send(body)
    })
  }

  fastify.get('/client/index.js', async (_request, reply) => {
    clientModule ??= loadClientModule().catch((error: unknown) => {
      clientModule = undefined
      throw error
    })
    return reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(await clientModule)
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
