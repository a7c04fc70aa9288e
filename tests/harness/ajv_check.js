// Validates messages with ajv (JSON Schema 2020-12, strict mode, ajv-formats), the validator a JavaScript
// integrator would use. argv: the schema files to compile; stdin: JSON lines {"schema": <file name>,
// "payload": <text>}; stdout: one JSON line per input, {"valid": bool, "errors": [...]}.
// A schema strict mode refuses makes the script fail before reading any input.
"use strict";
const fs = require("fs");
const path = require("path");
const readline = require("readline");
const Ajv2020 = require("ajv/dist/2020").default;
const addFormats = require("ajv-formats").default;

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const validators = {};
for (const file of process.argv.slice(2)) {
  validators[path.basename(file)] = ajv.compile(JSON.parse(fs.readFileSync(file, "utf8")));
}
process.stdout.write(JSON.stringify({ compiled: Object.keys(validators).sort() }) + "\n");

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const { schema, payload } = JSON.parse(line);
  let valid = false;
  let errors = [];
  try {
    const validate = validators[schema];
    valid = validate(JSON.parse(payload));
    errors = validate.errors || [];
  } catch (exc) {
    errors = [{ message: String(exc) }];
  }
  process.stdout.write(JSON.stringify({ valid, errors }) + "\n");
});
