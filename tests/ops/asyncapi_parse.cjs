// Parse an AsyncAPI document with the official parser (@asyncapi/parser, installed by
// labelops_cli.stack.tools into the cache; NODE_PATH points at it) and print the outcome as
// JSON: {"parsed", "version", "channels", "errors": [...], "warnings": n}.
const { Parser, fromFile } = require('@asyncapi/parser');

(async () => {
  const parser = new Parser();
  const { document, diagnostics } = await fromFile(parser, process.argv[2]).parse();
  const errors = diagnostics
    .filter((d) => d.severity === 0)
    .map((d) => ({ code: d.code, message: d.message, path: d.path.join('/') }));
  console.log(JSON.stringify({
    parsed: Boolean(document),
    version: document ? document.version() : null,
    channels: document ? document.channels().length : 0,
    errors,
    warnings: diagnostics.filter((d) => d.severity === 1).length,
  }));
})().catch((err) => {
  console.log(JSON.stringify({ parsed: false, errors: [{ message: String(err) }] }));
});
