// Baseline (ii): a Node `ws` broadcast server, as a user would write it.
// Subscribers connect to "/"; a publisher connects to "/publish" and every message it sends is
// written to each subscriber (one frame per socket), then acknowledged with "ok".
// No permessage-deflate. Run: node broadcast.mjs PORT
import { WebSocketServer } from "ws";

const port = Number(process.argv[2]);
const subscribers = new Set();
const server = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false, backlog: 1024 });

server.on("connection", (ws, request) => {
  if (request.url === "/publish") {
    ws.on("message", (data, isBinary) => {
      for (const client of subscribers) {
        client.send(data, { binary: isBinary });
      }
      ws.send("ok");
    });
    return;
  }
  subscribers.add(ws);
  ws.on("close", () => subscribers.delete(ws));
  ws.on("error", () => subscribers.delete(ws));
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    for (const client of server.clients) client.terminate();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
