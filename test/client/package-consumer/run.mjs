// The page in Node, with `ws` as the global WebSocket a browser would provide.
import { WebSocket } from 'ws'

globalThis.WebSocket = WebSocket
setTimeout(() => {
  console.error('the page did not finish within 20 s')
  process.exit(2)
}, 20_000).unref()
const { main } = await import('./dist/page.js')
const result = await main(process.env.REALTIME_URL, process.env.REALTIME_TOKEN, () => console.log('READY'))
console.log('RESULT ' + JSON.stringify(result))
