// What a scenario answers of an error, for the test to compare: its class and
// the fields the runtime gives it. Shared by the scenarios and the Vite app
// (vite.test.mjs copies this file into it).
export function describe(error) {
  const { name, code, message, panicMessage, threadIndex, location, kind } = error;
  return { name, code, message, panicMessage, threadIndex, ...location, kind };
}

// What `promise` rejected with, described; null if it resolved.
export async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return describe(error);
  }
  return null;
}
