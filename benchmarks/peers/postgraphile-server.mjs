// PostGraphile 5 over the benchmark's database, for `sharegraph bench --peer postgraphile`.
// Usage: node postgraphile-server.mjs <connection string> <port> <workers> <schemas, comma-separated>
// Amber preset (the v5 default), no JWT, no row-level policies: it connects as the role in the
// connection string. With workers > 1, node:cluster forks that many processes on one port.
import cluster from "node:cluster";
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const [connectionString, port, workers, schemas] = process.argv.slice(2);
const count = Number(workers || "1");

if (count > 1 && cluster.isPrimary) {
  for (let i = 0; i < count; i++) cluster.fork();
  cluster.on("exit", (worker, code) => {
    console.error(`postgraphile worker ${worker.process.pid} exited (${code})`);
    process.exit(1);
  });
} else {
  const preset = {
    extends: [PostGraphileAmberPreset],
    pgServices: [
      makePgService({ connectionString, schemas: schemas.split(","), poolConfig: { max: 10 } }),
    ],
    grafserv: { port: Number(port), graphiqlOnGraphQLGET: false },
    grafast: { explain: false },
  };
  const pgl = postgraphile(preset);
  const serv = pgl.createServ(grafserv);
  const server = createServer();
  server.keepAliveTimeout = 5000;
  server.on("error", (e) => {
    console.error(e);
    process.exit(1);
  });
  serv.addTo(server).then(() => {
    server.listen(Number(port), "127.0.0.1", () => console.error(`postgraphile on ${port}`));
  });
}
