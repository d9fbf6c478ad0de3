import { createServer } from 'node:net'

/** A loopback port free right now (the OS picks it; the caller binds it next). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  await new Promise<void>((done) => server.close(() => done()))
  return port
}
