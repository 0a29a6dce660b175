'use strict';
// Tasks for manager.run() in `make bench`: timings taken on the pool's host thread.
const demo = require('../build/pkg/wbg_demo.js');

// µs per call of shout(text) made on the host itself: what a proxied call costs
// beyond its round trip (shout runs in the Rayon pool: a pool thread wakes for it).
exports.shoutPerCall = (text, calls) => {
  for (let i = 0; i < calls; i++) demo.shout(text);
  const started = performance.now();
  for (let i = 0; i < calls; i++) demo.shout(text);
  return ((performance.now() - started) * 1000) / calls;
};
