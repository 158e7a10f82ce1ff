// Parse an AsyncAPI document with the AsyncAPI project's parser (and its Avro schema parser, so
// that each referenced .avsc is read as Avro), and print, as JSON, its diagnostics and what it
// read: each channel's address, Kafka binding and messages (with their payload's fields), each
// operation's action and channel. Relative $refs resolve from the file's own directory.
//
//     node tests/checks/js/asyncapi-parse.mjs docs/asyncapi.yaml
import { Parser, fromFile } from '@asyncapi/parser';
import { AvroSchemaParser } from '@asyncapi/avro-schema-parser';

const SEVERITY = ['error', 'warning', 'information', 'hint'];

function message(msg) {
  const payload = msg.payload();
  const kafka = msg.bindings().get('kafka');
  return {
    name: msg.name(),
    schemaFormat: msg.schemaFormat(),
    fields: payload ? Object.keys(payload.properties() ?? {}) : [],
    key: kafka ? kafka.value().key ?? null : null,
  };
}

function channel(ch) {
  const kafka = ch.bindings().get('kafka');
  return {
    address: ch.address(),
    kafka: kafka ? kafka.value() : null,
    messages: Object.fromEntries(ch.messages().all().map((m) => [m.id(), message(m)])),
  };
}

function operation(op) {
  return {
    action: op.action(),
    channels: op.channels().all().map((ch) => ch.address()),
    messages: op.messages().all().map((m) => m.name()),
  };
}

const parser = new Parser();
parser.registerSchemaParser(AvroSchemaParser());
const { document, diagnostics } = await fromFile(parser, process.argv[2]).parse();
const report = {
  parser: (await import('@asyncapi/parser/package.json', { with: { type: 'json' } })).default
    .version,
  diagnostics: diagnostics.map((d) => ({
    severity: SEVERITY[d.severity], code: d.code, path: d.path.join('/'), message: d.message,
  })),
  parsed: document !== undefined,
};
if (document) {
  report.version = document.version();
  report.channels = Object.fromEntries(document.channels().all().map((c) => [c.id(), channel(c)]));
  report.operations = Object.fromEntries(
    document.operations().all().map((o) => [o.id(), operation(o)]));
}
process.stdout.write(JSON.stringify(report));
