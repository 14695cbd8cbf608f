// Connects the npm `openai` package's Realtime WebSocket client to BASE_URL with KEY and
// prints the first session.created event as one JSON line. Exit 0 on success.
// Node 20 needs --experimental-websocket (the client uses the global WebSocket).
import OpenAI from 'openai';
import { OpenAIRealtimeWebSocket } from 'openai/realtime/websocket';

const client = new OpenAI({ apiKey: process.env.KEY, baseURL: process.env.BASE_URL });
const rt = new OpenAIRealtimeWebSocket({ model: 'realtime-mini' }, client);
const timer = setTimeout(() => {
  console.error('timed out waiting for session.created');
  process.exit(3);
}, 20000);
console.error(`url ${rt.url.protocol}//${rt.url.host}${rt.url.pathname}`);
rt.on('session.created', (event) => {
  console.log(JSON.stringify({ type: event.type, session: event.session.id, url: rt.url.protocol }));
  clearTimeout(timer);
  rt.close();
});
rt.on('error', (err) => {
  console.error('error', err?.message ?? String(err));
  process.exit(2);
});
