'use strict';
// Grows a wasm file's name section to a large SDK's size, its code unchanged:
// `count` more function names after the module's own. V8 decodes the whole
// section at the first name it looks up (the first wasm stack the process
// formats), so this is what a crate with megabytes of names pays once.
const fs = require('fs');

// The unsigned LEB128 at `at` in `bytes`: [value, offset after it].
function readLeb(bytes, at) {
  let value = 0;
  let shift = 0;
  let byte;
  do {
    byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, at];
}

function leb(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return Buffer.from(out);
}

const withSize = (id, body) => Buffer.concat([Buffer.from([id]), leb(body.length), body]);

// The function-name subsection `body` (count, then index + name pairs in index order) with `count` more.
function moreNames(body, count) {
  let [names, at] = readLeb(body, 0);
  const entries = [];
  let last = 0;
  for (let i = 0; i < names; i++) {
    const start = at;
    [last, at] = readLeb(body, at);
    const [length, text] = readLeb(body, at);
    at = text + length;
    entries.push(body.subarray(start, at));
  }
  for (let i = 1; i <= count; i++) {
    const name = Buffer.from(`_ZN8big_sdk_6module9submodule${i}23function_with_a_long_name17h0123456789abcdefE`);
    entries.push(leb(last + i), leb(name.length), name);
  }
  return Buffer.concat([leb(names + count), ...entries]);
}

// Rewrites `file` with `count` more function names; returns the name section's size in MB.
function growNames(file, count) {
  const bytes = fs.readFileSync(file);
  const parts = [bytes.subarray(0, 8)]; // magic and version
  let grown = null;
  for (let at = 8; at < bytes.length; ) {
    const id = bytes[at];
    const [size, body] = readLeb(bytes, at + 1);
    const end = body + size;
    const [nameLength, nameAt] = id === 0 ? readLeb(bytes, body) : [0, body];
    if (id === 0 && bytes.toString('utf8', nameAt, nameAt + nameLength) === 'name') {
      const subsections = [bytes.subarray(body, nameAt + nameLength)];
      for (let sub = nameAt + nameLength; sub < end; ) {
        const [subSize, subBody] = readLeb(bytes, sub + 1);
        const content = bytes.subarray(subBody, subBody + subSize);
        subsections.push(bytes[sub] === 1 ? withSize(1, moreNames(content, count)) : bytes.subarray(sub, subBody + subSize));
        sub = subBody + subSize;
      }
      grown = Buffer.concat(subsections);
      parts.push(withSize(0, grown));
    } else {
      parts.push(bytes.subarray(at, end));
    }
    at = end;
  }
  if (grown === null) throw new Error(`${file} has no name section to grow`);
  fs.writeFileSync(file, Buffer.concat(parts));
  return grown.length / 2 ** 20;
}

module.exports = { growNames };
