// A webhook receiver on 127.0.0.1 that collects the events it is sent (signatures are
// webhook.test.mjs' business).
import http from 'node:http';

export async function webhookReceiver() {
  const events = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      events.push(JSON.parse(Buffer.concat(chunks).toString()));
      res.writeHead(200).end('ok');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    events,
    close: () => { server.closeAllConnections(); return new Promise((r) => server.close(r)); },
  };
}
