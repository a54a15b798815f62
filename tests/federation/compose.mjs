// Composes subgraph SDLs into a supergraph with @apollo/composition (what Rover and the
// gateway use), so tests/test_federation.py can check that our subgraph composes.
//
// stdin:  JSON list of {"name": string, "sdl": string, "url"?: string}
// stdout: JSON {"ok": bool, "errors": [{"message", "code"?, "locations"?}], "hints": [...],
//               "supergraphSdl"?: string}
//
// Composition errors are reported in the JSON with exit code 0, so the caller can show them;
// a non-zero exit means the input itself could not be read (bad JSON, unparsable SDL, ...).

import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function describeError(error) {
  return {
    message: error.message,
    code: error.extensions?.code ?? null,
    locations: error.locations ?? null,
  };
}

function fail(message) {
  process.stdout.write(JSON.stringify({ ok: false, errors: [{ message, code: "INPUT" }] }) + "\n");
  process.exit(2);
}

const raw = await readStdin();
let input;
try {
  input = JSON.parse(raw);
} catch (error) {
  fail(`stdin is not JSON: ${error.message}`);
}
if (!Array.isArray(input) || input.length === 0) {
  fail("stdin must be a non-empty JSON list of {name, sdl}");
}

const services = [];
for (const [index, item] of input.entries()) {
  if (typeof item?.name !== "string" || typeof item?.sdl !== "string") {
    fail(`item ${index} needs string "name" and "sdl"`);
  }
  let typeDefs;
  try {
    typeDefs = parse(item.sdl);
  } catch (error) {
    fail(`subgraph ${item.name}: SDL does not parse: ${error.message}`);
  }
  services.push({ name: item.name, url: item.url ?? `http://${item.name}.invalid/graphql`, typeDefs });
}

const result = composeServices(services);
const output = result.errors
  ? { ok: false, errors: result.errors.map(describeError) }
  : {
      ok: true,
      errors: [],
      hints: (result.hints ?? []).map((hint) => ({
        message: hint.message,
        code: hint.definition?.code ?? null,
      })),
      supergraphSdl: result.supergraphSdl,
    };
process.stdout.write(JSON.stringify(output) + "\n");
