// The host API of bench/host.mjs as a process (servers/host-app.mjs): with
// roomler-realtime under '/realtime' when BENCH_HOST_REALTIME=1, the same
// host without it otherwise. Logging at `warn`, as the other bench servers.
import { serveIpc } from '../lib/common.mjs'
import { buildHost } from './host-app.mjs'

const app = await buildHost(process.env.BENCH_HOST_REALTIME === '1')
serveIpc({})
await app.listen({ port: 0, host: '127.0.0.1' })
process.send({ ready: true, port: app.server.address().port })
