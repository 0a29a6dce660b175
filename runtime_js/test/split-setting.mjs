// WBG_SPLIT_CALLS=off: every ThreadPoolManager a test makes proxies every call
// to the pool's host (splitCalls: false), so that the behaviour suites check
// both ways (Makefile, test-js); a test's own splitCalls wins.
export const SPLIT_CALLS = process.env.WBG_SPLIT_CALLS !== 'off';

export function withSplitSetting(runtime) {
  if (SPLIT_CALLS) return runtime;
  class ThreadPoolManager extends runtime.ThreadPoolManager {
    // Bad options stay as they are: the tests of their errors see what they gave.
    constructor(options = {}) {
      super(options !== null && typeof options === 'object' ? { splitCalls: false, ...options } : options);
    }
  }
  return { ...runtime, ThreadPoolManager };
}
