'use strict';
// V8's verdict on the files a patch is about to write (wbg_patch/v8check.py runs it, once per
// patch run, with --experimental-vm-modules). Reads on stdin a JSON array of
// { name, kind: 'commonjs' | 'module' | 'wasm', source } (a wasm module's bytes in base64, with
// `original`, the module as it is: when this Node's V8 refuses that too, its features are
// newer than this Node, and the check of what the patch made says nothing) and
// writes on stdout a JSON array of { name, line, column, message } for every file V8 refuses to
// compile. Compiling runs none of the code: only what V8 refuses at load (early errors) shows,
// which is what tree-sitter misses, and a module that does not validate.

const vm = require('node:vm');
const { spawnSync } = require('node:child_process');

// The parameters Node's CommonJS loader compiles a file with: a top-level `return` is valid
// there, `import` and a top-level `await` are not.
const COMMONJS_PARAMETERS = ['exports', 'require', 'module', '__filename', '__dirname'];

function compile({ name, kind, source, original }) {
  if (kind === 'wasm') {
    const bytes = Buffer.from(source, 'base64');
    // Validating is fast; only a module that fails it is compiled, for V8's reason.
    if (!WebAssembly.validate(bytes) && WebAssembly.validate(Buffer.from(original, 'base64'))) new WebAssembly.Module(bytes);
  } else if (kind === 'module') new vm.SourceTextModule(source, { identifier: name });
  else vm.compileFunction(source, COMMONJS_PARAMETERS, { filename: name });
}

// A module's SyntaxError carries no position (Node 20-24), while `node --check` prints V8's
// arrow: `[stdin]:<line>`, the source line, carets under the column. Read it there, for a
// refused file only, so a clean run stays one process.
function position({ kind, source }) {
  const check = spawnSync(process.execPath, ['--check', `--input-type=${kind}`], { input: source, encoding: 'utf8' });
  const arrow = /^\[stdin\]:(\d+)\n.*\n([ \t]*)\^/m.exec(check.stderr);
  return arrow ? { line: Number(arrow[1]), column: arrow[2].length + 1 } : { line: null, column: null };
}

function refusals(files) {
  const refused = [];
  for (const file of files) {
    try {
      compile(file);
    } catch (error) {
      if (error instanceof WebAssembly.CompileError) {
        refused.push({ name: file.name, line: null, column: null, message: `${error.name}: ${error.message}` });
        continue;
      }
      if (!(error instanceof SyntaxError)) throw error;
      refused.push({ name: file.name, ...position(file), message: `${error.name}: ${error.message}` });
    }
  }
  return refused;
}

const chunks = [];
process.stdin.on('data', (chunk) => chunks.push(chunk));
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(refusals(JSON.parse(Buffer.concat(chunks).toString('utf8')))));
});
