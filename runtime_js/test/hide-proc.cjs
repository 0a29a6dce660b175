'use strict';
// Preloaded (node --require) into a child process and, through execArgv, into
// its workers: hides /proc/thread-self, as on a system without /proc.
const fs = require('fs');
const readlinkSync = fs.readlinkSync;
fs.readlinkSync = (p, ...rest) => {
  if (String(p) === '/proc/thread-self') throw Object.assign(new Error('ENOENT (hidden by the test)'), { code: 'ENOENT' });
  return readlinkSync(p, ...rest);
};
