// conformance.mjs — assetd's GraphQL endpoint against graphql-js, the
// reference implementation (npm package `graphql`, pinned in
// package-lock.json).
//
//   node conformance.mjs --url http://127.0.0.1:PORT [--write-schema]
//
// 1. Schema: assetd's answer to the full introspection query (every option
//    on) must build a client schema with buildClientSchema, that schema
//    must pass assertValidSchema, printSchema of it must equal the
//    checked-in schema.graphql (--write-schema rewrites the file instead),
//    and graphql-js's own introspection of the client schema must equal
//    assetd's, type by type and directive by directive — so the
//    introspection types themselves (__Type, __Field, ...) are exactly
//    graphql-js's.
// 2. Corpus: every document in corpus/{valid,invalid,extension}/ is
//    validated by graphql-js against that schema and sent to assetd; both
//    must agree on valid/invalid, and agree with the directory it is in.
//    assetd calls a document invalid when it answers without "data" and
//    with extensions.code GRAPHQL_PARSE_FAILED or GRAPHQL_VALIDATION_FAILED.
//    A valid document must also execute: assetd's answer has "data" (a
//    NAME.json beside it may give "variables" and "operationName").
//    corpus/extension/ holds the documents of assetd's quoted-keys
//    extension: graphql-js must reject them (a syntax error), assetd must
//    run them.
//
//    graphql-js runs its specifiedRules plus one rule it lacks in v16:
//    an operation's root type must exist in the schema. graphql-js 16 finds
//    that only when executing ("Schema is not configured to execute
//    mutation operation."); assetd, which is read-only, refuses mutations
//    and subscriptions while validating, so the harness asks graphql-js the
//    same question at the same stage.
//
// Exit status 0 when everything agrees; 1 otherwise, with every
// disagreement listed. The last line reads "N passed, N failed".

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  GraphQLError,
  assertValidSchema,
  buildClientSchema,
  getIntrospectionQuery,
  introspectionFromSchema,
  parse,
  printSchema,
  specifiedRules,
  validate,
} from 'graphql';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCHEMA_FILE = path.join(HERE, 'schema.graphql');
const CORPUS = path.join(HERE, 'corpus');
const KINDS = ['valid', 'invalid', 'extension'];
const INTROSPECTION_OPTIONS = {
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
  experimentalDirectiveDeprecation: true,
};

function args() {
  const a = process.argv.slice(2);
  const url = a[a.indexOf('--url') + 1];
  if (!a.includes('--url') || !url) {
    console.error('usage: node conformance.mjs --url http://127.0.0.1:PORT [--write-schema]');
    process.exit(2);
  }
  return { url: url.replace(/\/$/, ''), writeSchema: a.includes('--write-schema') };
}

async function post(url, body) {
  const r = await fetch(url + '/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  try {
    return { status: r.status, json: JSON.parse(text) };
  } catch {
    return { status: r.status, json: null, text };
  }
}

// The rule graphql-js 16 runs only at execution time (see above).
function OperationTypeExistsRule(context) {
  return {
    OperationDefinition(node) {
      if (!context.getSchema().getRootType(node.operation)) {
        context.reportError(
          new GraphQLError(`Schema is not configured to execute ${node.operation} operation.`, {
            nodes: node,
          }),
        );
      }
    },
  };
}

const results = { passed: 0, failed: 0, problems: [] };

function check(ok, what) {
  if (ok) results.passed++;
  else {
    results.failed++;
    results.problems.push(what);
  }
  return ok;
}

// ---- 1. the schema ----------------------------------------------------------------------

function byName(list) {
  return Object.fromEntries(list.map((x) => [x.name, x]));
}

function sameIntrospection(ours, theirs) {
  const a = byName(ours.__schema.types);
  const b = byName(theirs.__schema.types);
  for (const name of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = JSON.stringify(a[name]);
    const y = JSON.stringify(b[name]);
    check(x === y, `introspection of type ${name} differs from graphql-js's:\n  assetd:     ${x}\n  graphql-js: ${y}`);
  }
  const da = byName(ours.__schema.directives);
  const db = byName(theirs.__schema.directives);
  for (const name of new Set([...Object.keys(da), ...Object.keys(db)])) {
    const x = JSON.stringify(da[name]);
    const y = JSON.stringify(db[name]);
    check(x === y, `introspection of directive @${name} differs from graphql-js's:\n  assetd:     ${x}\n  graphql-js: ${y}`);
  }
  for (const k of ['queryType', 'mutationType', 'subscriptionType', 'description']) {
    const x = JSON.stringify(ours.__schema[k]);
    const y = JSON.stringify(theirs.__schema[k]);
    check(x === y, `__schema.${k} differs: assetd ${x}, graphql-js ${y}`);
  }
}

async function checkSchema(url, writeSchema) {
  const r = await post(url, { query: getIntrospectionQuery(INTROSPECTION_OPTIONS) });
  if (!check(r.status === 200 && r.json && r.json.data && !r.json.errors,
             `introspection query failed: ${r.status} ${JSON.stringify(r.json ?? r.text).slice(0, 500)}`))
    return null;
  let schema;
  try {
    schema = buildClientSchema(r.json.data);
    assertValidSchema(schema);
    check(true, '');
  } catch (e) {
    check(false, `buildClientSchema/assertValidSchema rejected assetd's introspection: ${e.message}`);
    return null;
  }
  const printed = printSchema(schema) + '\n';
  if (writeSchema) {
    fs.writeFileSync(SCHEMA_FILE, printed);
    console.log(`wrote ${SCHEMA_FILE}`);
  } else {
    const want = fs.existsSync(SCHEMA_FILE) ? fs.readFileSync(SCHEMA_FILE, 'utf8') : '';
    check(printed === want,
          `printSchema(buildClientSchema(introspection)) differs from schema.graphql; got:\n${printed}`);
  }
  sameIntrospection(r.json.data, introspectionFromSchema(schema, INTROSPECTION_OPTIONS));
  return schema;
}

// ---- 2. the corpus -------------------------------------------------------------------------

function graphqlJsVerdict(schema, source) {
  let doc;
  try {
    doc = parse(source);
  } catch (e) {
    return { valid: false, why: e.message };
  }
  const errors = validate(schema, doc, [...specifiedRules, OperationTypeExistsRule]);
  return { valid: errors.length === 0, why: errors.map((e) => e.message).join(' | ') };
}

const REJECTING_CODES = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED']);

async function assetdVerdict(url, source, extra) {
  const r = await post(url, { query: source, ...extra });
  const body = r.json;
  if (!body || typeof body !== 'object') return { valid: null, why: `not JSON: ${r.text}`, r };
  const codes = (body.errors ?? []).map((e) => e.extensions?.code);
  const rejected = !('data' in body) && codes.some((c) => REJECTING_CODES.has(c));
  const why = (body.errors ?? []).map((e) => e.message).join(' | ');
  return { valid: !rejected, executed: 'data' in body, why, r };
}

function corpus() {
  const docs = [];
  for (const kind of KINDS) {
    const dir = path.join(CORPUS, kind);
    for (const f of fs.readdirSync(dir).sort()) {
      if (!f.endsWith('.graphql')) continue;
      const sidecar = path.join(dir, f.replace(/\.graphql$/, '.json'));
      docs.push({
        kind,
        name: `${kind}/${f}`,
        source: fs.readFileSync(path.join(dir, f), 'utf8'),
        extra: fs.existsSync(sidecar) ? JSON.parse(fs.readFileSync(sidecar, 'utf8')) : {},
      });
    }
  }
  return docs;
}

async function checkCorpus(url, schema) {
  const counts = { valid: 0, invalid: 0, extension: 0, agree: 0, disagree: 0 };
  for (const d of corpus()) {
    counts[d.kind]++;
    const js = graphqlJsVerdict(schema, d.source);
    const ad = await assetdVerdict(url, d.source, d.extra);
    const wantJs = d.kind === 'valid';
    const wantAd = d.kind !== 'invalid';
    const agree = d.kind === 'extension' ? !js.valid && ad.valid : js.valid === ad.valid;
    counts[agree ? 'agree' : 'disagree']++;
    check(agree && js.valid === wantJs && ad.valid === wantAd,
          `${d.name}: graphql-js says ${js.valid ? 'valid' : 'invalid'}${js.why ? ` (${js.why})` : ''}; ` +
          `assetd says ${ad.valid ? 'valid' : 'invalid'}${ad.why ? ` (${ad.why})` : ''}; expected ${d.kind}`);
    if (wantAd && ad.valid)
      check(ad.executed, `${d.name}: valid but not executed: ${JSON.stringify(ad.r.json).slice(0, 400)}`);
  }
  return counts;
}

// ---- main ------------------------------------------------------------------------------------

const { url, writeSchema } = args();
const schema = await checkSchema(url, writeSchema);
let counts = null;
if (schema) counts = await checkCorpus(url, schema);
for (const p of results.problems) console.log(`FAIL: ${p}`);
if (counts)
  console.log(
    `corpus: ${counts.valid} valid, ${counts.invalid} invalid, ${counts.extension} extension documents; ` +
      `graphql-js and assetd agree on ${counts.agree}, disagree on ${counts.disagree}`,
  );
console.log(`conformance: ${results.passed} passed, ${results.failed} failed`);
process.exit(results.failed ? 1 : 0);
